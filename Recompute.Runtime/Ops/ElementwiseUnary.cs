using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// The scalar rule of an element-wise unary operator. Its derivative is written from the output when
/// <see cref="FromOutput"/> (as <see cref="SavedTensors"/> says the backward reads it), else from the input.
/// </summary>
internal interface IUnaryRule
{
    static abstract float Apply(float x);
    /// <summary>True when <see cref="Grad"/> takes the output y, false when it takes the input x.</summary>
    static abstract bool FromOutput { get; }
    /// <summary>The input gradient from the output gradient <paramref name="g"/> and y (or x, see <see cref="FromOutput"/>).</summary>
    static abstract float Grad(float v, float g);
}

/// <summary>Relu, Sqrt, Erf, Tanh, Sigmoid, Exp, Neg.</summary>
internal sealed class ElementwiseUnary<TRule> : Operator where TRule : struct, IUnaryRule
{
    private readonly bool _reads;

    /// <param name="reads">False for rules whose gradient reads no value (Neg).</param>
    public ElementwiseUnary(bool reads = true) { _reads = reads; }

    public override void Forward(OpCall call, Tensor output)
    {
        var x = call.Input(0).Span; var y = output.Span;
        for (int i = 0; i < y.Length; i++) y[i] = TRule.Apply(x[i]);
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
        var v = TRule.FromOutput ? call.Output().Span : call.Input(0).Span;
        for (int i = 0; i < gradInput.Length; i++) gradInput[i] = TRule.Grad(v[i], g[i]);
    }
}

internal struct ReluRule : IUnaryRule
{
    public static float Apply(float x) => x > 0f ? x : 0f;
    public static bool FromOutput => true;
    public static float Grad(float y, float g) => y > 0f ? g : 0f;
}

internal struct SqrtRule : IUnaryRule
{
    public static float Apply(float x) => MathF.Sqrt(x);
    public static bool FromOutput => true;
    public static float Grad(float y, float g) => g * 0.5f / y;
}

internal struct ErfRule : IUnaryRule
{
    public static float Apply(float x) => (float)Erf.Of(x);
    public static bool FromOutput => false;
    public static float Grad(float x, float g) => g * (float)(2.0 / Math.Sqrt(Math.PI) * Math.Exp(-(double)x * x));
}

internal struct TanhRule : IUnaryRule
{
    public static float Apply(float x) => MathF.Tanh(x);
    public static bool FromOutput => true;
    public static float Grad(float t, float g) => g * (1f - t * t);
}

internal struct SigmoidRule : IUnaryRule
{
    public static float Apply(float x) => 1f / (1f + MathF.Exp(-x));
    public static bool FromOutput => true;
    public static float Grad(float s, float g) => g * s * (1f - s);
}

internal struct ExpRule : IUnaryRule
{
    public static float Apply(float x) => MathF.Exp(x);
    public static bool FromOutput => true;
    public static float Grad(float y, float g) => g * y;
}

internal struct NegRule : IUnaryRule
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

    public override void Forward(OpCall call, Tensor output)
    {
        var (lo, hi) = Bounds(call);
        var x = call.Input(0).Span; var y = output.Span;
        for (int i = 0; i < y.Length; i++) y[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (lo, hi) = Bounds(call);
        var x = call.Input(0).Span;
        for (int i = 0; i < gradInput.Length; i++) gradInput[i] = x[i] >= lo && x[i] <= hi ? g[i] : 0f;
    }
}

/// <summary>Cast: float values are copied; integer targets truncate, bool targets test for non-zero. Gradient flows only between float types.</summary>
internal sealed class CastOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => !DTypes.IsInteger(node.DType);

    public override void Forward(OpCall call, Tensor output)
    {
        var x = call.Input(0).Span; var y = output.Span;
        var dt = call.Node.DType;
        if (dt == "bool") for (int i = 0; i < y.Length; i++) y[i] = x[i] != 0f ? 1f : 0f;
        else if (DTypes.IsInteger(dt)) for (int i = 0; i < y.Length; i++) y[i] = MathF.Truncate(x[i]);
        else x.CopyTo(y);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput) => g.CopyTo(gradInput);
}
