using Recompute.Runtime.Kernels;

namespace Recompute.Tests.Runtime.Kernels;

public class GemmTests
{
    internal static float[] Random(int length, int seed)
    {
        var rng = new System.Random(seed);
        var data = new float[length];
        for (int i = 0; i < length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return data;
    }

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 1, 7, 3 }, { 5, 1, 9 }, { 8, 32, 1 }, { 9, 33, 17 }, { 13, 31, 300 }, { 16, 64, 256 },
        { 17, 65, 257 }, { 100, 3, 50 }, { 3, 100, 50 }, { 100, 99, 37 }, { 100, 40, 530 }, { 20, 1100, 20 }, { 3, 3100, 5 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void AllKernelsMatchReferenceForEveryTransposeAndBeta(int m, int n, int k)
    {
        float[] a = Random(m * k, 1), b = Random(k * n, 2), c0 = Random(m * n, 3);
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
            {
                var product = new float[m * n];
                ReferenceGemm.Multiply(a, b, product, m, n, k, transA, transB);
                foreach (var kind in AvailableKernels())
                    foreach (var (alpha, beta) in new[] { (1f, 0f), (0.5f, 1f), (-2f, 0.25f) })
                    {
                        var actual = (float[])c0.Clone();
                        PackedGemm.Multiply(kind, a, b, actual, m, n, k, transA, transB, alpha, beta, 2);
                        // Float accumulation against a double reference: error grows like sqrt(k) * eps * |terms|.
                        float tolerance = 1e-5f * MathF.Sqrt(k) * 4 * MathF.Max(1f, MathF.Abs(alpha));
                        for (int i = 0; i < actual.Length; i++)
                        {
                            float expected = alpha * product[i] + beta * c0[i];
                            if (!(MathF.Abs(expected - actual[i]) <= tolerance))
                                Assert.Fail($"{kind} m={m} n={n} k={k} tA={transA} tB={transB} alpha={alpha} beta={beta} " +
                                $"at {i}: {actual[i]} vs {expected}");
                        }
                    }
            }
    }

    [Fact]
    public void TwelveRowTileAndSmallBlocksMatchReference()
    {
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            return;
        // Small MC/KC/NC so that every block boundary is crossed several times, with edge tiles on both axes.
        var blocking = new GemmBlocking(MR: 12, NR: 32, MC: 24, KC: 16, NC: 64);
        const int m = 53, n = 150, k = 41;
        float[] a = Random(m * k, 11), b = Random(k * n, 12), c0 = Random(m * n, 13);
        var expected = (float[])c0.Clone();
        ReferenceGemm.Multiply(a, b, expected, m, n, k, true, false, 0.75f, -1f);
        var actual = (float[])c0.Clone();
        PackedGemm.Multiply(GemmKernelKind.Vector512, a, b, actual, m, n, k, true, false, 0.75f, -1f, 3, blocking);
        for (int i = 0; i < expected.Length; i++)
            if (!(MathF.Abs(expected[i] - actual[i]) < 1e-4f))
                Assert.Fail($"at {i}: {actual[i]} vs {expected[i]}");
        Assert.Throws<ArgumentException>(() => PackedGemm.Multiply(GemmKernelKind.Vector512, a, b, actual, m, n, k,
            false, false, 1f, 0f, 1, new GemmBlocking(MR: 7, NR: 32, MC: 28, KC: 16, NC: 64)));
    }

    [Fact]
    public void BetaZeroIgnoresGarbageInC()
    {
        const int m = 20, n = 40, k = 30;
        float[] a = Random(m * k, 4), b = Random(k * n, 5);
        var c = new float[m * n];
        Array.Fill(c, float.NaN);
        Gemm.Multiply(a, b, c, m, n, k);
        var expected = new float[m * n];
        ReferenceGemm.Multiply(a, b, expected, m, n, k);
        for (int i = 0; i < c.Length; i++)
            Assert.True(MathF.Abs(c[i] - expected[i]) < 1e-4f);
    }

    [Fact]
    public void ZeroDepthScalesCByBeta()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Gemm.Multiply(ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, c, 2, 2, 0, beta: 0.5f);
        Assert.Equal(new float[] { 0.5f, 1, 1.5f, 2 }, c);
    }

    [Fact]
    public void ResultsAreBitwiseIdenticalAcrossThreadCountsAndRuns()
    {
        // Large enough to be split into several row blocks, column chunks and k slices.
        const int m = 300, n = 700, k = 600;
        float[] a = Random(m * k, 6), b = Random(k * n, 7), c0 = Random(m * n, 8);
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3, 8, 1 })
        {
            var c = (float[])c0.Clone();
            Gemm.Multiply(a, b, c, m, n, k, false, true, 1.5f, 0.5f, threads);
            if (first is null) first = c;
            else Assert.True(first.AsSpan().SequenceEqual(c), $"threads={threads} differs");
        }
    }

    [Fact]
    public void BatchedGemmEqualsPerItemGemmBitwiseForAnyThreadCount()
    {
        // Attention-like: 6 items of 40x40x24 with B shared (stride 0) and B transposed.
        const int batch = 6, m = 40, n = 40, k = 24;
        float[] a = Random(batch * m * k, 14), b = Random(n * k, 15), c0 = Random(batch * m * n, 16);
        var expected = (float[])c0.Clone();
        for (int i = 0; i < batch; i++)
            Gemm.Multiply(a.AsSpan(i * m * k, m * k), b, expected.AsSpan(i * m * n, m * n), m, n, k, false, true, 2f, 0.5f, 1);
        int saved = KernelOptions.MaxDegreeOfParallelism;
        try
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                KernelOptions.MaxDegreeOfParallelism = threads;
                var actual = (float[])c0.Clone();
                BatchedGemm.Multiply(a, b, actual, batch, m, n, k, m * k, 0, m * n, false, true, 2f, 0.5f);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"threads={threads}");
            }
        }
        finally
        {
            KernelOptions.MaxDegreeOfParallelism = saved;
        }
        Assert.Throws<ArgumentException>(() => BatchedGemm.Multiply(a, b, new float[10], batch, m, n, k, m * k, 0, m * n));
    }

    [Fact]
    public void TooShortOperandIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Multiply(new float[5], new float[6], new float[4], 2, 2, 3));
        Assert.Contains("needs 6", ex.Message);
    }

    private static IEnumerable<GemmKernelKind> AvailableKernels()
    {
        yield return GemmKernelKind.Scalar;
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported)
            yield return GemmKernelKind.Vector256;
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
            yield return GemmKernelKind.Vector512;
    }
}
