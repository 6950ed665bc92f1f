using Recompute.Planner.Graph;

namespace Recompute.Tests.Reporting;

/// <summary>Small graphs shaped like real networks, with PyTorch-style module paths in tensor names.</summary>
public static class ReportGraphs
{
    /// <summary>
    /// A small residual network: a stem convolution, then <paramref name="layers"/> × 2 residual blocks
    /// (conv → relu → conv → add(skip) → relu), global pooling and a loss. Activation bytes scale with
    /// <paramref name="batch"/> (one image is 256 KiB per feature map); parameters do not.
    /// </summary>
    public static ComputationGraph ResidualNet(int batch = 1, int layers = 3)
    {
        const long map = 256 * 1024;
        var b = new GraphBuilder($"resnet-tiny-b{batch}", "paper");
        int x = b.Input("input", map * batch);
        int w0 = b.Parameter("stem.weight", 36 * 1024);
        int prev = b.Activation("/stem/conv/Conv_output_0", "Conv", [x, w0], map * batch, 10);
        prev = b.Activation("/stem/relu/Relu_output_0", "Relu", [prev], map * batch, 1, backwardNeeds: [0]);
        for (int l = 1; l <= layers; l++)
            for (int k = 0; k < 2; k++)
            {
                string m = $"/layer{l}/layer{l}.{k}";
                int wa = b.Parameter($"layer{l}.{k}.conv1.weight", 36 * 1024);
                int wb = b.Parameter($"layer{l}.{k}.conv2.weight", 36 * 1024);
                int c1 = b.Activation($"{m}/conv1/Conv_output_0", "Conv", [prev, wa], map * batch, 10);
                int r1 = b.Activation($"{m}/relu/Relu_output_0", "Relu", [c1], map * batch, 1, backwardNeeds: [0]);
                int c2 = b.Activation($"{m}/conv2/Conv_output_0", "Conv", [r1, wb], map * batch, 10);
                int add = b.Activation($"{m}/Add_output_0", "Add", [c2, prev], map * batch, 1, backwardNeeds: []);
                prev = b.Activation($"{m}/relu_1/Relu_output_0", "Relu", [add], map * batch, 1, backwardNeeds: [0]);
            }
        int pool = b.Activation("/avgpool/GlobalAveragePool_output_0", "GlobalAveragePool", [prev], 4096L * batch, 1, backwardNeeds: []);
        b.Loss("loss", "ReduceMean", [pool], 4, 1, backwardNeeds: []);
        return b.Build();
    }

    /// <summary>
    /// x → a1 → … → a8 → loss, every tensor 10·batch bytes, unit times, no parameters. The store-all peak is
    /// 100·batch bytes (see CanonicalDpTests.Chain_HandComputedBudget: a1..a8, grad(loss) and grad(a8) live at once).
    /// </summary>
    public static ComputationGraph Chain(int batch)
    {
        var g = new GraphBuilder($"chain-b{batch}", "paper");
        int prev = g.Input("x", 10L * batch);
        for (int i = 1; i <= 8; i++) prev = g.Activation($"a{i}", "Op", [prev], 10L * batch, 1);
        g.Loss("loss", "Loss", [prev], 10L * batch, 1);
        return g.Build();
    }
}
