using Recompute.Runtime.Kernels;

namespace Recompute.Tests.Runtime.Kernels;

/// <summary>
/// Non-GEMM kernels: forward against the float64 <see cref="ReferenceKernels"/>, backward against central finite
/// differences of those references (loss = Σ r·f(x) for a random r, so ∂loss/∂x is the backward of gy = r).
/// </summary>
public class KernelGradientTests
{
    private static double[] Gradient(Func<double[], double[]> f, double[] x, float[] r, double h = 1e-5)
    {
        var grad = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            probe[i] = x[i] + h;
            double plus = Dot(f(probe), r);
            probe[i] = x[i] - h;
            double minus = Dot(f(probe), r);
            probe[i] = x[i];
            grad[i] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    private static double Dot(double[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    private static double[] ToDouble(float[] x) => x.Select(v => (double)v).ToArray();

    private static void AssertClose(double[] expected, ReadOnlySpan<float> actual, string what, double tolerance = 2e-4)
    {
        double scale = Math.Max(1, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance * scale))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]}");
    }

    /// <summary>Values spaced apart so that no pooling window has a tie and finite differences keep the argmax.</summary>
    private static float[] Distinct(int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(i => (i - length / 2) * 0.01f).OrderBy(_ => rng.Next()).ToArray();
    }

    // The kernels are internal: the theories take an index into this list.
    private static readonly Pool2dShape[] PoolCases =
    [
        new Pool2dShape(2, 3, 6, 6, 2, 2, 2, 2),
        new Pool2dShape(1, 2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1),
        new Pool2dShape(1, 2, 8, 5, 3, 2, 2, 1, 1, 0, 0, 1, ceilMode: true),
        new Pool2dShape(1, 1, 7, 6, 3, 3, 2, 2, ceilMode: true),
        new Pool2dShape(1, 2, 9, 9, 2, 3, 3, 2, 0, 1, 1, 0, dilationH: 2, dilationW: 2),
    ];

    public static TheoryData<int> PoolShapes => new(Enumerable.Range(0, PoolCases.Length));

    [Theory]
    [MemberData(nameof(PoolShapes))]
    public void MaxPoolForwardAndBackward(int index)
    {
        var s = PoolCases[index];
        float[] x = Distinct((int)s.InputLength, 1);
        float[] r = GemmTests.Random((int)s.OutputLength, 2);
        var y = new float[s.OutputLength];
        var indices = new int[s.OutputLength];
        MaxPool2d.Forward(s, x, y, indices);
        var shape = s;
        AssertClose(ReferenceKernels.MaxPool(shape, ToDouble(x)), y, "max forward");
        for (int i = 0; i < y.Length; i++) Assert.Equal(y[i], x[indices[i]]);

        var gx = new float[s.InputLength];
        MaxPool2d.Backward(s, r, indices, gx);
        AssertClose(Gradient(v => ReferenceKernels.MaxPool(shape, v), ToDouble(x), r, 1e-4), gx, "max backward");
        var again = new float[s.InputLength];
        MaxPool2d.BackwardFromInput(s, x, r, again);
        Assert.Equal(gx, again);
    }

    [Theory]
    [MemberData(nameof(PoolShapes))]
    public void AvgPoolForwardAndBackward(int index)
    {
        var s = PoolCases[index];
        float[] x = GemmTests.Random((int)s.InputLength, 3);
        float[] r = GemmTests.Random((int)s.OutputLength, 4);
        var shape = s;
        foreach (bool includePad in new[] { false, true })
        {
            var y = new float[s.OutputLength];
            AvgPool2d.Forward(s, x, y, includePad);
            AssertClose(ReferenceKernels.AvgPool(shape, ToDouble(x), includePad), y, $"avg forward pad={includePad}");
            var gx = new float[s.InputLength];
            AvgPool2d.Backward(s, r, gx, includePad);
            AssertClose(Gradient(v => ReferenceKernels.AvgPool(shape, v, includePad), ToDouble(x), r), gx,
                $"avg backward pad={includePad}");
        }
    }

    [Fact]
    public void CeilModeDropsAWindowThatStartsInThePadding()
    {
        // 5 wide, kernel 2, stride 2, pad 1 each side: span 5 + 2 - 2 = 5, floor 5/2 + 1 = 3 outputs; ceil would give
        // 4, but the fourth window starts at 3·2 − 1 = 5, inside the end padding, so it is dropped: 3.
        Assert.Equal(3, new Pool2dShape(1, 1, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1, ceilMode: true).OutWidth);
        // 8 wide, kernel 3, stride 2, no pad: span 5, floor 3, ceil 4 (the last window starts at 6, inside the input).
        Assert.Equal(3, new Pool2dShape(1, 1, 8, 8, 3, 3, 2, 2).OutWidth);
        Assert.Equal(4, new Pool2dShape(1, 1, 8, 8, 3, 3, 2, 2, ceilMode: true).OutWidth);
    }

    [Fact]
    public void GlobalAveragePoolAndReductions()
    {
        float[] x = GemmTests.Random(3 * 4 * 5, 5);
        foreach (var (outer, reduce, inner) in new[] { (3, 4, 5), (12, 5, 1), (1, 60, 1), (60, 1, 1), (1, 3, 20) })
        {
            float[] r = GemmTests.Random(outer * inner, 6);
            var sum = new float[outer * inner];
            Reduce.Sum(x, sum, outer, reduce, inner);
            AssertClose(ReferenceKernels.Reduce(ToDouble(x), outer, reduce, inner, false), sum, "sum");
            var mean = new float[outer * inner];
            Reduce.Mean(x, mean, outer, reduce, inner);
            AssertClose(ReferenceKernels.Reduce(ToDouble(x), outer, reduce, inner, true), mean, "mean");
            var gx = new float[x.Length];
            Reduce.MeanBackward(r, gx, outer, reduce, inner);
            AssertClose(Gradient(v => ReferenceKernels.Reduce(v, outer, reduce, inner, true), ToDouble(x), r), gx,
                "mean backward");
            Reduce.SumBackward(r, gx, outer, reduce, inner, accumulate: true);
            var both = Gradient(v => ReferenceKernels.Reduce(v, outer, reduce, inner, true), ToDouble(x), r)
                .Zip(Gradient(v => ReferenceKernels.Reduce(v, outer, reduce, inner, false), ToDouble(x), r), (a, b) => a + b)
                .ToArray();
            AssertClose(both, gx, "accumulated sum backward");
        }
        var pooled = new float[12];
        GlobalAvgPool.Forward(x, pooled, 12, 5);
        AssertClose(ReferenceKernels.Reduce(ToDouble(x), 12, 5, 1, true), pooled, "global average pool");
    }

    [Theory]
    [InlineData(3, 7)]
    [InlineData(2, 100)]
    [InlineData(1, 1)]
    public void SoftmaxAndLogSoftmaxForwardAndBackward(int rows, int cols)
    {
        float[] x = GemmTests.Random(rows * cols, 7).Select(v => v * 4).ToArray();
        float[] r = GemmTests.Random(rows * cols, 8);
        foreach (bool log in new[] { false, true })
        {
            var y = new float[x.Length];
            if (log) Softmax.LogForward(x, y, rows, cols); else Softmax.Forward(x, y, rows, cols);
            AssertClose(ReferenceKernels.Softmax(ToDouble(x), rows, cols, log), y, $"softmax log={log}", 1e-5);
            var gx = new float[x.Length];
            if (log) Softmax.LogBackward(y, r, gx, rows, cols); else Softmax.Backward(y, r, gx, rows, cols);
            AssertClose(Gradient(v => ReferenceKernels.Softmax(v, rows, cols, log), ToDouble(x), r), gx,
                $"softmax backward log={log}");
        }
    }

    [Fact]
    public void SoftmaxIsStableForLargeInputs()
    {
        float[] x = { 1000f, 1001f, 999f, -1000f };
        var y = new float[4];
        Softmax.Forward(x, y, 1, 4);
        AssertClose(ReferenceKernels.Softmax(ToDouble(x), 1, 4), y, "large softmax", 1e-6);
    }

    [Theory]
    [InlineData(2, 3, 5)]
    [InlineData(4, 2, 1)]
    [InlineData(1, 2, 70)]
    public void BatchNormForwardAndBackward(int batch, int channels, int spatial)
    {
        float[] x = GemmTests.Random(batch * channels * spatial, 9);
        float[] gamma = GemmTests.Random(channels, 10).Select(v => v + 1.5f).ToArray();
        float[] beta = GemmTests.Random(channels, 11);
        float[] r = GemmTests.Random(x.Length, 12);
        const float eps = 1e-3f;
        var y = new float[x.Length];
        var mean = new float[channels];
        var variance = new float[channels];
        BatchNorm.ForwardTraining(x, y, batch, channels, spatial, gamma, beta, eps, mean, variance);
        double[] g64 = ToDouble(gamma), b64 = ToDouble(beta);
        AssertClose(ReferenceKernels.BatchNorm(ToDouble(x), batch, channels, spatial, g64, b64, eps), y, "bn forward");

        var gx = new float[x.Length];
        var gGamma = new float[channels];
        var gBeta = new float[channels];
        BatchNorm.Backward(x, r, gx, batch, channels, spatial, gamma, eps, mean, variance, gGamma, gBeta);
        AssertClose(Gradient(v => ReferenceKernels.BatchNorm(v, batch, channels, spatial, g64, b64, eps), ToDouble(x), r),
            gx, "bn backward x", 1e-3);
        var xs = ToDouble(x);
        AssertClose(Gradient(g => ReferenceKernels.BatchNorm(xs, batch, channels, spatial, g, b64, eps), g64, r),
            gGamma, "bn backward gamma", 1e-3);
        AssertClose(Gradient(b => ReferenceKernels.BatchNorm(xs, batch, channels, spatial, g64, b, eps), b64, r),
            gBeta, "bn backward beta", 1e-3);
    }

    [Fact]
    public void LayerNormForwardAndBackward()
    {
        const int rows = 3, cols = 6;
        const float eps = 1e-5f;
        float[] x = GemmTests.Random(rows * cols, 13), gamma = GemmTests.Random(cols, 14), beta = GemmTests.Random(cols, 15);
        float[] r = GemmTests.Random(x.Length, 16);
        var y = new float[x.Length];
        var mean = new float[rows];
        var inv = new float[rows];
        LayerNorm.ForwardTraining(x, y, rows, cols, gamma, beta, eps, mean, inv);
        double[] g64 = ToDouble(gamma), b64 = ToDouble(beta), xs = ToDouble(x);
        AssertClose(ReferenceKernels.LayerNorm(xs, rows, cols, g64, b64, eps), y, "ln forward");
        var gx = new float[x.Length];
        var gGamma = new float[cols];
        var gBeta = new float[cols];
        LayerNorm.Backward(x, r, gx, rows, cols, gamma, mean, inv, gGamma, gBeta);
        AssertClose(Gradient(v => ReferenceKernels.LayerNorm(v, rows, cols, g64, b64, eps), xs, r), gx, "ln dx", 1e-3);
        AssertClose(Gradient(g => ReferenceKernels.LayerNorm(xs, rows, cols, g, b64, eps), g64, r), gGamma, "ln dgamma", 1e-3);
        AssertClose(Gradient(b => ReferenceKernels.LayerNorm(xs, rows, cols, g64, b, eps), b64, r), gBeta, "ln dbeta", 1e-3);
    }

    [Fact]
    public void ErfMatchesTheSeriesAndItsDerivative()
    {
        // A grid over [-6, 6] that crosses the 0.5 branch point, plus a length that exercises vector and tail paths.
        float[] x = Enumerable.Range(0, 1203).Select(i => -6f + i * 0.01f).Append(0.5f).Append(-0.5f).ToArray();
        var y = new float[x.Length];
        Erf.Forward(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double expected = ReferenceKernels.Erf(x[i]);
            if (!(Math.Abs(expected - y[i]) < 3e-7)) Assert.Fail($"erf({x[i]}) = {y[i]}, expected {expected}");
            Assert.Equal(Erf.Evaluate(x[i]), y[i], 3e-7f);
        }
        Assert.True(Math.Abs(ReferenceKernels.Erf(1.0) - 0.8427007929497149) < 1e-15);
        Assert.True(Math.Abs(ReferenceKernels.Erf(5.0) - 0.9999999999984626) < 1e-13);

        float[] small = x.Where((_, i) => i % 40 == 0).ToArray();
        float[] r = GemmTests.Random(small.Length, 17);
        var gx = new float[small.Length];
        Erf.Backward(small, r, gx);
        AssertClose(Gradient(v => v.Select(ReferenceKernels.Erf).ToArray(), ToDouble(small), r), gx, "erf backward", 1e-5);
    }

    [Fact]
    public void ReductionsDoNotDependOnTheAddressOfTheData()
    {
        float[] data = GemmTests.Random(1000, 18).Select(v => v * 1e3f).ToArray();
        float sum = Reductions.Sum(data), dot = Reductions.Dot(data, data);
        for (int offset = 1; offset < 20; offset++)
        {
            var shifted = new float[data.Length + offset];
            data.CopyTo(shifted, offset);
            var view = shifted.AsSpan(offset, data.Length);
            Assert.Equal(BitConverter.SingleToInt32Bits(sum), BitConverter.SingleToInt32Bits(Reductions.Sum(view)));
            Assert.Equal(BitConverter.SingleToInt32Bits(dot), BitConverter.SingleToInt32Bits(Reductions.Dot(view, view)));
        }
        Assert.True(Math.Abs(data.Sum(v => (double)v) - sum) < 1e-2);
    }
}
