using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// Exact GELU in float: y = x·Φ(x) = x·(1 + erf(x/√2))/2 and its derivative Φ(x) + x·φ(x), on <see cref="Erf"/>'s
/// polynomial (absolute error below 3e-7, so below 1.5e-7·|x| in y). Elements go in blocks of
/// <see cref="Block"/> and only the last partial block takes the scalar path, so which path an element takes depends
/// on its index and the length alone: callers that split the range at multiples of <see cref="Block"/> get the same
/// bits on any number of threads.
/// </summary>
internal static class Gelu
{
    /// <summary>Elements per vector: a thread's range must start at a multiple of this.</summary>
    public const int Block = 16;

    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;

    /// <summary>output[i] = gelu(input[i]) for i in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public static void Forward(ReadOnlySpan<float> input, Span<float> output, int from, int to)
    {
        Check(input.Length, output.Length, from, to);
        ref float px = ref MemoryMarshal.GetReference(input);
        ref float py = ref MemoryMarshal.GetReference(output);
        int i = from;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= to - Block; i += Block)
            {
                var x = Vector512.LoadUnsafe(ref px, (nuint)i);
                var cdf = Vector512.Create(0.5f) * (Vector512.Create(1f) + Erf.Evaluate(x * Vector512.Create(InvSqrt2)));
                (x * cdf).StoreUnsafe(ref py, (nuint)i);
            }
        for (; i < to; i++)
        {
            float x = Unsafe.Add(ref px, i);
            Unsafe.Add(ref py, i) = x * (0.5f * (1f + Erf.Evaluate(x * InvSqrt2)));
        }
    }

    /// <summary>gradInput[i] = gradOutput[i]·(Φ(x) + x·φ(x)) for i in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public static void Backward(ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput, Span<float> gradInput, int from, int to)
    {
        Check(input.Length, gradInput.Length, from, to);
        Conv2d.CheckLength(gradOutput.Length, input.Length, "gradOutput");
        ref float px = ref MemoryMarshal.GetReference(input);
        ref float pg = ref MemoryMarshal.GetReference(gradOutput);
        ref float pd = ref MemoryMarshal.GetReference(gradInput);
        int i = from;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= to - Block; i += Block)
            {
                var x = Vector512.LoadUnsafe(ref px, (nuint)i);
                var cdf = Vector512.Create(0.5f) * (Vector512.Create(1f) + Erf.Evaluate(x * Vector512.Create(InvSqrt2)));
                var pdf = Vector512.Create(InvSqrt2Pi) * Vector512.Exp(Vector512.Create(-0.5f) * x * x);
                (Vector512.LoadUnsafe(ref pg, (nuint)i) * (cdf + x * pdf)).StoreUnsafe(ref pd, (nuint)i);
            }
        for (; i < to; i++)
        {
            float x = Unsafe.Add(ref px, i);
            float cdf = 0.5f * (1f + Erf.Evaluate(x * InvSqrt2));
            float pdf = InvSqrt2Pi * MathF.Exp(-0.5f * x * x);
            Unsafe.Add(ref pd, i) = Unsafe.Add(ref pg, i) * (cdf + x * pdf);
        }
    }

    private static void Check(int inputLength, int outputLength, int from, int to)
    {
        Conv2d.CheckLength(outputLength, inputLength, "output");
        if (from < 0 || to > inputLength || from > to)
            throw new ArgumentOutOfRangeException(nameof(from), $"range [{from}, {to}) outside [0, {inputLength})");
    }
}
