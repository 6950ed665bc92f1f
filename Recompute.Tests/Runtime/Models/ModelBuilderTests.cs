using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Models;
using Recompute.Tests.Runtime.Execution;

namespace Recompute.Tests.Runtime.Models;

/// <summary>
/// The model-level builder: every layer's shape, bytes, parameters and FLOPs computed by hand (the cost model's
/// formulas: Gemm/MatMul 2·M·N·K plus the bias, Conv 2·out·Cin·kh·kw plus the bias, normalisations 5·elements,
/// Softmax 3·elements, the loss 4·scores, everything else one per output element), the graph it builds trained
/// by a plan, and its gradients against finite differences.
/// </summary>
public class ModelBuilderTests
{
    private static LayerSummary Last(ModelBuilder m) => m.Layers[^1];

    private static void AssertLayer(LayerSummary layer, long[] shape, long parameters, long activationBytes, double flops)
    {
        Assert.Equal(shape, layer.OutputShape);
        Assert.Equal(parameters, layer.Parameters);
        Assert.Equal(parameters * 4, layer.ParameterBytes);
        Assert.Equal(activationBytes, layer.ActivationBytes);
        Assert.Equal(flops, layer.ForwardFlops);
    }

    [Fact]
    public void Linear_OfRankTwoIsOneGemm_OfRankThreeAMatMulAndABias()
    {
        var m = new ModelBuilder("linear");
        var y = m.Linear(m.Input("x", 4, 8), 16);
        // [4,8]·[8,16] + [16]: 2·4·16·8 + 4·16 = 1088 FLOPs; 8·16 + 16 = 144 parameters; the output 64 floats.
        AssertLayer(Last(m), [4, 16], 144, 256, 1088);
        Assert.Equal(256, y.Bytes);
        m.Linear(m.Input("s", 2, 3, 8), 16, name: "seq");
        // MatMul 2·(2·3·16)·8 = 1536 and the bias Add 96: two [2,3,16] outputs of 384 bytes.
        AssertLayer(Last(m), [2, 3, 16], 144, 768, 1632);
        m.Linear(m.Input("n", 4, 8), 3, bias: false);
        AssertLayer(Last(m), [4, 3], 24, 48, 2 * 4 * 3 * 8);
        Assert.Equal(["linear0", "seq", "linear1"], m.Layers.Select(l => l.Name));
    }

    [Fact]
    public void Conv2d_BatchNorm_Relu_Pooling()
    {
        var m = new ModelBuilder("cnn");
        var x = m.Conv2d(m.Input("x", 2, 3, 8, 8), 4, kernel: 3, stride: 2, padding: 1);
        // Output (8 + 2 − 3)/2 + 1 = 4: [2,4,4,4] = 128 elements; 2·128·3·3·3 + 128 = 7040; 4·3·3·3 + 4 = 112 parameters.
        AssertLayer(Last(m), [2, 4, 4, 4], 112, 512, 7040);
        x = m.BatchNorm(x);
        // 5·128 for Y, the two running statistics 4 each; scale, shift, running mean and variance: 16 parameters.
        AssertLayer(Last(m), [2, 4, 4, 4], 16, 512 + 16 + 16, 648);
        x = m.Relu(x);
        AssertLayer(Last(m), [2, 4, 4, 4], 0, 512, 128);
        var p = m.MaxPool(x, 2);
        // 2×2 windows: 32 outputs × 4.
        AssertLayer(Last(m), [2, 4, 2, 2], 0, 128, 128);
        m.GlobalAveragePool(x);
        // GlobalAveragePool reads 128 elements into [2,4,1,1]; the Flatten to [2,4] is 8 more.
        AssertLayer(Last(m), [2, 4], 0, 32 + 32, 136);
        Assert.Equal([2L, 4, 2, 2], p.Shape);
    }

    [Fact]
    public void Gelu_AndLayerNorm_InTheirDecomposedForms()
    {
        var m = new ModelBuilder("norms");
        m.Gelu(m.Input("x", 4, 16));
        // Div, Erf, Add, Mul, Mul: five outputs of 64 elements, one FLOP each per element.
        AssertLayer(Last(m), [4, 16], 0, 5 * 256, 5 * 64);
        m.LayerNorm(m.Input("s", 2, 3, 8));
        // 48 elements in 6 rows: ReduceMean 48, Sub 48, Pow 48, ReduceMean 48, Add 6, Sqrt 6, Div 48, Mul 48, Add 48 = 348;
        // five 48-element outputs and four 6-element ones: 264 floats; the scale and shift: 16 parameters.
        AssertLayer(Last(m), [2, 3, 8], 16, 264 * 4, 348);
    }

    [Fact]
    public void Attention_CountsItsProjectionsScoresAndCausalMask()
    {
        var m = new ModelBuilder("attention");
        m.Attention(m.Input("x", 2, 4, 8), heads: 2, causal: true);
        // B=2, T=4, C=8, 2 heads of d=4. Each of Q, K, V: MatMul 2·(2·4·8)·8 = 1024, bias 64, Reshape 64, Transpose 64 = 1216.
        // Scores [2,2,4,4] (64): MatMul 2·64·4 = 512, Div 64, Where 64, Softmax 3·64 = 192; context [2,2,4,4] MatMul 2·64·4 = 512,
        // Transpose 64, Reshape 64; output projection 2·64·8 = 1024 and bias 64. The causal mask: Trilu 16, Cast 16.
        double flops = 3 * 1216 + 512 + 64 + 64 + 192 + 512 + 64 + 64 + 1024 + 64 + 32;
        // Floats: 3·4 projection tensors of 64 and 9 of 64 after them; the mask: 16 floats and 16 bools.
        long bytes = (12 + 9) * 64 * 4 + 16 * 4 + 16;
        AssertLayer(Last(m), [2, 4, 8], 4 * (8 * 8 + 8), bytes, flops);
        Assert.Equal(6240, flops);
        // A second causal layer over the same length reuses the mask.
        m.Attention(m.Input("y", 2, 4, 8), heads: 2, causal: true);
        Assert.Equal(flops - 32, Last(m).ForwardFlops);
        // One head of d=8, no mask: scores [2,1,4,4] (32): MatMul 2·32·8 = 512, Div 32, Softmax 96; context [2,1,4,8]: 2·64·4 = 512.
        m.Attention(m.Input("z", 2, 4, 8), heads: 1);
        Assert.Equal(3 * 1216 + 512 + 32 + 96 + 512 + 64 + 64 + 1024 + 64, Last(m).ForwardFlops);
    }

    [Fact]
    public void Embedding_AndTheLosses()
    {
        var m = new ModelBuilder("losses");
        var e = m.Embedding(m.Labels("tokens", 2, 4), 10, 8);
        AssertLayer(Last(m), [2, 4, 8], 80, 256, 64);
        m.CrossEntropy(m.Linear(e, 10, name: "head"), m.Labels("target", 2, 4));
        // Logits [2,4,10] → [8,10] (80), labels [2,4] → [8] (8, int64), the loss 4·80 = 320 and its 4 bytes.
        AssertLayer(Last(m), [], 0, 320 + 64 + 4, 408);
        var graph = m.Build();
        Assert.Equal(NodeKind.Loss, graph.Find("loss").Kind);
        // The layers' FLOPs are the graph's times, node for node.
        Assert.Equal(graph.Nodes.Sum(n => n.Time), m.Layers.Sum(l => l.ForwardFlops));
        Assert.Equal("flop", graph.TimeUnit);

        var r = new ModelBuilder("mse");
        r.MseLoss(r.Input("p", 4, 3), r.Input("t", 4, 3));
        // Sub 12, Pow 12, ReduceMean 12 into a scalar.
        AssertLayer(Last(r), [], 0, 48 + 48 + 4, 36);
        Assert.Empty(r.Build().Find("loss").Shape);
    }

    [Fact]
    public void Mistakes_NameTheLayer()
    {
        var m = new ModelBuilder("bad");
        var x = m.Input("x", 4, 8);
        var e = Assert.Throws<ArgumentException>(() => m.Add(x, m.Input("y", 4, 3)));
        Assert.StartsWith("layer 'add0' (Add): ", e.Message);
        e = Assert.Throws<ArgumentException>(() => m.Attention(m.Input("s", 2, 4, 8), heads: 3));
        Assert.Contains("width 8 is not a multiple of 3 heads", e.Message);
        Assert.Throws<ArgumentException>(() => m.CrossEntropy(m.Linear(x, 5), m.Input("float_labels", 4)));
        Assert.Throws<ArgumentException>(() => m.Linear(new ModelBuilder("other").Input("x", 4, 8), 2));
        Assert.Throws<ArgumentException>(() => m.Relu(x, name: "x"));
        Assert.Contains("has no loss", Assert.Throws<InvalidOperationException>(() => m.Build()).Message);
        m.MseLoss(x, m.Input("t", 4, 8));
        Assert.Throws<InvalidOperationException>(() => m.MseLoss(x, m.Input("t2", 4, 8)));
    }

    /// <summary>A two-block causal transformer over token ids: embedding, pre-norm attention and GELU MLP blocks, a head.</summary>
    internal static ComputationGraph Transformer(int blocks = 2, long batch = 2, long tokens = 8, long width = 16, int heads = 2,
        long vocabulary = 12)
    {
        var m = new ModelBuilder("transformer");
        var ids = m.Labels("tokens", batch, tokens);
        var x = m.Embedding(ids, vocabulary, width);
        for (int i = 0; i < blocks; i++)
        {
            x = m.Add(x, m.Attention(m.LayerNorm(x), heads, causal: true));
            x = m.Add(x, m.Linear(m.Gelu(m.Linear(m.LayerNorm(x), 4 * width)), width));
        }
        m.CrossEntropy(m.Linear(m.LayerNorm(x), vocabulary, name: "head"), m.Labels("target", batch, tokens));
        return m.Build();
    }

    /// <summary>Conv, BatchNorm, ReLU, max-pool, global pooling and a Linear head, regressed with MSE.</summary>
    internal static ComputationGraph ConvNet()
    {
        var m = new ModelBuilder("convnet");
        var x = m.Relu(m.BatchNorm(m.Conv2d(m.Input("image", 2, 3, 8, 8), 4, kernel: 3, padding: 1)));
        x = m.Relu(m.BatchNorm(m.Conv2d(m.MaxPool(x, 2), 6, kernel: 3, stride: 2, padding: 1)));
        m.MseLoss(m.Linear(m.GlobalAveragePool(x), 3), m.Input("target", 2, 3));
        return m.Build();
    }

    [Fact]
    public void ABuilderTransformer_TrainsByAPlanAtHalfTheStoreAllPeak_MeasuredEqualsPredicted()
    {
        var graph = Transformer();
        var session = TrainingSession.Create(graph, new TrainingOptions { BudgetFraction = 0.5, Optimizer = new Adam(1e-2), Seed = 3,
            Solver = "dp-approx" });
        Assert.True(session.Simulation.PeakBytes <= session.Plan!.BudgetBytes);
        Assert.Contains(session.Schedule.Steps, s => s.Kind == Recompute.Planner.Scheduling.StepKind.Recompute);
        var losses = new List<float>();
        foreach (var r in session.Train(8))
        {
            Assert.Equal(r.PredictedPeakBytes, r.MeasuredPeakBytes);
            losses.Add(r.Loss);
        }
        // A fixed synthetic batch: the loss must fall well below its start (ln 12 ≈ 2.5 at random).
        Assert.True(losses[^1] < 0.7 * losses[0], string.Join(", ", losses));
    }

    [Fact]
    public void ABuilderTransformer_GradientsMatchFiniteDifferences()
    {
        int probes = GraphGradientCheck.Check(Transformer(blocks: 1, tokens: 4, width: 8, vocabulary: 6), perTensor: 4, eps: 1e-2f,
            absolute: 1e-3, relative: 1e-2);
        Assert.True(probes >= 60, $"{probes} probes");
    }

    [Fact]
    public void ABuilderConvNet_GradientsMatchFiniteDifferences()
    {
        int probes = GraphGradientCheck.Check(ConvNet(), perTensor: 6, eps: 1e-3f, absolute: 1e-3, relative: 1e-2);
        Assert.True(probes >= 40, $"{probes} probes");
    }
}
