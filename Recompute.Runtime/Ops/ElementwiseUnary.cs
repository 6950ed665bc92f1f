using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// The scalar rule of an element-wise unary operator. Its derivative is written from the output when
/// <see cref="FromOutput"/> (as <see cref="SavedTensors"/> says the backward reads it), else from the input.
/// </summary>
internal interface IUnaryRule<TSelf> where TSelf : IUnaryRule<TSelf>
{
    static abstract float Apply(float x);
    /// <summary>True when <see cref="Grad(float, float)"/> takes the output y, false when it takes the input x.</summary>
    static abstract bool FromOutput { get; }
    /// <summary>The input gradient from the output gradient <paramref name="g"/> and y (or x, see <see cref="FromOutput"/>).</summary>
    static abstract float Grad(float v, float g);

    /// <summary>y[i] = Apply(x[i]) over a range; rules with an exact vector form override it (each element's bits are
    /// those of the scalar rule, so a recomputation matches whatever the buffer's alignment).</summary>
    static virtual void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < y.Length; i++) y[i] = TSelf.Apply(x[i]);
    }

    /// <summary>dx[i] = Grad(v[i], g[i]) over a range (see the span form of <see cref="Apply(ReadOnlySpan{float}, Span{float})"/>).</summary>
    static virtual void Grad(ReadOnlySpan<float> v, ReadOnlySpan<float> g, Span<float> dx)
    {
        for (int i = 0; i < dx.Length; i++) dx[i] = TSelf.Grad(v[i], g[i]);
    }
}

/// <summary>Relu, Sqrt, Erf, Tanh, Sigmoid, Exp, Neg.</summary>
internal sealed class ElementwiseUnary<TRule> : Operator where TRule : struct, IUnaryRule<TRule>
{
    private readonly bool _reads;

    /// <param name="reads">False for rules whose gradient reads no value (Neg).</param>
    public ElementwiseUnary(bool reads = true) { _reads = reads; }

    public override unsafe void Forward(OpCall call, Tensor output)
    {
        fixed (float* px = call.Input(0).Span)
        fixed (float* py = output.Span)
            ParallelRanges.For(output.Length, 2L * output.Length, new ApplyRange(px, py));
    }

    private readonly unsafe struct ApplyRange(float* x, float* y) : IRangeBody
    {
        public void Run(int from, int to) =>
            TRule.Apply(new ReadOnlySpan<float>(x + from, to - from), new Span<float>(y + from, to - from));
    }

    private readonly unsafe struct GradRange(float* v, float* g, float* dx) : IRangeBody
    {
        public void Run(int from, int to) => TRule.Grad(new ReadOnlySpan<float>(v + from, to - from),
            new ReadOnlySpan<float>(g + from, to - from), new Span<float>(dx + from, to - from));
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        if (!_reads)
        {
            for (int i = 0; i < gradInput.Length; i++) gradInput[i] = TRule.Grad(0f, g[i]);
            return;
        }
        if (TRule.FromOutput && !call.HasOutput)
        {
            // A node that kept its input instead of its output (per-node needs of an older file): recompute y here.
            var x = call.Input(0).Span;
            for (int i = 0; i < gradInput.Length; i++) gradInput[i] = TRule.Grad(TRule.Apply(x[i]), g[i]);
            return;
        }
        var v = TRule.FromOutput ? call.Output() : call.Input(0);
        GradOver(v, g, gradInput);
    }

    private static unsafe void GradOver(Tensor v, ReadOnlySpan<float> g, Span<float> gradInput)
    {
        fixed (float* pv = v.Span)
        fixed (float* pg = g)
        fixed (float* pd = gradInput)
        {
            int length = gradInput.Length;
            ParallelRanges.For(length, 3L * length, new GradRange(pv, pg, pd));
        }
    }
}

internal struct ReluRule : IUnaryRule<ReluRule>
{
    public static float Apply(float x) => x > 0f ? x : 0f;
    public static bool FromOutput => true;
    public static float Grad(float y, float g) => y > 0f ? g : 0f;

    public static void Apply(ReadOnlySpan<float> x, Span<float> y) => VectorRules.Clamp(x, 0f, float.PositiveInfinity, y);

    public static void Grad(ReadOnlySpan<float> y, ReadOnlySpan<float> g, Span<float> dx) => VectorRules.PassWhere(y, 0f,
        float.PositiveInfinity, g, dx, lowInclusive: false);
}

internal struct SqrtRule : IUnaryRule<SqrtRule>
{
    public static float Apply(float x) => MathF.Sqrt(x);
    public static bool FromOutput => true;
    public static float Grad(float y, float g) => g * 0.5f / y;
}

internal struct ErfRule : IUnaryRule<ErfRule>
{
    public static float Apply(float x) => (float)Erf.Of(x);
    public static bool FromOutput => false;
    public static float Grad(float x, float g) => g * (float)(2.0 / Math.Sqrt(Math.PI) * Math.Exp(-(double)x * x));
}

internal struct TanhRule : IUnaryRule<TanhRule>
{
    public static float Apply(float x) => MathF.Tanh(x);
    public static bool FromOutput => true;
    public static float Grad(float t, float g) => g * (1f - t * t);
}

internal struct SigmoidRule : IUnaryRule<SigmoidRule>
{
    public static float Apply(float x) => 1f / (1f + MathF.Exp(-x));
    public static bool FromOutput => true;
    public static float Grad(float s, float g) => g * s * (1f - s);
}

internal struct ExpRule : IUnaryRule<ExpRule>
{
    public static float Apply(float x) => MathF.Exp(x);
    public static bool FromOutput => true;
    public static float Grad(float y, float g) => g * y;
}

internal struct NegRule : IUnaryRule<NegRule>
{
    public static float Apply(float x) => -x;
    public static bool FromOutput => false;
    public static float Grad(float x, float g) => -g;
}

/// <summary>The error function in double precision: a Chebyshev fit of erfc with fractional error below 1.2e-7, ample for float32.</summary>
internal static class Erf
{
    public static double Of(double x)
    {
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
            t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - r : r - 1.0;
    }
}

/// <summary>Clip(x, min, max): bounds from operands 1 and 2 (opset 11+) or attributes (older opsets).</summary>
internal sealed class ClipOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand == 0;

    private static (float Lo, float Hi) Bounds(OpCall call)
    {
        float lo = call.HasOperand(1) ? call.InputScalar(1) : (float)call.Attr("min", double.NegativeInfinity);
        float hi = call.HasOperand(2) ? call.InputScalar(2) : (float)call.Attr("max", double.PositiveInfinity);
        return (lo, hi);
    }

    public override unsafe void Forward(OpCall call, Tensor output)
    {
        var (lo, hi) = Bounds(call);
        fixed (float* px = call.Input(0).Span)
        fixed (float* py = output.Span)
            ParallelRanges.For(output.Length, 2L * output.Length, new ClampRange(px, py, lo, hi));
    }

    private readonly unsafe struct ClampRange(float* x, float* y, float lo, float hi) : IRangeBody
    {
        public void Run(int from, int to) =>
            VectorRules.Clamp(new ReadOnlySpan<float>(x + from, to - from), lo, hi, new Span<float>(y + from, to - from));
    }

    public override unsafe void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (lo, hi) = Bounds(call);
        fixed (float* px = call.Input(0).Span)
        fixed (float* pg = g)
        fixed (float* pd = gradInput)
            ParallelRanges.For(gradInput.Length, 3L * gradInput.Length, new PassRange(px, pg, pd, lo, hi));
    }

    private readonly unsafe struct PassRange(float* x, float* g, float* dx, float lo, float hi) : IRangeBody
    {
        public void Run(int from, int to) =>
            VectorRules.PassWhere(new ReadOnlySpan<float>(x + from, to - from), lo, hi, new ReadOnlySpan<float>(g + from, to - from),
                new Span<float>(dx + from, to - from), lowInclusive: true);
    }
}

/// <summary>Cast: float values are copied; integer targets truncate, bool targets test for non-zero. Gradient flows
/// only between float types.</summary>
internal sealed class CastOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => !ElementTypes.IsIntegral(node.DType);

    public override void Forward(OpCall call, Tensor output)
    {
        var x = call.Input(0).Span; var y = output.Span;
        var dt = call.Node.DType;
        if (dt == "bool") for (int i = 0; i < y.Length; i++) y[i] = x[i] != 0f ? 1f : 0f;
        else if (ElementTypes.IsIntegral(dt)) for (int i = 0; i < y.Length; i++) y[i] = MathF.Truncate(x[i]);
        else x.CopyTo(y);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput) => g.CopyTo(gradInput);
}

/// <summary>Exact vector forms of the piecewise-linear rules (ReLU, Clip): comparisons and selects only, so every
/// element has the bits of its scalar rule.</summary>
internal static class VectorRules
{
    /// <summary>y = x &lt; lo ? lo : x &gt; hi ? hi : x (a NaN passes through).</summary>
    public static void Clamp(ReadOnlySpan<float> x, float lo, float hi, Span<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x);
        ref float py = ref MemoryMarshal.GetReference(y);
        int length = y.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vlo = Vector512.Create(lo); var vhi = Vector512.Create(hi);
            for (; i <= length - 16; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref px, (nuint)i);
                v = Vector512.ConditionalSelect(Vector512.LessThan(v, vlo), vlo, Vector512.ConditionalSelect(Vector512.GreaterThan(v, vhi), vhi, v));
                v.StoreUnsafe(ref py, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
            for (; i <= length - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref px, (nuint)i);
                v = Vector256.ConditionalSelect(Vector256.LessThan(v, vlo), vlo, Vector256.ConditionalSelect(Vector256.GreaterThan(v, vhi), vhi, v));
                v.StoreUnsafe(ref py, (nuint)i);
            }
        }
        for (; i < length; i++)
        {
            float v = Unsafe.Add(ref px, i);
            Unsafe.Add(ref py, i) = v < lo ? lo : v > hi ? hi : v;
        }
    }

    /// <summary>dx = g where v lies in the range (lo, hi] (or [lo, hi] when <paramref name="lowInclusive"/>), else 0.</summary>
    public static void PassWhere(ReadOnlySpan<float> v, float lo, float hi, ReadOnlySpan<float> g, Span<float> dx, bool lowInclusive)
    {
        ref float pv = ref MemoryMarshal.GetReference(v);
        ref float pg = ref MemoryMarshal.GetReference(g);
        ref float pd = ref MemoryMarshal.GetReference(dx);
        int length = dx.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vlo = Vector512.Create(lo); var vhi = Vector512.Create(hi);
            for (; i <= length - 16; i += 16)
            {
                var x = Vector512.LoadUnsafe(ref pv, (nuint)i);
                var low = lowInclusive ? Vector512.GreaterThanOrEqual(x, vlo) : Vector512.GreaterThan(x, vlo);
                (low & Vector512.LessThanOrEqual(x, vhi) & Vector512.LoadUnsafe(ref pg, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi);
            for (; i <= length - 8; i += 8)
            {
                var x = Vector256.LoadUnsafe(ref pv, (nuint)i);
                var low = lowInclusive ? Vector256.GreaterThanOrEqual(x, vlo) : Vector256.GreaterThan(x, vlo);
                (low & Vector256.LessThanOrEqual(x, vhi) & Vector256.LoadUnsafe(ref pg, (nuint)i)).StoreUnsafe(ref pd, (nuint)i);
            }
        }
        for (; i < length; i++)
        {
            float x = Unsafe.Add(ref pv, i);
            bool pass = (lowInclusive ? x >= lo : x > lo) && x <= hi;
            Unsafe.Add(ref pd, i) = pass ? Unsafe.Add(ref pg, i) : 0f;
        }
    }
}
