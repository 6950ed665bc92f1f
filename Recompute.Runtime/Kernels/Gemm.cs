namespace Recompute.Runtime.Kernels;

/// <summary>
/// General matrix multiply over row-major float32 matrices: C = alpha * op(A) * op(B) + beta * C, where op(A) is
/// m×k and op(B) is k×n. This is the contract every caller relies on; the implementation behind it may change.
/// </summary>
/// <remarks>
/// The implementation is a packed, cache-blocked GEMM (<see cref="PackedGemm"/>) with an AVX-512, AVX2+FMA or scalar
/// register-tile kernel. Results are bitwise identical for any thread count: every element of C is produced by one
/// thread, always with the same blocking and the same summation order over k. When beta is 0,
/// C is not read (it may hold garbage, even NaN).
/// </remarks>
internal static class Gemm
{
    /// <param name="a">A, stored row-major as m×k (or k×m when <paramref name="transA"/>).</param>
    /// <param name="b">B, stored row-major as k×n (or n×k when <paramref name="transB"/>).</param>
    /// <param name="c">C, row-major m×n.</param>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transA = false, bool transB = false, float alpha = 1f, float beta = 0f)
    {
        PackedGemm.Multiply(PackedGemm.BestKernel, a, b, c, m, n, k, transA, transB, alpha, beta,
            KernelOptions.MaxDegreeOfParallelism);
    }

    /// <summary>As <see cref="Multiply(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int, int, bool, bool, float, float)"/>
    /// with an explicit thread limit for this call (the result does not depend on it).</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transA, bool transB, float alpha, float beta, int maxDegreeOfParallelism)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDegreeOfParallelism, 1);
        PackedGemm.Multiply(PackedGemm.BestKernel, a, b, c, m, n, k, transA, transB, alpha, beta,
            maxDegreeOfParallelism);
    }

    /// <summary>
    /// C = alpha·A·B + beta·C over strided matrices: A(i, p) = a[i·ars + p·acs] (m×k), B(p, j) = b[p·brs + j·bcs] (k×n)
    /// and C(i, j) = c[i·crs + j·ccs] (m×n), one of C's strides being 1. A C with unit row stride (a gradient kept in a
    /// transposed operand's layout) is computed as Cᵀ = Bᵀ·Aᵀ. As fast as the contiguous call when one stride of each
    /// operand is 1; the bits of C do not depend on the strides.
    /// </summary>
    public static void MultiplyStrided(ReadOnlySpan<float> a, int ars, int acs, ReadOnlySpan<float> b, int brs, int bcs,
        Span<float> c, int crs, int ccs, int m, int n, int k, float alpha = 1f, float beta = 0f, int maxDegreeOfParallelism = 0)
    {
        int degree = maxDegreeOfParallelism > 0 ? maxDegreeOfParallelism : KernelOptions.MaxDegreeOfParallelism;
        if (ccs == 1 || n <= 1)
            PackedGemm.MultiplyStrided(PackedGemm.BestKernel, a, ars, acs, b, brs, bcs, c, n <= 1 ? Math.Max(crs, 1) : crs, m, n, k, alpha, beta, degree);
        else if (crs == 1 || m <= 1)
            PackedGemm.MultiplyStrided(PackedGemm.BestKernel, b, bcs, brs, a, acs, ars, c, ccs, n, m, k, alpha, beta, degree);
        else
            throw new ArgumentException($"C's strides ({crs}, {ccs}) have no unit stride.");
    }
}

/// <summary>
/// A batch of independent GEMMs over strided operands: for i in [0, batch), C_i = alpha·op(A_i)·op(B_i) + beta·C_i
/// with A_i = a[i·strideA ..], B_i = b[i·strideB ..], C_i = c[i·strideC ..] (a stride of 0 broadcasts an operand).
/// Items run in parallel with single-threaded GEMMs when there are enough of them; each C_i is computed exactly as
/// <see cref="Gemm.Multiply(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int, int, bool, bool, float, float)"/>
/// would, so results do not depend on the thread count. C blocks must not overlap.
/// </summary>
internal static class BatchedGemm
{
    public static unsafe void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int batch, int m,
        int n, int k, long strideA, long strideB, long strideC, bool transA = false, bool transB = false,
        float alpha = 1f, float beta = 0f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(strideA);
        ArgumentOutOfRangeException.ThrowIfNegative(strideB);
        if (batch == 0)
            return;
        long sizeA = (long)m * k, sizeB = (long)k * n, sizeC = (long)m * n;
        if (strideC < sizeC && batch > 1)
            throw new ArgumentException($"strideC ({strideC}) is smaller than one C block ({sizeC}): blocks would overlap.");
        RequireLength(a.Length, (batch - 1) * strideA + sizeA, "a");
        RequireLength(b.Length, (batch - 1) * strideB + sizeB, "b");
        RequireLength(c.Length, (batch - 1) * strideC + sizeC, "c");
        int degree = KernelOptions.MaxDegreeOfParallelism;
        if (degree == 1 || batch == 1 || sizeC * k < 32L * 32 * 32)
        {
            for (int i = 0; i < batch; i++)
                Gemm.Multiply(a.Slice((int)(i * strideA), (int)sizeA), b.Slice((int)(i * strideB), (int)sizeB),
                    c.Slice((int)(i * strideC), (int)sizeC), m, n, k, transA, transB, alpha, beta, degree);
            return;
        }
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
            WorkerPool.For(batch, degree, new Item(pa, pb, pc, m, n, k, strideA, strideB, strideC, transA, transB, alpha, beta));
    }

    /// <summary>GEMM i of the batch, single-threaded, on pinned operands.</summary>
    private readonly unsafe struct Item(float* a, float* b, float* c, int m, int n, int k, long strideA, long strideB, long strideC,
        bool transA, bool transB, float alpha, float beta) : IIndexBody
    {
        public void Run(int i) =>
            Gemm.Multiply(new ReadOnlySpan<float>(a + i * strideA, m * k), new ReadOnlySpan<float>(b + i * strideB, k * n),
                new Span<float>(c + i * strideC, m * n), m, n, k, transA, transB, alpha, beta, 1);
    }

    private static void RequireLength(int actual, long required, string name)
    {
        if (actual < required)
            throw new ArgumentException($"{name} has {actual} elements, the batch needs {required}.", name);
    }
}

/// <summary>The plain triple loop that every optimised GEMM is tested against.</summary>
internal static class ReferenceGemm
{
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transA = false, bool transB = false, float alpha = 1f, float beta = 0f)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * m + i] : a[i * k + p];
                    float bv = transB ? b[j * k + p] : b[p * n + j];
                    sum += av * bv;
                }
                float prior = beta == 0f ? 0f : beta * c[i * n + j];
                c[i * n + j] = (float)(alpha * sum) + prior;
            }
    }
}
