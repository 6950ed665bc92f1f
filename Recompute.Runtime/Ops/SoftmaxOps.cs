using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// Softmax along <c>axis</c> (default −1): the last axis on the optimised kernel, other axes with a strided loop here.
/// The backward reads the output (PyTorch's _softmax_backward_data reads the result).
/// </summary>
internal sealed class SoftmaxOp : Operator
{

    private static (int Outer, int Len, int Inner) Geometry(OpCall call)
    {
        var s = call.InputShape(0);
        int axis = Axis(call.Attr("axis", -1L), s.Length);
        return (Product(s, 0, axis), s[axis], Product(s, axis + 1, s.Length));
    }

    internal static void Compute(ReadOnlySpan<float> x, Span<float> y, int outer, int len, int inner)
    {
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                float max = float.NegativeInfinity;
                for (int j = 0; j < len; j++) max = Math.Max(max, x[b + j * inner]);
                float sum = 0f;
                for (int j = 0; j < len; j++) { float e = MathF.Exp(x[b + j * inner] - max); y[b + j * inner] = e; sum += e; }
                float inv = 1f / sum;
                for (int j = 0; j < len; j++) y[b + j * inner] *= inv;
            }
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (outer, len, inner) = Geometry(call);
        if (inner == 1) Kernels.Softmax.Forward(call.Input(0).Span, output.Span, outer, len); // the last axis: the optimised kernel
        else Compute(call.Input(0).Span, output.Span, outer, len, inner);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (outer, len, inner) = Geometry(call);
        // The table keeps the output; a node that kept its input instead (older per-node needs) recomputes it in scratch.
        using var ys = call.HasOutput ? null : call.Scratch(g.Length);
        if (ys is not null)
        {
            if (inner == 1) Kernels.Softmax.Forward(call.Input(0).Span, ys.Span, outer, len);
            else Compute(call.Input(0).Span, ys.Span, outer, len, inner);
        }
        ReadOnlySpan<float> y = ys is null ? call.Output().Span : ys.Span;
        if (inner == 1)
        {
            Kernels.Softmax.Backward(y, g, gradInput, outer, len);
            return;
        }
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int b = o * len * inner + i;
                float dot = 0f;
                for (int j = 0; j < len; j++) dot += g[b + j * inner] * y[b + j * inner];
                for (int j = 0; j < len; j++) gradInput[b + j * inner] = y[b + j * inner] * (g[b + j * inner] - dot);
            }
    }
}

/// <summary>
/// SoftmaxCrossEntropyLoss(scores [N, C, d...], labels [N, d...], weights [C]?) with <c>reduction</c> mean (default),
/// sum or none and <c>ignore_index</c>. Output 0 is the loss, output 1 the log-probabilities.
/// </summary>
internal sealed class SoftmaxCrossEntropyOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand == 0 && node.OutputIndex == 0;

    private sealed record Geometry(int N, int C, int D, string Reduction, long? Ignore);

    private static Geometry Shape(OpCall call)
    {
        var s = call.InputShape(0);
        long? ignore = call.Node.Attributes.ContainsKey("ignore_index") ? call.Attr("ignore_index", 0L) : null;
        return new Geometry(s[0], s.Length > 1 ? s[1] : 1, Product(s, 2, s.Length), call.Node.Attribute<string>("reduction") ?? "mean", ignore);
    }

    /// <summary>Log-softmax over the class axis into <paramref name="logp"/>.</summary>
    private static void LogSoftmax(ReadOnlySpan<float> x, Span<float> logp, Geometry g)
    {
        for (int n = 0; n < g.N; n++)
            for (int d = 0; d < g.D; d++)
            {
                int b = n * g.C * g.D + d;
                float max = float.NegativeInfinity;
                for (int c = 0; c < g.C; c++) max = Math.Max(max, x[b + c * g.D]);
                double sum = 0;
                for (int c = 0; c < g.C; c++) sum += Math.Exp(x[b + c * g.D] - max);
                float lse = max + (float)Math.Log(sum);
                for (int c = 0; c < g.C; c++) logp[b + c * g.D] = x[b + c * g.D] - lse;
            }
    }

    private static int Label(float v, Geometry g, Node node)
    {
        int l = (int)v;
        if (l < 0 || l >= g.C) throw new InvalidOperationException($"'{node.Name}' (SoftmaxCrossEntropyLoss): label {v} is out of range [0, {g.C})");
        return l;
    }

    /// <summary>Weight of each sample (0 when ignored) and the mean's normaliser.</summary>
    private static (float[] W, double Total) Weights(OpCall call, Geometry g)
    {
        var labels = call.Input(1).Span;
        var w = new float[g.N * g.D];
        double total = 0;
        ReadOnlySpan<float> cw = call.HasOperand(2) ? call.Input(2).Span : default;
        for (int i = 0; i < w.Length; i++)
        {
            if (g.Ignore is { } ig && (long)labels[i] == ig) continue;
            int l = Label(labels[i], g, call.Node);
            w[i] = call.HasOperand(2) ? cw[l] : 1f;
            total += w[i];
        }
        return (w, total);
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var g = Shape(call);
        var x = call.Input(0).Span;
        using var lp = call.Scratch(x.Length);
        var logp = lp.Span;
        LogSoftmax(x, logp, g);
        if (call.Node.OutputIndex == 1) { logp.CopyTo(output.Span); return; }
        var labels = call.Input(1).Span;
        var (w, total) = Weights(call, g);
        var y = output.Span;
        double sum = 0;
        for (int n = 0; n < g.N; n++)
            for (int d = 0; d < g.D; d++)
            {
                int i = n * g.D + d;
                float li = w[i] == 0f ? 0f : -w[i] * logp[n * g.C * g.D + (int)labels[i] * g.D + d];
                if (g.Reduction == "none") y[i] = li; else sum += li;
            }
        if (g.Reduction == "none") return;
        y[0] = (float)(g.Reduction == "sum" ? sum : total > 0 ? sum / total : 0);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> dy, int operand, Span<float> gradInput)
    {
        var g = Shape(call);
        var x = call.Input(0).Span; var labels = call.Input(1).Span;
        LogSoftmax(x, gradInput, g);
        var (w, total) = Weights(call, g);
        for (int n = 0; n < g.N; n++)
            for (int d = 0; d < g.D; d++)
            {
                int i = n * g.D + d;
                float k = g.Reduction switch
                {
                    "none" => dy[i] * w[i],
                    "sum" => dy[0] * w[i],
                    _ => total > 0 ? (float)(dy[0] * w[i] / total) : 0f,
                };
                int b = n * g.C * g.D + d;
                int label = w[i] == 0f ? -1 : (int)labels[i];
                for (int c = 0; c < g.C; c++)
                {
                    float p = MathF.Exp(gradInput[b + c * g.D]);
                    gradInput[b + c * g.D] = k * (p - (c == label ? 1f : 0f));
                }
            }
    }
}
