namespace Recompute.Planner.Costs;

/// <summary>
/// The forward cost of one tensor, in floating-point operations ("flop"), from the shapes of the producing
/// operation. The formula (also in the README):
/// <list type="bullet">
/// <item>Conv: 2 · N · C_out · Π(output spatial) · (C_in / group) · Π(kernel), plus N · C_out · Π(output spatial) for a bias.</item>
/// <item>ConvTranspose: 2 · N · C_in · Π(input spatial) · (C_out / group) · Π(kernel), plus the output elements for a bias.</item>
/// <item>MatMul: 2 · Π(batch dims) · M · N · K. Gemm: 2 · M · N · K, plus M · N for C.</item>
/// <item>Normalizations (BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization): 5 · input elements
/// (mean, variance, normalize, scale, shift).</item>
/// <item>Softmax, LogSoftmax: 3 · elements (max and exponent, sum, divide). SoftmaxCrossEntropyLoss: 4 · score elements.</item>
/// <item>Windowed pooling: output elements · Π(kernel). Global pooling and reductions (Reduce*, ArgMax): input elements.</item>
/// <item>Everything else (element-wise arithmetic and activations, comparisons, casts, and data movement such as
/// Reshape, Transpose, Concat, Split, Gather, Slice, Pad, Resize): output elements — each element is produced once.
/// A tensor that the training graph makes a view (<see cref="Graph.Views"/>: a Reshape, a Transpose read by products)
/// keeps this count on its node, but its task costs nothing.</item>
/// <item>Secondary outputs of an operation whose work is counted on output 0 (BatchNormalization's running
/// statistics, LayerNormalization's mean and inverse deviation, MaxPool's indices, TopK's indices, the loss's
/// log-probabilities): their own element count. Dropout's mask: its element count.</item>
/// </list>
/// Constants and shape arithmetic are folded at import and cost 0. A measured time file (<see cref="MeasuredTimes"/>)
/// replaces this model when given.
/// </summary>
public static class CostModel
{
    /// <summary>The unit of <see cref="ForwardFlops"/>, as recorded in <c>ComputationGraph.TimeUnit</c>.</summary>
    public const string Unit = "flop";

    /// <summary>FLOPs to compute output <paramref name="outputIndex"/> of an operation.</summary>
    /// <param name="opType">ONNX operator type.</param>
    /// <param name="attributes">The operation's attributes (as given to shape inference).</param>
    /// <param name="inputs">Operand infos in ONNX position order (null for absent optional operands).</param>
    /// <param name="outputs">Inferred outputs of the operation.</param>
    /// <param name="outputIndex">Which output is being costed.</param>
    public static double ForwardFlops(string opType, IReadOnlyDictionary<string, object> attributes, IReadOnlyList<TensorInfo?> inputs,
        IReadOnlyList<TensorInfo> outputs, int outputIndex)
    {
        var y = outputs[outputIndex];
        double outElems = y.Elements;
        if (outputIndex > 0) return outElems;
        double InElems(int i) => i < inputs.Count && inputs[i] is { } t ? t.Elements : 0;
        switch (opType)
        {
            case "Conv":
            {
                var w = inputs[1]!;
                double macs = outElems * (w.Shape[1]) * Product(w.Shape, 2);
                return 2 * macs + (inputs.Count > 2 && inputs[2] is not null ? outElems : 0);
            }
            case "ConvTranspose":
            {
                var w = inputs[1]!;
                var x = inputs[0]!;
                double macs = (double)x.Elements * w.Shape[1] * Product(w.Shape, 2);
                return 2 * macs + (inputs.Count > 2 && inputs[2] is not null ? outElems : 0);
            }
            case "MatMul":
            {
                var a = inputs[0]!;
                double k = a.Shape[^1];
                return 2 * outElems * k;
            }
            case "Gemm":
            {
                var a = inputs[0]!;
                bool transA = attributes.TryGetValue("transA", out var t) && t is long tl && tl != 0;
                double k = transA ? a.Shape[0] : a.Shape[1];
                return 2 * outElems * k + (inputs.Count > 2 && inputs[2] is not null ? outElems : 0);
            }
            case "BatchNormalization" or "LayerNormalization" or "InstanceNormalization" or "GroupNormalization" or "MeanVarianceNormalization":
                return 5 * InElems(0);
            case "Softmax" or "LogSoftmax":
                return 3 * outElems;
            case "SoftmaxCrossEntropyLoss" or "NegativeLogLikelihoodLoss":
                return 4 * InElems(0);
            case "MaxPool" or "AveragePool" or "LpPool":
                return outElems * (attributes.TryGetValue("kernel_shape", out var k2) && k2 is long[] ks ? ks.Aggregate(1.0, (p, v) => p * v) : 1);
            case "GlobalAveragePool" or "GlobalMaxPool" or "GlobalLpPool" or "ArgMax" or "ArgMin":
                return InElems(0);
            default:
                if (opType.StartsWith("Reduce", StringComparison.Ordinal)) return InElems(0);
                return outElems;
        }
    }

    private static double Product(long[] shape, int from)
    {
        double p = 1;
        for (int i = from; i < shape.Length; i++) p *= shape[i];
        return p;
    }
}
