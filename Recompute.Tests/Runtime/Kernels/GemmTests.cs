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

    /// <summary>
    /// Parallel GEMMs cut into whole sub-GEMMs, by rows or by columns (<see cref="PackedGemm.Split"/>), give the bits
    /// of the one-thread call for every transposition, with beta, at 2, 3 and 4 threads, on shapes whose parts end
    /// inside a register tile and a cache block.
    /// </summary>
    [Theory]
    [InlineData(512, 392, 600, true)]    // many rows, few columns: split by rows (a convolution's batched forward)
    [InlineData(72, 2304, 700, false)]   // few rows, many columns: split by columns (a weight gradient)
    [InlineData(203, 517, 1100, true)]   // ragged edges and several k slices
    public void SplitGemmsGiveTheBitsOfOneThread(int m, int n, int k, bool rows)
    {
        var blk = PackedGemm.BlockingFor(PackedGemm.BestKernel);
        var split = PackedGemm.Split.For(blk, m, n, k, bUnitColumns: true, degree: 2);
        Assert.Equal(2, split.Parts);
        Assert.Equal(rows, split.Rows);
        float[] a = Random(m * k, 21), b = Random(k * n, 22), c0 = Random(m * n, 23);
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            var expected = (float[])c0.Clone();
            Gemm.Multiply(a, b, expected, m, n, k, ta, tb, 0.75f, 0.5f, 1);
            foreach (int threads in new[] { 2, 3, 4 })
            {
                var c = (float[])c0.Clone();
                Gemm.Multiply(a, b, c, m, n, k, ta, tb, 0.75f, 0.5f, threads);
                Assert.True(expected.AsSpan().SequenceEqual(c), $"{m}x{n}x{k} transA={ta} transB={tb} threads={threads}");
            }
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

    /// <summary>An r×c matrix in a strided buffer: element (i, j) at i·rs + j·cs, every other element a sentinel.</summary>
    private static float[] Place(float[] dense, int rows, int cols, int rs, int cs, float sentinel)
    {
        var data = new float[rows == 0 || cols == 0 ? 1 : (rows - 1) * rs + (cols - 1) * cs + 1];
        Array.Fill(data, sentinel);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) data[i * rs + j * cs] = dense[i * cols + j];
        return data;
    }

    /// <summary>Row-major with padded rows, column-major with padded columns (a transposed operand), and neither stride 1.</summary>
    private static (int Rs, int Cs)[] Layouts(int rows, int cols) => [(cols + 3, 1), (1, rows + 2), (2 * cols + 1, 2)];

    /// <summary>
    /// Operands read through a row and a column stride each (a transposed view, a matrix of a batch whose other axes
    /// interleave, a weight read as Bᵀ) and C at a row stride of its own give the bits of the contiguous call, for every
    /// kernel: the packed panels hold the same values whatever the strides. C's padding is not written.
    /// </summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void StridedOperandsGiveTheBitsOfTheContiguousCall(int m, int n, int k)
    {
        float[] a = Random(m * k, 4), b = Random(k * n, 5), c0 = Random(m * n, 6);
        int ldc = n + 4;
        foreach (var kind in AvailableKernels())
            foreach (var (alpha, beta) in new[] { (1f, 0f), (-0.5f, 0.75f) })
            {
                var expected = (float[])c0.Clone();
                PackedGemm.Multiply(kind, a, b, expected, m, n, k, false, false, alpha, beta, 2);
                foreach (var (ars, acs) in Layouts(m, k))
                    foreach (var (brs, bcs) in Layouts(k, n))
                    {
                        var c = Place(c0, m, n, ldc, 1, 12345f);
                        PackedGemm.MultiplyStrided(kind, Place(a, m, k, ars, acs, float.NaN), ars, acs, Place(b, k, n, brs, bcs, float.NaN), brs, bcs,
                            c, ldc, m, n, k, alpha, beta, 2);
                        for (int i = 0; i < m; i++)
                            for (int j = 0; j < ldc && i * ldc + j < c.Length; j++)
                            {
                                float want = j < n ? expected[i * n + j] : 12345f;
                                if (BitConverter.SingleToInt32Bits(c[i * ldc + j]) != BitConverter.SingleToInt32Bits(want))
                                    Assert.Fail($"{kind} m={m} n={n} k={k} A ({ars},{acs}) B ({brs},{bcs}) at ({i},{j}): {c[i * ldc + j]} vs {want}");
                            }
                    }
            }
    }

    /// <summary>
    /// A C of unit row stride (the gradient of a transposed operand, kept in its base's layout) is computed as
    /// Cᵀ = Bᵀ·Aᵀ: the same values as the row-major product, element for element.
    /// </summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void ColumnMajorCHoldsTheProduct(int m, int n, int k)
    {
        float[] a = Random(m * k, 7), b = Random(k * n, 8), c0 = Random(m * n, 9);
        var expected = (float[])c0.Clone();
        Gemm.Multiply(a, b, expected, m, n, k, alpha: 2f, beta: 0.5f);
        int ld = m + 1;
        var c = Place(c0, m, n, 1, ld, 0f);
        Gemm.MultiplyStrided(a, k, 1, b, n, 1, c, 1, ld, m, n, k, alpha: 2f, beta: 0.5f);
        float tolerance = 1e-5f * MathF.Sqrt(k) * 8;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                Assert.True(MathF.Abs(c[i + j * ld] - expected[i * n + j]) <= tolerance, $"m={m} n={n} k={k} at ({i},{j}): {c[i + j * ld]} vs {expected[i * n + j]}");
    }

    [Fact]
    public void StridesReachingPastAnOperandAreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            PackedGemm.MultiplyStrided(PackedGemm.BestKernel, new float[10], 1, 4, new float[12], 4, 1, new float[16], 4, 4, 4, 3, 1f, 0f, 1));
        Assert.Contains("reach 12", ex.Message);
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
