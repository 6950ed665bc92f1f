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
public static class Gemm
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
}

/// <summary>The plain triple loop that every optimised GEMM is tested against.</summary>
public static class ReferenceGemm
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
