using System.Numerics.Tensors;

namespace Recompute.Runtime.Kernels;

/// <summary>Softmax and log-softmax along the last axis of a [rows, cols] view, with their backward passes.
/// Row sums use <see cref="Reductions"/>, so results do not depend on buffer addresses.</summary>
internal static class Softmax
{
    /// <summary>y = exp(x − max) / Σ exp(x − max) per row. <paramref name="output"/> may alias the input.</summary>
    public static void Forward(ReadOnlySpan<float> input, Span<float> output, int rows, int cols)
    {
        Check(input.Length, output.Length, rows, cols);
        for (int r = 0; r < rows; r++)
        {
            var x = input.Slice(r * cols, cols);
            var y = output.Slice(r * cols, cols);
            if (cols == 0) continue;
            float max = TensorPrimitives.Max(x);
            TensorPrimitives.Subtract(x, max, y);
            TensorPrimitives.Exp(y, y);
            float sum = Reductions.Sum(y);
            TensorPrimitives.Divide(y, sum, y);
        }
    }

    /// <summary>gradInput (+)= y ⊙ (gy − Σ gy⊙y) per row, from the forward output y.</summary>
    public static void Backward(ReadOnlySpan<float> output, ReadOnlySpan<float> gradOutput, Span<float> gradInput,
        int rows, int cols, bool accumulate = false)
    {
        Check(output.Length, gradOutput.Length, rows, cols);
        Conv2d.CheckLength(gradInput.Length, (long)rows * cols, "gradInput");
        for (int r = 0; r < rows; r++)
        {
            var y = output.Slice(r * cols, cols);
            var gy = gradOutput.Slice(r * cols, cols);
            var gx = gradInput.Slice(r * cols, cols);
            float dot = Reductions.Dot(y, gy);
            if (accumulate)
                for (int i = 0; i < cols; i++) gx[i] += y[i] * (gy[i] - dot);
            else
            {
                TensorPrimitives.Subtract(gy, dot, gx);
                TensorPrimitives.Multiply(gx, y, gx);
            }
        }
    }

    /// <summary>y = x − max − log Σ exp(x − max) per row. <paramref name="output"/> may alias the input.</summary>
    public static void LogForward(ReadOnlySpan<float> input, Span<float> output, int rows, int cols)
    {
        Check(input.Length, output.Length, rows, cols);
        for (int r = 0; r < rows; r++)
        {
            var x = input.Slice(r * cols, cols);
            var y = output.Slice(r * cols, cols);
            if (cols == 0) continue;
            float max = TensorPrimitives.Max(x);
            TensorPrimitives.Subtract(x, max, y);
            // y holds x − max; exponentiate a copy-free way: sum exp(y) without storing it.
            float sum = SumExp(y);
            TensorPrimitives.Subtract(y, MathF.Log(sum), y);
        }
    }

    /// <summary>gradInput (+)= gy − exp(y) · Σ gy per row, from the forward output y (log-probabilities).</summary>
    public static void LogBackward(ReadOnlySpan<float> output, ReadOnlySpan<float> gradOutput, Span<float> gradInput,
        int rows, int cols, bool accumulate = false)
    {
        Check(output.Length, gradOutput.Length, rows, cols);
        Conv2d.CheckLength(gradInput.Length, (long)rows * cols, "gradInput");
        for (int r = 0; r < rows; r++)
        {
            var y = output.Slice(r * cols, cols);
            var gy = gradOutput.Slice(r * cols, cols);
            var gx = gradInput.Slice(r * cols, cols);
            float total = Reductions.Sum(gy);
            for (int i = 0; i < cols; i++)
            {
                float v = gy[i] - MathF.Exp(y[i]) * total;
                gx[i] = accumulate ? gx[i] + v : v;
            }
        }
    }

    private static float SumExp(ReadOnlySpan<float> values)
    {
        Span<float> chunk = stackalloc float[256];
        float sum = 0f;
        for (int i = 0; i < values.Length; i += chunk.Length)
        {
            int length = Math.Min(chunk.Length, values.Length - i);
            TensorPrimitives.Exp(values.Slice(i, length), chunk[..length]);
            sum += Reductions.Sum(chunk[..length]);
        }
        return sum;
    }

    private static void Check(int inputLength, int outputLength, int rows, int cols)
    {
        if (rows < 0 || cols < 0)
            throw new ArgumentException($"Invalid softmax shape [{rows}, {cols}].");
        Conv2d.CheckLength(inputLength, (long)rows * cols, "input");
        Conv2d.CheckLength(outputLength, (long)rows * cols, "output");
    }
}
