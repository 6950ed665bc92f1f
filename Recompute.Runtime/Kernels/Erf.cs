using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// The error function (for GELU = x·(1 + erf(x/√2))/2) and its derivative 2/√π·exp(−x²). Absolute error below
/// 3e-7: an odd Taylor polynomial for |x| &lt; 0.5 and Abramowitz–Stegun 7.1.26 (1 − P(t)·exp(−x²),
/// t = 1/(1 + p|x|)) beyond. Scalar and vector paths use the same formula;
/// which path an element takes depends only on its index and the length, so results are reproducible.
/// </summary>
internal static class Erf
{
    private const float TwoOverSqrtPi = 1.12837916709551257f;

    /// <summary>output[i] = erf(input[i]). <paramref name="output"/> may alias the input.</summary>
    public static void Forward(ReadOnlySpan<float> input, Span<float> output)
    {
        Conv2d.CheckLength(output.Length, input.Length, "output");
        ref float px = ref MemoryMarshal.GetReference(input);
        ref float py = ref MemoryMarshal.GetReference(output);
        int i = 0, length = input.Length;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= length - 16; i += 16)
                Evaluate(Vector512.LoadUnsafe(ref px, (nuint)i)).StoreUnsafe(ref py, (nuint)i);
        for (; i < length; i++)
            Unsafe.Add(ref py, i) = Evaluate(Unsafe.Add(ref px, i));
    }

    /// <summary>gradInput (+)= gradOutput · 2/√π · exp(−x²).</summary>
    public static void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput, Span<float> gradInput,
        bool accumulate = false)
    {
        Conv2d.CheckLength(gradOutput.Length, input.Length, "gradOutput");
        Conv2d.CheckLength(gradInput.Length, input.Length, "gradInput");
        for (int i = 0; i < input.Length; i++)
        {
            float x = input[i];
            float v = gradOutput[i] * (TwoOverSqrtPi * MathF.Exp(-(x * x)));
            gradInput[i] = accumulate ? gradInput[i] + v : v;
        }
    }

    /// <summary>erf of one value.</summary>
    public static float Evaluate(float x)
    {
        float ax = MathF.Abs(x);
        if (ax < 0.5f)
        {
            float x2 = x * x;
            // 2/√π · (x − x³/3 + x⁵/10 − x⁷/42 + x⁹/216 − x¹¹/1320)
            float p = -1f / 1320f;
            p = p * x2 + 1f / 216f;
            p = p * x2 - 1f / 42f;
            p = p * x2 + 1f / 10f;
            p = p * x2 - 1f / 3f;
            p = p * x2 + 1f;
            return TwoOverSqrtPi * x * p;
        }
        float t = 1f / (1f + 0.3275911f * ax);
        float q = 1.061405429f;
        q = q * t - 1.453152027f;
        q = q * t + 1.421413741f;
        q = q * t - 0.284496736f;
        q = q * t + 0.254829592f;
        float r = 1f - q * t * MathF.Exp(-(ax * ax));
        return x < 0 ? -r : r;
    }

    /// <summary>erf of each lane (the same formula as the scalar overload).</summary>
    public static Vector512<float> Evaluate(Vector512<float> x)
    {
        var ax = Vector512.Abs(x);
        var x2 = x * x;
        var p = Vector512.Create(-1f / 1320f);
        p = p * x2 + Vector512.Create(1f / 216f);
        p = p * x2 - Vector512.Create(1f / 42f);
        p = p * x2 + Vector512.Create(1f / 10f);
        p = p * x2 - Vector512.Create(1f / 3f);
        p = p * x2 + Vector512.Create(1f);
        var small = Vector512.Create(TwoOverSqrtPi) * x * p;

        var t = Vector512.Create(1f) / (Vector512.Create(1f) + Vector512.Create(0.3275911f) * ax);
        var q = Vector512.Create(1.061405429f);
        q = q * t - Vector512.Create(1.453152027f);
        q = q * t + Vector512.Create(1.421413741f);
        q = q * t - Vector512.Create(0.284496736f);
        q = q * t + Vector512.Create(0.254829592f);
        var e = Vector512.Exp(-(ax * ax));
        var r = Vector512.Create(1f) - q * t * e;
        var large = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), -r, r);
        return Vector512.ConditionalSelect(Vector512.LessThan(ax, Vector512.Create(0.5f)), small, large);
    }
}
