using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recompute.Runtime.Kernels;

/// <summary>The coefficients of one Adam update, in the float precision the update runs in.</summary>
/// <param name="Beta1">First-moment decay.</param>
/// <param name="Beta2">Second-moment decay.</param>
/// <param name="Epsilon">Added to the root of the second moment.</param>
/// <param name="Correction1">1 − β₁ᵗ.</param>
/// <param name="Correction2">1 − β₂ᵗ.</param>
/// <param name="LearningRate">This step's rate.</param>
/// <param name="WeightDecay">L2 (added to the gradient) or decoupled (AdamW) decay; 0 for none.</param>
/// <param name="Decoupled">Whether the decay is decoupled.</param>
internal readonly record struct AdamCoefficients(float Beta1, float Beta2, float Epsilon, float Correction1, float Correction2,
    float LearningRate, float WeightDecay, bool Decoupled);

/// <summary>
/// One Adam update over a parameter's elements. The vector and scalar paths evaluate the same sequence of correctly
/// rounded operations (no fused multiply-add), so each element's result is the same bits whichever path or thread
/// handles it; the update is memory-bound (seven floats moved per element), so it splits across threads.
/// </summary>
internal static class AdamKernel
{
    /// <summary>m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; w ← w − lr·(m/c₁)/(√(v/c₂) + ε), with weight decay as configured.</summary>
    public static void Update(Span<float> weights, ReadOnlySpan<float> gradient, Span<float> m, Span<float> v, in AdamCoefficients c)
    {
        Conv2d.CheckLength(gradient.Length, weights.Length, "gradient");
        Conv2d.CheckLength(m.Length, weights.Length, "first moment");
        Conv2d.CheckLength(v.Length, weights.Length, "second moment");
        float b1 = c.Beta1, b2 = c.Beta2, eps = c.Epsilon, c1 = c.Correction1, c2 = c.Correction2, lr = c.LearningRate;
        float a1 = 1f - b1, a2 = 1f - b2;
        float l2 = c.Decoupled ? 0f : c.WeightDecay, decay = c.Decoupled ? lr * c.WeightDecay : 0f;
        ref float pw = ref MemoryMarshal.GetReference(weights);
        ref float pg = ref MemoryMarshal.GetReference(gradient);
        ref float pm = ref MemoryMarshal.GetReference(m);
        ref float pv = ref MemoryMarshal.GetReference(v);
        int i = 0, length = weights.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            var vb1 = Vector256.Create(b1); var vb2 = Vector256.Create(b2); var va1 = Vector256.Create(a1); var va2 = Vector256.Create(a2);
            var vc1 = Vector256.Create(c1); var vc2 = Vector256.Create(c2); var veps = Vector256.Create(eps); var vlr = Vector256.Create(lr);
            var vl2 = Vector256.Create(l2); var vdecay = Vector256.Create(decay);
            for (; i <= length - 8; i += 8)
            {
                var w = Vector256.LoadUnsafe(ref pw, (nuint)i);
                var g = Vector256.LoadUnsafe(ref pg, (nuint)i);
                if (l2 != 0f) g += vl2 * w;
                var mi = vb1 * Vector256.LoadUnsafe(ref pm, (nuint)i) + va1 * g;
                var vi = vb2 * Vector256.LoadUnsafe(ref pv, (nuint)i) + va2 * g * g;
                if (decay != 0f) w -= vdecay * w;
                w -= vlr * (mi / vc1) / (Vector256.Sqrt(vi / vc2) + veps);
                mi.StoreUnsafe(ref pm, (nuint)i);
                vi.StoreUnsafe(ref pv, (nuint)i);
                w.StoreUnsafe(ref pw, (nuint)i);
            }
        }
        for (; i < length; i++)
        {
            float w = Unsafe.Add(ref pw, i), g = Unsafe.Add(ref pg, i);
            if (l2 != 0f) g += l2 * w;
            float mi = b1 * Unsafe.Add(ref pm, i) + a1 * g;
            float vi = b2 * Unsafe.Add(ref pv, i) + a2 * g * g;
            if (decay != 0f) w -= decay * w;
            w -= lr * (mi / c1) / (MathF.Sqrt(vi / c2) + eps);
            Unsafe.Add(ref pm, i) = mi;
            Unsafe.Add(ref pv, i) = vi;
            Unsafe.Add(ref pw, i) = w;
        }
    }
}
