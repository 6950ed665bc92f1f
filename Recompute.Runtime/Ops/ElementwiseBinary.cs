using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>The scalar rule of a broadcasting binary operator: its value and its two partial derivatives times the output gradient.</summary>
internal interface IBinaryRule
{
    static abstract float Apply(float a, float b);
    static abstract float GradA(float a, float b, float g);
    static abstract float GradB(float a, float b, float g);
}

/// <summary>Add, Sub, Mul, Div and Pow with NumPy broadcasting; the backward sums over broadcast dimensions.</summary>
internal sealed class ElementwiseBinary<TRule> : Operator where TRule : struct, IBinaryRule
{

    public override void Forward(OpCall call, Tensor output)
    {
        var a = call.Input(0).Span; var b = call.Input(1).Span;
        var y = output.Span;
        var plan = new Broadcast(call.OutputShape, call.InputShape(0), call.InputShape(1));
        if (plan.Identity[0] && plan.Identity[1])
        {
            for (int i = 0; i < y.Length; i++) y[i] = TRule.Apply(a[i], b[i]);
            return;
        }
        int inner = plan.Inner, sa = plan.InnerStrides[0], sb = plan.InnerStrides[1];
        for (int r = 0; r < plan.Rows; r++)
        {
            int oa = plan.Offset(0, r), ob = plan.Offset(1, r), o = r * inner;
            for (int j = 0; j < inner; j++) y[o + j] = TRule.Apply(a[oa + j * sa], b[ob + j * sb]);
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var plan = new Broadcast(call.OutputShape, call.InputShape(0), call.InputShape(1));
        // Exactly the operands the saved-tensor table lists for this operand's gradient (the others are not kept).
        var saved = SavedTensors.ForGradientOf(call.Node.Op, operand)?.Operands ?? [0, 1];
        bool needA = saved.Contains(0), needB = saved.Contains(1);
        ReadOnlySpan<float> a = needA ? call.Input(0).Span : default, b = needB ? call.Input(1).Span : default;
        Tensor? scratch = plan.Identity[operand] ? null : call.Scratch(g.Length);
        try
        {
            var full = scratch is null ? gradInput : scratch.Span;
            int inner = plan.Inner, sa = plan.InnerStrides[0], sb = plan.InnerStrides[1];
            for (int r = 0; r < plan.Rows; r++)
            {
                int oa = plan.Offset(0, r), ob = plan.Offset(1, r), o = r * inner;
                for (int j = 0; j < inner; j++)
                {
                    float av = needA ? a[oa + j * sa] : 0f, bv = needB ? b[ob + j * sb] : 0f;
                    full[o + j] = operand == 0 ? TRule.GradA(av, bv, g[o + j]) : TRule.GradB(av, bv, g[o + j]);
                }
            }
            if (scratch is not null) plan.ReduceTo(operand, scratch.Span, gradInput);
        }
        finally { scratch?.Dispose(); }
    }
}

internal struct AddRule : IBinaryRule
{
    public static float Apply(float a, float b) => a + b;
    public static float GradA(float a, float b, float g) => g;
    public static float GradB(float a, float b, float g) => g;
}

internal struct SubRule : IBinaryRule
{
    public static float Apply(float a, float b) => a - b;
    public static float GradA(float a, float b, float g) => g;
    public static float GradB(float a, float b, float g) => -g;
}

internal struct MulRule : IBinaryRule
{
    public static float Apply(float a, float b) => a * b;
    public static float GradA(float a, float b, float g) => g * b;
    public static float GradB(float a, float b, float g) => g * a;
}

internal struct DivRule : IBinaryRule
{
    public static float Apply(float a, float b) => a / b;
    public static float GradA(float a, float b, float g) => g / b;
    public static float GradB(float a, float b, float g) => -g * a / (b * b);
}

internal struct PowRule : IBinaryRule
{
    public static float Apply(float a, float b) => b == 2f ? a * a : MathF.Pow(a, b);
    public static float GradA(float a, float b, float g) => b == 2f ? g * 2f * a : g * b * MathF.Pow(a, b - 1f);
    public static float GradB(float a, float b, float g) => a > 0f ? g * MathF.Pow(a, b) * MathF.Log(a) : 0f;
}
