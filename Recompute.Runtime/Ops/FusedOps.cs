using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// ONNX Gelu (opset 20): y = x·Φ(x) = x·(1 + erf(x/√2))/2, or with <c>approximate = "tanh"</c>
/// y = x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2. The ONNX importer plans the decomposed forms of an export as this op.
/// Its backward reads the input (PyTorch's gelu_backward(grad, self)): dy/dx = Φ(x) + x·φ(x) for the exact form, and
/// (1 + t)/2 + x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)/2 with t = tanh(·) for the approximation. The exact form runs
/// vectorised in float (<see cref="Kernels.Gelu"/>); the approximation in double.
/// </summary>
internal sealed class GeluOp : Operator
{
    private const double SqrtTwoOverPi = 0.7978845608028654;
    private const double Cubic = 0.044715;

    private static bool Tanh(OpCall call) => call.Node.Attribute<string>("approximate") == "tanh";

    public override void Forward(OpCall call, Tensor output)
    {
        var x = call.Input(0).Span; var y = output.Span;
        if (Tanh(call))
            for (int i = 0; i < y.Length; i++)
            {
                double v = x[i];
                y[i] = (float)(0.5 * v * (1 + Math.Tanh(SqrtTwoOverPi * (v + Cubic * v * v * v))));
            }
        else
        {
            var input = call.Input(0);
            ParallelBlocks(y.Length, (from, to) => Kernels.Gelu.Forward(input.Span, output.Span, from, to));
        }
    }

    /// <summary>Splits [0, length) across threads at multiples of <see cref="Kernels.Gelu.Block"/>, so every element
    /// takes the same (vector or scalar) path on any thread count.</summary>
    private static void ParallelBlocks(int length, Action<int, int> body)
    {
        int blocks = (length + Kernels.Gelu.Block - 1) / Kernels.Gelu.Block;
        Kernels.ParallelRanges.For(blocks, 8L * length, (from, to) =>
            body(from * Kernels.Gelu.Block, Math.Min(length, to * Kernels.Gelu.Block)));
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var x = call.Input(0).Span;
        if (Tanh(call))
            for (int i = 0; i < gradInput.Length; i++)
            {
                double v = x[i];
                double t = Math.Tanh(SqrtTwoOverPi * (v + Cubic * v * v * v));
                double d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SqrtTwoOverPi * (1 + 3 * Cubic * v * v);
                gradInput[i] = (float)(g[i] * d);
            }
        else
        {
            var input = call.Input(0);
            unsafe
            {
                fixed (float* pg = g)
                fixed (float* pd = gradInput)
                {
                    nint gp = (nint)pg, dp = (nint)pd;
                    int length = gradInput.Length;
                    ParallelBlocks(length, (from, to) => Kernels.Gelu.Backward(input.Span,
                        new ReadOnlySpan<float>((float*)gp, length), new Span<float>((float*)dp, length), from, to));
                }
            }
        }
    }
}

/// <summary>
/// ONNX LayerNormalization (opset 17) over the axes from <c>axis</c> (default −1) on: output 0 is
/// Y = (X − μ)·r·Scale + B, output 1 the per-row mean μ, output 2 the per-row InvStdDev r = 1/√(σ² + ε) (σ² the biased
/// variance). Scale and B hold one value per normalised element. The backward reads X, Scale and the two statistics
/// (<see cref="SavedTensors"/>), the statistics from outputs 1 and 2 when the graph has them, else recomputed from X:
/// with x̂ = (X − μ)·r and ĝ = G·Scale, dX = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) per row; dScale = Σ_rows G·x̂; dB = Σ_rows G.
/// Statistics are accumulated in double and rounded once, the same in every output, so Y and the saved statistics agree.
/// </summary>
internal sealed class LayerNormalizationOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => node.OutputIndex == 0;

    private static (int Rows, int Width) Layout(OpCall call)
    {
        var shape = call.InputShape(0);
        int axis = Axis(call.Attr("axis", -1L), shape.Length);
        int width = Product(shape, axis, shape.Length);
        int rows = Product(shape, 0, axis);
        for (int k = 1; k <= 2; k++)
            if (call.HasOperand(k) && Product(call.InputShape(k), 0, call.InputShape(k).Length) != width)
                throw new InvalidOperationException($"'{call.Node.Name}' (LayerNormalization): operand #{k} must hold one value per normalised element ({width})");
        return (rows, width);
    }

    /// <summary>Per-row mean and reciprocal standard deviation of X.</summary>
    private static void Statistics(ReadOnlySpan<float> x, int rows, int width, float epsilon, Span<float> mean, Span<float> rstd)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * width, width);
            double sum = 0;
            foreach (float v in row) sum += v;
            double mu = sum / width;
            double sq = 0;
            foreach (float v in row) sq += (v - mu) * (v - mu);
            mean[r] = (float)mu;
            rstd[r] = (float)(1.0 / Math.Sqrt(sq / width + epsilon));
        }
    }

    private static float Epsilon(OpCall call) => (float)call.Attr("epsilon", 1e-5);

    public override void Forward(OpCall call, Tensor output)
    {
        var (rows, width) = Layout(call);
        var x = call.Input(0).Span;
        using var mean = call.Scratch(rows);
        using var rstd = call.Scratch(rows);
        Statistics(x, rows, width, Epsilon(call), mean.Span, rstd.Span);
        var y = output.Span;
        switch (call.Node.OutputIndex)
        {
            case 1: mean.Span.CopyTo(y); return;
            case 2: rstd.Span.CopyTo(y); return;
        }
        var scale = call.Input(1).Span;
        var bias = call.HasOperand(2) ? call.Input(2).Span : default;
        for (int r = 0; r < rows; r++)
        {
            float mu = mean.Span[r], s = rstd.Span[r];
            int o = r * width;
            for (int j = 0; j < width; j++)
                y[o + j] = (x[o + j] - mu) * s * scale[j] + (bias.IsEmpty ? 0f : bias[j]);
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (rows, width) = Layout(call);
        if (operand == 2)
        {
            gradInput.Clear();
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < width; j++) gradInput[j] += g[r * width + j];
            return;
        }
        var x = call.Input(0).Span;
        using var meanScratch = call.Scratch(rows);
        using var rstdScratch = call.Scratch(rows);
        ReadOnlySpan<float> mean, rstd;
        if (call.OtherOutput(1) is { } m && call.OtherOutput(2) is { } s) { mean = m.Span; rstd = s.Span; }
        else
        {
            Statistics(x, rows, width, Epsilon(call), meanScratch.Span, rstdScratch.Span);
            mean = meanScratch.Span; rstd = rstdScratch.Span;
        }
        if (operand == 1)
        {
            gradInput.Clear();
            for (int r = 0; r < rows; r++)
            {
                int o = r * width;
                for (int j = 0; j < width; j++) gradInput[j] += g[o + j] * (x[o + j] - mean[r]) * rstd[r];
            }
            return;
        }
        var scale = call.Input(1).Span;
        for (int r = 0; r < rows; r++)
        {
            int o = r * width;
            float mu = mean[r], inv = rstd[r];
            double sumG = 0, sumGx = 0;
            for (int j = 0; j < width; j++)
            {
                double gh = g[o + j] * scale[j];
                sumG += gh;
                sumGx += gh * (x[o + j] - mu) * inv;
            }
            double meanG = sumG / width, meanGx = sumGx / width;
            for (int j = 0; j < width; j++)
            {
                double xh = (x[o + j] - mu) * inv;
                gradInput[o + j] = (float)(inv * (g[o + j] * scale[j] - meanG - xh * meanGx));
            }
        }
    }
}
