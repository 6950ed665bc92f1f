using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// Deterministic float32 reductions. The summation order depends only on the length (four vector accumulators
/// walking from index 0, a fixed combine, then the scalar tail), never on the address of the data or the thread
/// count, so a recomputed tensor reduces to exactly the same bits. TensorPrimitives' aggregates may align their loads
/// to the address, which is why these are separate.
/// </summary>
internal static class Reductions
{
    /// <summary>Σ x[i].</summary>
    public static float Sum(ReadOnlySpan<float> x) => Aggregate<SumOperator>(x, x, 0f);

    /// <summary>Σ x[i]·y[i] over the common length (spans must have the same length).</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length)
            throw new ArgumentException($"Dot: lengths differ ({x.Length} vs {y.Length}).");
        return Aggregate<ProductOperator>(x, y, 0f);
    }

    /// <summary>Σ (x[i] − mean)².</summary>
    public static float SumSquaredDeviation(ReadOnlySpan<float> x, float mean) =>
        Aggregate<SquaredDeviationOperator>(x, x, mean);

    /// <summary>Σ (x[i] − mean)·y[i] (spans must have the same length).</summary>
    public static float DotCentered(ReadOnlySpan<float> x, float mean, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length)
            throw new ArgumentException($"DotCentered: lengths differ ({x.Length} vs {y.Length}).");
        return Aggregate<CenteredProductOperator>(x, y, mean);
    }

    /// <summary>A term of a sum: f(x, y, s) per element, for scalars and vectors of either width.</summary>
    internal interface ITermOperator
    {
        static abstract float Invoke(float x, float y, float s);
        static abstract Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> s);
        static abstract Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> s);
    }

    internal readonly struct SumOperator : ITermOperator
    {
        public static float Invoke(float x, float y, float s) => x;
        public static Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> s) => x;
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> s) => x;
    }

    internal readonly struct ProductOperator : ITermOperator
    {
        public static float Invoke(float x, float y, float s) => x * y;
        public static Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> s) => x * y;
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> s) => x * y;
    }

    internal readonly struct SquaredDeviationOperator : ITermOperator
    {
        public static float Invoke(float x, float y, float s) => (x - s) * (x - s);
        public static Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> s) => (x - s) * (x - s);
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> s) => (x - s) * (x - s);
    }

    internal readonly struct CenteredProductOperator : ITermOperator
    {
        public static float Invoke(float x, float y, float s) => (x - s) * y;
        public static Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> s) => (x - s) * y;
        public static Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> s) => (x - s) * y;
    }

    /// <summary>Σ TOp(x[i], y[i], s) in a fixed, length-determined order.</summary>
    internal static float Aggregate<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, float s)
        where TOp : struct, ITermOperator
    {
        ref float px = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float py = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
        int length = x.Length, i = 0;
        float total = 0f;
        if (Vector512.IsHardwareAccelerated && length >= 64)
        {
            var vs = Vector512.Create(s);
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= length - 64; i += 64)
            {
                a0 += TOp.Invoke(Vector512.LoadUnsafe(ref px, (nuint)i), Vector512.LoadUnsafe(ref py, (nuint)i), vs);
                a1 += TOp.Invoke(Vector512.LoadUnsafe(ref px, (nuint)(i + 16)), Vector512.LoadUnsafe(ref py, (nuint)(i + 16)), vs);
                a2 += TOp.Invoke(Vector512.LoadUnsafe(ref px, (nuint)(i + 32)), Vector512.LoadUnsafe(ref py, (nuint)(i + 32)), vs);
                a3 += TOp.Invoke(Vector512.LoadUnsafe(ref px, (nuint)(i + 48)), Vector512.LoadUnsafe(ref py, (nuint)(i + 48)), vs);
            }
            total = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
        else if (Vector256.IsHardwareAccelerated && length >= 32)
        {
            var vs = Vector256.Create(s);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= length - 32; i += 32)
            {
                a0 += TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i), vs);
                a1 += TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)(i + 8)), Vector256.LoadUnsafe(ref py, (nuint)(i + 8)), vs);
                a2 += TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)(i + 16)), Vector256.LoadUnsafe(ref py, (nuint)(i + 16)), vs);
                a3 += TOp.Invoke(Vector256.LoadUnsafe(ref px, (nuint)(i + 24)), Vector256.LoadUnsafe(ref py, (nuint)(i + 24)), vs);
            }
            total = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        for (; i < length; i++)
            total += TOp.Invoke(Unsafe.Add(ref px, i), Unsafe.Add(ref py, i), s);
        return total;
    }
}
