namespace Recompute.Runtime.Kernels;

/// <summary>
/// General matrix multiply over row-major float32 matrices: C = alpha * op(A) * op(B) + beta * C, where op(A) is
/// m×k and op(B) is k×n. This is the contract every caller relies on; the implementation behind it may change.
/// </summary>
public static class Gemm
{
    /// <param name="a">A, stored row-major as m×k (or k×m when <paramref name="transA"/>).</param>
    /// <param name="b">B, stored row-major as k×n (or n×k when <paramref name="transB"/>).</param>
    /// <param name="c">C, row-major m×n.</param>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transA = false, bool transB = false, float alpha = 1f, float beta = 0f)
    {
        ReferenceGemm.Multiply(a, b, c, m, n, k, transA, transB, alpha, beta);
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
