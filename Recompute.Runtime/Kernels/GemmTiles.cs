using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recompute.Runtime.Kernels;

// Register-tile kernels of PackedGemm. Each multiplies a packed MR×kc A sliver (MR values per p) by a kc×NR B sliver
// (NR values per p, consecutive p ldb floats apart: NR when packed, n when read in place) and merges the tile into C:
// mode 0 writes alpha*acc (C not read), mode 1 writes
// alpha*acc + beta*C, mode 2 writes C + alpha*acc. The loops are written out by hand so that the JIT keeps every
// accumulator in a register.

/// <summary>AVX-512F tiles (16 floats per vector, 32 vector registers).</summary>
internal static unsafe class Tile512
{
    /// <summary>8×32 register tile: 16 accumulators of 16 lanes, A broadcast per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run8x32(int kc, float* a, float* b, int ldb, float* c, int ldc, float alpha, float beta, int mode)
    {
        // Pull the C tile towards L1 while the k loop runs; it is read (modes 1, 2) or written at the end.
        for (int r = 0; r < 8; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 31);
        }
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        Vector512<float> a0, b0, b1;
        int p = 0;
        for (; p <= kc - 2; p += 2)
        {
            b0 = Vector512.Load(b + 0); b1 = Vector512.Load(b + 16);
            a0 = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            a0 = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(a0, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a0, b1, c11);
            a0 = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(a0, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a0, b1, c21);
            a0 = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(a0, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a0, b1, c31);
            a0 = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(a0, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a0, b1, c41);
            a0 = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(a0, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a0, b1, c51);
            a0 = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(a0, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a0, b1, c61);
            a0 = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(a0, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a0, b1, c71);
            b0 = Vector512.Load(b + ldb); b1 = Vector512.Load(b + ldb + 16);
            a0 = Vector512.Create(a[8]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            a0 = Vector512.Create(a[9]);
            c10 = Avx512F.FusedMultiplyAdd(a0, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a0, b1, c11);
            a0 = Vector512.Create(a[10]);
            c20 = Avx512F.FusedMultiplyAdd(a0, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a0, b1, c21);
            a0 = Vector512.Create(a[11]);
            c30 = Avx512F.FusedMultiplyAdd(a0, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a0, b1, c31);
            a0 = Vector512.Create(a[12]);
            c40 = Avx512F.FusedMultiplyAdd(a0, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a0, b1, c41);
            a0 = Vector512.Create(a[13]);
            c50 = Avx512F.FusedMultiplyAdd(a0, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a0, b1, c51);
            a0 = Vector512.Create(a[14]);
            c60 = Avx512F.FusedMultiplyAdd(a0, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a0, b1, c61);
            a0 = Vector512.Create(a[15]);
            c70 = Avx512F.FusedMultiplyAdd(a0, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a0, b1, c71);
            a += 16; b += 2 * ldb;
        }
        for (; p < kc; p++)
        {
            b0 = Vector512.Load(b + 0); b1 = Vector512.Load(b + 16);
            a0 = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            a0 = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(a0, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a0, b1, c11);
            a0 = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(a0, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a0, b1, c21);
            a0 = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(a0, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a0, b1, c31);
            a0 = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(a0, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a0, b1, c41);
            a0 = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(a0, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a0, b1, c51);
            a0 = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(a0, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a0, b1, c61);
            a0 = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(a0, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a0, b1, c71);
            a += 8; b += ldb;
        }
        Vector512<float> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
        Store(c + 0 * ldc, c00, c01, va, vb, mode);
        Store(c + 1 * ldc, c10, c11, va, vb, mode);
        Store(c + 2 * ldc, c20, c21, va, vb, mode);
        Store(c + 3 * ldc, c30, c31, va, vb, mode);
        Store(c + 4 * ldc, c40, c41, va, vb, mode);
        Store(c + 5 * ldc, c50, c51, va, vb, mode);
        Store(c + 6 * ldc, c60, c61, va, vb, mode);
        Store(c + 7 * ldc, c70, c71, va, vb, mode);
    }


    /// <summary>12×32 register tile: 24 accumulators of 16 lanes, A broadcast per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run12x32(int kc, float* a, float* b, int ldb, float* c, int ldc, float alpha, float beta, int mode)
    {
        // Pull the C tile towards L1 while the k loop runs; it is read (modes 1, 2) or written at the end.
        for (int r = 0; r < 12; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 31);
        }
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default;
        Vector512<float> c100 = default, c101 = default;
        Vector512<float> c110 = default, c111 = default;
        Vector512<float> a0, b0, b1;
        int p = 0;
        for (; p <= kc - 2; p += 2)
        {
            b0 = Vector512.Load(b + 0); b1 = Vector512.Load(b + 16);
            a0 = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            a0 = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(a0, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a0, b1, c11);
            a0 = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(a0, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a0, b1, c21);
            a0 = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(a0, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a0, b1, c31);
            a0 = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(a0, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a0, b1, c41);
            a0 = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(a0, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a0, b1, c51);
            a0 = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(a0, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a0, b1, c61);
            a0 = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(a0, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a0, b1, c71);
            a0 = Vector512.Create(a[8]);
            c80 = Avx512F.FusedMultiplyAdd(a0, b0, c80); c81 = Avx512F.FusedMultiplyAdd(a0, b1, c81);
            a0 = Vector512.Create(a[9]);
            c90 = Avx512F.FusedMultiplyAdd(a0, b0, c90); c91 = Avx512F.FusedMultiplyAdd(a0, b1, c91);
            a0 = Vector512.Create(a[10]);
            c100 = Avx512F.FusedMultiplyAdd(a0, b0, c100); c101 = Avx512F.FusedMultiplyAdd(a0, b1, c101);
            a0 = Vector512.Create(a[11]);
            c110 = Avx512F.FusedMultiplyAdd(a0, b0, c110); c111 = Avx512F.FusedMultiplyAdd(a0, b1, c111);
            b0 = Vector512.Load(b + ldb); b1 = Vector512.Load(b + ldb + 16);
            a0 = Vector512.Create(a[12]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            a0 = Vector512.Create(a[13]);
            c10 = Avx512F.FusedMultiplyAdd(a0, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a0, b1, c11);
            a0 = Vector512.Create(a[14]);
            c20 = Avx512F.FusedMultiplyAdd(a0, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a0, b1, c21);
            a0 = Vector512.Create(a[15]);
            c30 = Avx512F.FusedMultiplyAdd(a0, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a0, b1, c31);
            a0 = Vector512.Create(a[16]);
            c40 = Avx512F.FusedMultiplyAdd(a0, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a0, b1, c41);
            a0 = Vector512.Create(a[17]);
            c50 = Avx512F.FusedMultiplyAdd(a0, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a0, b1, c51);
            a0 = Vector512.Create(a[18]);
            c60 = Avx512F.FusedMultiplyAdd(a0, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a0, b1, c61);
            a0 = Vector512.Create(a[19]);
            c70 = Avx512F.FusedMultiplyAdd(a0, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a0, b1, c71);
            a0 = Vector512.Create(a[20]);
            c80 = Avx512F.FusedMultiplyAdd(a0, b0, c80); c81 = Avx512F.FusedMultiplyAdd(a0, b1, c81);
            a0 = Vector512.Create(a[21]);
            c90 = Avx512F.FusedMultiplyAdd(a0, b0, c90); c91 = Avx512F.FusedMultiplyAdd(a0, b1, c91);
            a0 = Vector512.Create(a[22]);
            c100 = Avx512F.FusedMultiplyAdd(a0, b0, c100); c101 = Avx512F.FusedMultiplyAdd(a0, b1, c101);
            a0 = Vector512.Create(a[23]);
            c110 = Avx512F.FusedMultiplyAdd(a0, b0, c110); c111 = Avx512F.FusedMultiplyAdd(a0, b1, c111);
            a += 24; b += 2 * ldb;
        }
        for (; p < kc; p++)
        {
            b0 = Vector512.Load(b + 0); b1 = Vector512.Load(b + 16);
            a0 = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(a0, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a0, b1, c01);
            a0 = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(a0, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a0, b1, c11);
            a0 = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(a0, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a0, b1, c21);
            a0 = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(a0, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a0, b1, c31);
            a0 = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(a0, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a0, b1, c41);
            a0 = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(a0, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a0, b1, c51);
            a0 = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(a0, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a0, b1, c61);
            a0 = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(a0, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a0, b1, c71);
            a0 = Vector512.Create(a[8]);
            c80 = Avx512F.FusedMultiplyAdd(a0, b0, c80); c81 = Avx512F.FusedMultiplyAdd(a0, b1, c81);
            a0 = Vector512.Create(a[9]);
            c90 = Avx512F.FusedMultiplyAdd(a0, b0, c90); c91 = Avx512F.FusedMultiplyAdd(a0, b1, c91);
            a0 = Vector512.Create(a[10]);
            c100 = Avx512F.FusedMultiplyAdd(a0, b0, c100); c101 = Avx512F.FusedMultiplyAdd(a0, b1, c101);
            a0 = Vector512.Create(a[11]);
            c110 = Avx512F.FusedMultiplyAdd(a0, b0, c110); c111 = Avx512F.FusedMultiplyAdd(a0, b1, c111);
            a += 12; b += ldb;
        }
        Vector512<float> va = Vector512.Create(alpha), vb = Vector512.Create(beta);
        Store(c + 0 * ldc, c00, c01, va, vb, mode);
        Store(c + 1 * ldc, c10, c11, va, vb, mode);
        Store(c + 2 * ldc, c20, c21, va, vb, mode);
        Store(c + 3 * ldc, c30, c31, va, vb, mode);
        Store(c + 4 * ldc, c40, c41, va, vb, mode);
        Store(c + 5 * ldc, c50, c51, va, vb, mode);
        Store(c + 6 * ldc, c60, c61, va, vb, mode);
        Store(c + 7 * ldc, c70, c71, va, vb, mode);
        Store(c + 8 * ldc, c80, c81, va, vb, mode);
        Store(c + 9 * ldc, c90, c91, va, vb, mode);
        Store(c + 10 * ldc, c100, c101, va, vb, mode);
        Store(c + 11 * ldc, c110, c111, va, vb, mode);
    }


    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> acc0, Vector512<float> acc1, Vector512<float> alpha,
        Vector512<float> beta, int mode)
    {
        switch (mode)
        {
            case 0:
                Vector512.Store(acc0 * alpha, c);
                Vector512.Store(acc1 * alpha, c + 16);
                break;
            case 1:
                Vector512.Store(acc0 * alpha + Vector512.Load(c) * beta, c);
                Vector512.Store(acc1 * alpha + Vector512.Load(c + 16) * beta, c + 16);
                break;
            default:
                Vector512.Store(Vector512.Load(c) + acc0 * alpha, c);
                Vector512.Store(Vector512.Load(c + 16) + acc1 * alpha, c + 16);
                break;
        }
    }
}

/// <summary>AVX2 + FMA tiles (8 floats per vector, 16 vector registers).</summary>
internal static unsafe class Tile256
{
    /// <summary>6×16 register tile: 12 accumulators of 8 lanes, A broadcast per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run6x16(int kc, float* a, float* b, int ldb, float* c, int ldc, float alpha, float beta, int mode)
    {
        Vector256<float> c00 = default, c01 = default;
        Vector256<float> c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default;
        Vector256<float> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> a0 = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(a0, b0, c00); c01 = Fma.MultiplyAdd(a0, b1, c01);
            Vector256<float> a1 = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(a1, b0, c10); c11 = Fma.MultiplyAdd(a1, b1, c11);
            Vector256<float> a2 = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(a2, b0, c20); c21 = Fma.MultiplyAdd(a2, b1, c21);
            Vector256<float> a3 = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(a3, b0, c30); c31 = Fma.MultiplyAdd(a3, b1, c31);
            Vector256<float> a4 = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(a4, b0, c40); c41 = Fma.MultiplyAdd(a4, b1, c41);
            Vector256<float> a5 = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(a5, b0, c50); c51 = Fma.MultiplyAdd(a5, b1, c51);
            a += 6; b += ldb;
        }
        Vector256<float> va = Vector256.Create(alpha), vb = Vector256.Create(beta);
        Store(c + 0 * ldc, c00, c01, va, vb, mode);
        Store(c + 1 * ldc, c10, c11, va, vb, mode);
        Store(c + 2 * ldc, c20, c21, va, vb, mode);
        Store(c + 3 * ldc, c30, c31, va, vb, mode);
        Store(c + 4 * ldc, c40, c41, va, vb, mode);
        Store(c + 5 * ldc, c50, c51, va, vb, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector256<float> acc0, Vector256<float> acc1, Vector256<float> alpha,
        Vector256<float> beta, int mode)
    {
        switch (mode)
        {
            case 0:
                Vector256.Store(acc0 * alpha, c);
                Vector256.Store(acc1 * alpha, c + 8);
                break;
            case 1:
                Vector256.Store(acc0 * alpha + Vector256.Load(c) * beta, c);
                Vector256.Store(acc1 * alpha + Vector256.Load(c + 8) * beta, c + 8);
                break;
            default:
                Vector256.Store(Vector256.Load(c) + acc0 * alpha, c);
                Vector256.Store(Vector256.Load(c + 8) + acc1 * alpha, c + 8);
                break;
        }
    }
}

/// <summary>Portable scalar 4×4 tile for machines without SIMD FMA.</summary>
internal static unsafe class TileScalar
{
    public static void Run4x4(int kc, float* a, float* b, int ldb, float* c, int ldc, float alpha, float beta, int mode)
    {
        float* acc = stackalloc float[16];
        for (int i = 0; i < 16; i++) acc[i] = 0f;
        for (int p = 0; p < kc; p++, a += 4, b += ldb)
            for (int r = 0; r < 4; r++)
            {
                float av = a[r];
                acc[r * 4 + 0] += av * b[0];
                acc[r * 4 + 1] += av * b[1];
                acc[r * 4 + 2] += av * b[2];
                acc[r * 4 + 3] += av * b[3];
            }
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < 4; j++)
            {
                float* dst = c + r * ldc + j;
                float v = acc[r * 4 + j];
                *dst = mode switch { 0 => v * alpha, 1 => v * alpha + *dst * beta, _ => *dst + v * alpha };
            }
    }
}
