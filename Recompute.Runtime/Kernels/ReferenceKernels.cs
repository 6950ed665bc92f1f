namespace Recompute.Runtime.Kernels;

/// <summary>
/// Plain float64 definitions of the non-GEMM kernels (pooling, softmax, normalization, erf, reductions). Tests
/// compare the optimised float32 kernels with these and check backward passes against their finite differences.
/// </summary>
internal static class ReferenceKernels
{
    public static double[] MaxPool(in Pool2dShape s, double[] x)
    {
        var y = new double[s.OutputLength];
        int o = 0;
        for (int nc = 0; nc < s.Batch * s.Channels; nc++)
            for (int oy = 0; oy < s.OutHeight; oy++)
                for (int ox = 0; ox < s.OutWidth; ox++, o++)
                {
                    double best = double.NegativeInfinity;
                    foreach (int i in Window(s, nc, oy, ox)) best = Math.Max(best, x[i]);
                    y[o] = best;
                }
        return y;
    }

    public static double[] AvgPool(in Pool2dShape s, double[] x, bool countIncludePad)
    {
        var y = new double[s.OutputLength];
        int o = 0;
        for (int nc = 0; nc < s.Batch * s.Channels; nc++)
            for (int oy = 0; oy < s.OutHeight; oy++)
                for (int ox = 0; ox < s.OutWidth; ox++, o++)
                {
                    double sum = 0;
                    int count = 0;
                    foreach (int i in Window(s, nc, oy, ox)) { sum += x[i]; count++; }
                    if (countIncludePad)
                    {
                        // Count every tap inside the padded input [-pad, size + pad).
                        count = 0;
                        for (int kh = 0; kh < s.KernelHeight; kh++)
                            for (int kw = 0; kw < s.KernelWidth; kw++)
                            {
                                int ih = oy * s.StrideH - s.PadTop + kh * s.DilationH;
                                int iw = ox * s.StrideW - s.PadLeft + kw * s.DilationW;
                                if (ih >= -s.PadTop && ih < s.InHeight + s.PadBottom &&
                                    iw >= -s.PadLeft && iw < s.InWidth + s.PadRight) count++;
                            }
                    }
                    y[o] = count == 0 ? 0 : sum / count;
                }
        return y;
    }

    /// <summary>Flat input indices of the in-bounds taps of one pooling window.</summary>
    private static List<int> Window(in Pool2dShape s, int nc, int oy, int ox)
    {
        var taps = new List<int>();
        for (int kh = 0; kh < s.KernelHeight; kh++)
            for (int kw = 0; kw < s.KernelWidth; kw++)
            {
                int ih = oy * s.StrideH - s.PadTop + kh * s.DilationH;
                int iw = ox * s.StrideW - s.PadLeft + kw * s.DilationW;
                if (ih >= 0 && ih < s.InHeight && iw >= 0 && iw < s.InWidth)
                    taps.Add((nc * s.InHeight + ih) * s.InWidth + iw);
            }
        return taps;
    }

    public static double[] Softmax(double[] x, int rows, int cols, bool log = false)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < cols; j++) max = Math.Max(max, x[r * cols + j]);
            double sum = 0;
            for (int j = 0; j < cols; j++) sum += Math.Exp(x[r * cols + j] - max);
            for (int j = 0; j < cols; j++)
                y[r * cols + j] = log ? x[r * cols + j] - max - Math.Log(sum) : Math.Exp(x[r * cols + j] - max) / sum;
        }
        return y;
    }

    /// <summary>Training batch norm over [batch, channels, spatial] with biased batch variance.</summary>
    public static double[] BatchNorm(double[] x, int batch, int channels, int spatial, double[] gamma, double[] beta,
        double epsilon)
    {
        var y = new double[x.Length];
        double count = (double)batch * spatial;
        for (int c = 0; c < channels; c++)
        {
            double mean = 0, variance = 0;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++) mean += x[(n * channels + c) * spatial + i];
            mean /= count;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++)
                {
                    double d = x[(n * channels + c) * spatial + i] - mean;
                    variance += d * d;
                }
            variance /= count;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < spatial; i++)
                {
                    int at = (n * channels + c) * spatial + i;
                    y[at] = gamma[c] * (x[at] - mean) / Math.Sqrt(variance + epsilon) + beta[c];
                }
        }
        return y;
    }

    /// <summary>Layer norm over the last axis of [rows, cols].</summary>
    public static double[] LayerNorm(double[] x, int rows, int cols, double[] gamma, double[] beta, double epsilon)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < cols; j++) mean += x[r * cols + j];
            mean /= cols;
            for (int j = 0; j < cols; j++) variance += (x[r * cols + j] - mean) * (x[r * cols + j] - mean);
            variance /= cols;
            for (int j = 0; j < cols; j++)
                y[r * cols + j] = gamma[j] * (x[r * cols + j] - mean) / Math.Sqrt(variance + epsilon) + beta[j];
        }
        return y;
    }

    /// <summary>erf in double: its Maclaurin series for |x| &lt; 4 (ample precision there), and the asymptotic
    /// expansion of erfc beyond.</summary>
    public static double Erf(double x)
    {
        double ax = Math.Abs(x);
        double result;
        if (ax < 4)
        {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200 && Math.Abs(term) > 1e-17 * Math.Abs(sum); n++)
            {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double inv = 1 / (2 * ax * ax);
            double series = 1 - inv + 3 * inv * inv - 15 * inv * inv * inv;
            result = 1 - Math.Exp(-ax * ax) / (ax * Math.Sqrt(Math.PI)) * series;
        }
        return x < 0 ? -result : result;
    }

    /// <summary>Sum (or mean) over the middle axis of [outer, reduce, inner].</summary>
    public static double[] Reduce(double[] x, int outer, int reduce, int inner, bool mean)
    {
        var y = new double[outer * inner];
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                double sum = 0;
                for (int r = 0; r < reduce; r++) sum += x[(o * reduce + r) * inner + i];
                y[o * inner + i] = mean ? sum / reduce : sum;
            }
        return y;
    }
}
