using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// Batch normalization over NCHW viewed as [batch, channels, spatial]: statistics per channel over batch×spatial,
/// biased variance (as used for normalization in training). Statistics are accumulated plane by plane in a fixed
/// order (float plane sums, double across planes), so they are deterministic.
/// </summary>
internal static class BatchNorm
{
    /// <summary>Training forward: computes the batch mean and (biased) variance per channel and
    /// y = γ (x − mean) / sqrt(var + ε) + β.</summary>
    public static void ForwardTraining(ReadOnlySpan<float> input, Span<float> output, int batch, int channels,
        int spatial, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float epsilon, Span<float> mean,
        Span<float> variance)
    {
        Check(input.Length, output.Length, batch, channels, spatial, gamma, beta);
        Conv2d.CheckLength(mean.Length, channels, "mean");
        Conv2d.CheckLength(variance.Length, channels, "variance");
        double count = (double)batch * spatial;
        for (int c = 0; c < channels; c++)
        {
            double sum = 0;
            for (int n = 0; n < batch; n++)
                sum += Reductions.Sum(Plane(input, n, c, channels, spatial));
            float mu = (float)(sum / count);
            double squares = 0;
            for (int n = 0; n < batch; n++)
                squares += Reductions.SumSquaredDeviation(Plane(input, n, c, channels, spatial), mu);
            mean[c] = mu;
            variance[c] = (float)(squares / count);
        }
        ForwardInference(input, output, batch, channels, spatial, gamma, beta, epsilon, mean, variance);
    }

    /// <summary>Inference forward with given statistics: y = γ (x − mean) / sqrt(var + ε) + β.</summary>
    public static void ForwardInference(ReadOnlySpan<float> input, Span<float> output, int batch, int channels,
        int spatial, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float epsilon, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> variance)
    {
        Check(input.Length, output.Length, batch, channels, spatial, gamma, beta);
        for (int c = 0; c < channels; c++)
        {
            float invStd = InvStd(variance[c], epsilon);
            float scale = gamma[c] * invStd;
            float shift = beta[c] - mean[c] * scale;
            for (int n = 0; n < batch; n++)
            {
                int offset = (n * channels + c) * spatial;
                Affine.Apply(input.Slice(offset, spatial), input.Slice(offset, spatial), scale, 0f, shift,
                    output.Slice(offset, spatial), accumulate: false);
            }
        }
    }

    /// <summary>Training backward from the saved batch statistics: gradInput (+)= ∂loss/∂x,
    /// gradGamma/gradBeta (+)= ∂loss/∂γ, ∂loss/∂β.</summary>
    public static void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput, Span<float> gradInput,
        int batch, int channels, int spatial, ReadOnlySpan<float> gamma, float epsilon, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> variance, Span<float> gradGamma, Span<float> gradBeta, bool accumulate = false)
    {
        Check(input.Length, gradOutput.Length, batch, channels, spatial, gamma, gamma);
        Conv2d.CheckLength(gradInput.Length, (long)batch * channels * spatial, "gradInput");
        Conv2d.CheckLength(gradGamma.Length, channels, "gradGamma");
        Conv2d.CheckLength(gradBeta.Length, channels, "gradBeta");
        double count = (double)batch * spatial;
        for (int c = 0; c < channels; c++)
        {
            float mu = mean[c], invStd = InvStd(variance[c], epsilon);
            double sumGy = 0, sumCenteredGy = 0;
            for (int n = 0; n < batch; n++)
            {
                var x = Plane(input, n, c, channels, spatial);
                var gy = Plane(gradOutput, n, c, channels, spatial);
                sumGy += Reductions.Sum(gy);
                sumCenteredGy += Reductions.DotCentered(x, mu, gy);
            }
            float dGamma = (float)(sumCenteredGy * invStd), dBeta = (float)sumGy;
            gradGamma[c] = accumulate ? gradGamma[c] + dGamma : dGamma;
            gradBeta[c] = accumulate ? gradBeta[c] + dBeta : dBeta;
            // gx = γ·invStd·gy − γ·invStd³·Σ((x−μ)gy)/M · (x − μ) − γ·invStd·Σgy/M
            float a = (float)(-gamma[c] * (double)invStd * invStd * invStd * sumCenteredGy / count);
            float b = gamma[c] * invStd;
            float k = (float)(-gamma[c] * (double)invStd * sumGy / count) - a * mu;
            for (int n = 0; n < batch; n++)
            {
                int offset = (n * channels + c) * spatial;
                Affine.Apply(input.Slice(offset, spatial), gradOutput.Slice(offset, spatial), a, b, k,
                    gradInput.Slice(offset, spatial), accumulate);
            }
        }
    }

    /// <summary>ONNX running statistics update: running = running·momentum + batch·(1 − momentum).</summary>
    public static void UpdateRunningStatistics(Span<float> runningMean, Span<float> runningVariance,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> variance, float momentum)
    {
        for (int c = 0; c < runningMean.Length; c++)
        {
            runningMean[c] = runningMean[c] * momentum + mean[c] * (1f - momentum);
            runningVariance[c] = runningVariance[c] * momentum + variance[c] * (1f - momentum);
        }
    }

    internal static float InvStd(float variance, float epsilon) => (float)(1.0 / Math.Sqrt((double)variance + epsilon));

    private static ReadOnlySpan<float> Plane(ReadOnlySpan<float> data, int n, int c, int channels, int spatial) =>
        data.Slice((n * channels + c) * spatial, spatial);

    private static void Check(int inputLength, int outputLength, int batch, int channels, int spatial,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta)
    {
        if (batch < 1 || channels < 1 || spatial < 1)
            throw new ArgumentException($"Invalid batch-norm shape [{batch}, {channels}, {spatial}].");
        long length = (long)batch * channels * spatial;
        Conv2d.CheckLength(inputLength, length, "input");
        Conv2d.CheckLength(outputLength, length, "output");
        Conv2d.CheckLength(gamma.Length, channels, "gamma");
        Conv2d.CheckLength(beta.Length, channels, "beta");
    }
}

/// <summary>Layer normalization over the last axis of a [rows, cols] view, with saved per-row mean and 1/σ.</summary>
internal static class LayerNorm
{
    public static void ForwardTraining(ReadOnlySpan<float> input, Span<float> output, int rows, int cols,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float epsilon, Span<float> mean, Span<float> invStd)
    {
        Conv2d.CheckLength(input.Length, (long)rows * cols, "input");
        Conv2d.CheckLength(output.Length, (long)rows * cols, "output");
        Conv2d.CheckLength(gamma.Length, cols, "gamma");
        Conv2d.CheckLength(beta.Length, cols, "beta");
        Conv2d.CheckLength(mean.Length, rows, "mean");
        Conv2d.CheckLength(invStd.Length, rows, "invStd");
        for (int r = 0; r < rows; r++)
        {
            var x = input.Slice(r * cols, cols);
            var y = output.Slice(r * cols, cols);
            float mu = Reductions.Sum(x) / cols;
            float inv = BatchNorm.InvStd(Reductions.SumSquaredDeviation(x, mu) / cols, epsilon);
            mean[r] = mu;
            invStd[r] = inv;
            for (int i = 0; i < cols; i++)
                y[i] = (x[i] - mu) * inv * gamma[i] + beta[i];
        }
    }

    public static void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput, Span<float> gradInput,
        int rows, int cols, ReadOnlySpan<float> gamma, ReadOnlySpan<float> mean, ReadOnlySpan<float> invStd,
        Span<float> gradGamma, Span<float> gradBeta, bool accumulate = false)
    {
        Conv2d.CheckLength(input.Length, (long)rows * cols, "input");
        Conv2d.CheckLength(gradOutput.Length, (long)rows * cols, "gradOutput");
        Conv2d.CheckLength(gradInput.Length, (long)rows * cols, "gradInput");
        Conv2d.CheckLength(gradGamma.Length, cols, "gradGamma");
        Conv2d.CheckLength(gradBeta.Length, cols, "gradBeta");
        if (!accumulate)
        {
            gradGamma[..cols].Clear();
            gradBeta[..cols].Clear();
        }
        for (int r = 0; r < rows; r++)
        {
            var x = input.Slice(r * cols, cols);
            var gy = gradOutput.Slice(r * cols, cols);
            var gx = gradInput.Slice(r * cols, cols);
            float mu = mean[r], inv = invStd[r];
            // With xhat = (x−μ)·inv and g = gy⊙γ: gx = inv·(g − mean(g) − xhat·mean(g⊙xhat)).
            double sumG = 0, sumGx = 0;
            for (int i = 0; i < cols; i++)
            {
                float xhat = (x[i] - mu) * inv;
                float g = gy[i] * gamma[i];
                sumG += g;
                sumGx += g * xhat;
                gradGamma[i] += gy[i] * xhat;
                gradBeta[i] += gy[i];
            }
            float meanG = (float)(sumG / cols), meanGx = (float)(sumGx / cols);
            for (int i = 0; i < cols; i++)
            {
                float xhat = (x[i] - mu) * inv;
                float v = inv * (gy[i] * gamma[i] - meanG - xhat * meanGx);
                gx[i] = accumulate ? gx[i] + v : v;
            }
        }
    }
}

/// <summary>dst (+)= a·x + b·y + k element-wise (one pass, vectorised).</summary>
internal static class Affine
{
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> y, float a, float b, float k, Span<float> dst,
        bool accumulate)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref float pd = ref MemoryMarshal.GetReference(dst);
        int length = x.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b); var vk = Vector256.Create(k);
            for (; i <= length - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref px, (nuint)i) * va + Vector256.LoadUnsafe(ref py, (nuint)i) * vb + vk;
                if (accumulate) v = Vector256.LoadUnsafe(ref pd, (nuint)i) + v;
                v.StoreUnsafe(ref pd, (nuint)i);
            }
        }
        for (; i < length; i++)
        {
            float v = Unsafe.Add(ref px, i) * a + Unsafe.Add(ref py, i) * b + k;
            Unsafe.Add(ref pd, i) = accumulate ? Unsafe.Add(ref pd, i) + v : v;
        }
    }

    /// <summary>dst = a·(x − μ) + b·y + k element-wise: the centred form keeps the cancellation of x against μ exact
    /// before scaling, so a normalisation's rounding is relative to x − μ, not to μ.</summary>
    public static void ApplyCentered(ReadOnlySpan<float> x, float mu, ReadOnlySpan<float> y, float a, float b, float k, Span<float> dst)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        ref float pd = ref MemoryMarshal.GetReference(dst);
        int length = dst.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vm = Vector512.Create(mu); var va = Vector512.Create(a); var vb = Vector512.Create(b); var vk = Vector512.Create(k);
            for (; i <= length - 16; i += 16)
                ((Vector512.LoadUnsafe(ref px, (nuint)i) - vm) * va + Vector512.LoadUnsafe(ref py, (nuint)i) * vb + vk).StoreUnsafe(ref pd, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vm = Vector256.Create(mu); var va = Vector256.Create(a); var vb = Vector256.Create(b); var vk = Vector256.Create(k);
            for (; i <= length - 8; i += 8)
                ((Vector256.LoadUnsafe(ref px, (nuint)i) - vm) * va + Vector256.LoadUnsafe(ref py, (nuint)i) * vb + vk).StoreUnsafe(ref pd, (nuint)i);
        }
        for (; i < length; i++)
            Unsafe.Add(ref pd, i) = (Unsafe.Add(ref px, i) - mu) * a + Unsafe.Add(ref py, i) * b + k;
    }
}
