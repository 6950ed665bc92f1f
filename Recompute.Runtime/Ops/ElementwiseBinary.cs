using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>The rule of a broadcasting binary operator: its value and its two partial derivatives times the output
/// gradient, on one element and on eight. The vector forms perform the same correctly rounded operations in the same
/// order as the scalar ones, so a lane gives the scalar result bit for bit.</summary>
internal interface IBinaryRule
{
    static abstract float Apply(float a, float b);
    static abstract float GradA(float a, float b, float g);
    static abstract float GradB(float a, float b, float g);
    static abstract Vector256<float> Apply(Vector256<float> a, Vector256<float> b);
    static abstract Vector256<float> GradA(Vector256<float> a, Vector256<float> b, Vector256<float> g);
    static abstract Vector256<float> GradB(Vector256<float> a, Vector256<float> b, Vector256<float> g);
}

/// <summary>Add, Sub, Mul, Div and Pow with NumPy broadcasting; the backward sums over broadcast dimensions.
/// Rows whose operands advance by one element or stay put (a broadcast scalar or bias) run eight lanes at a time;
/// rows split across threads, each element computed by one thread with the same arithmetic, and the broadcast sums
/// stay serial in their fixed order, so results do not depend on the thread count.</summary>
internal sealed class ElementwiseBinary<TRule> : Operator where TRule : struct, IBinaryRule
{
    private enum Part { Value, GradA, GradB }

    /// <summary>A node's broadcast plan with the shapes it was made for: the forward and both gradients of a node, in
    /// every step, read the same one instead of building it afresh.</summary>
    private sealed record PlanEntry(int[] Output, int[] A, int[] B, Broadcast Plan);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Node, PlanEntry> Plans = new();

    private static Broadcast PlanOf(OpCall call)
    {
        int[] output = call.OutputShape, a = call.InputShape(0), b = call.InputShape(1);
        if (Plans.TryGetValue(call.Node, out var entry) && entry.Output.AsSpan().SequenceEqual(output) && entry.A.AsSpan().SequenceEqual(a)
            && entry.B.AsSpan().SequenceEqual(b))
            return entry.Plan;
        var plan = new Broadcast(output, a, b);
        Plans.AddOrUpdate(call.Node, new PlanEntry((int[])output.Clone(), (int[])a.Clone(), (int[])b.Clone(), plan));
        return plan;
    }

    public override bool PassesGradient(Node node, int operand) =>
        typeof(TRule) == typeof(AddRule) || (typeof(TRule) == typeof(SubRule) && operand == 0);

    public override unsafe void Forward(OpCall call, Tensor output)
    {
        var a = call.Input(0).Span; var b = call.Input(1).Span; var y = output.Span;
        var plan = PlanOf(call);
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* py = y)
            Run(plan, output.Length, new Rows(plan, Part.Value, pa, a.Length, pb, b.Length, null, 0, py, y.Length));
    }

    public override unsafe void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var plan = PlanOf(call);
        // Exactly the operands the saved-tensor table lists for this operand's gradient (the others are not kept).
        var saved = SavedTensors.ForGradientOf(call.Node.Op, operand)?.Operands ?? [0, 1];
        ReadOnlySpan<float> a = saved.Contains(0) ? call.Input(0).Span : default, b = saved.Contains(1) ? call.Input(1).Span : default;
        Tensor? scratch = plan.Identity[operand] ? null : call.Scratch(g.Length);
        var part = operand == 0 ? Part.GradA : Part.GradB;
        try
        {
            var target = scratch is null ? gradInput : scratch.Span;
            fixed (float* pa = a)
            fixed (float* pb = b)
            fixed (float* pg = g)
            fixed (float* pd = target)
                Run(plan, g.Length, new Rows(plan, part, pa, a.Length, pb, b.Length, pg, g.Length, pd, target.Length));
            if (scratch is not null) plan.ReduceTo(operand, scratch.Span, gradInput);
        }
        finally { scratch?.Dispose(); }
    }

    /// <summary>Splits the work across threads: elements when neither operand broadcasts (one flat row), else rows.</summary>
    private static void Run(Broadcast plan, int length, Rows body)
    {
        bool flat = plan.Identity[0] && plan.Identity[1];
        int count = flat ? length : plan.Rows;
        ParallelRanges.For(count, 3L * length, body.ByRow(!flat));
    }

    /// <summary>One part of the work over output elements or rows [from, to), on the operands' pinned buffers.</summary>
    private readonly unsafe struct Rows(Broadcast plan, Part part, float* a, int aLength, float* b, int bLength, float* g,
        int gLength, float* y, int yLength, bool byRow = false) : IRangeBody
    {
        public Rows ByRow(bool rows) => new(plan, part, a, aLength, b, bLength, g, gLength, y, yLength, rows);

        public void Run(int from, int to) => RowsOf(plan, part, new ReadOnlySpan<float>(a, aLength), new ReadOnlySpan<float>(b, bLength),
            new ReadOnlySpan<float>(g, gLength), new Span<float>(y, yLength), from, to, byRow);
    }

    /// <summary>Output elements [from, to) of one flat row, or rows [from, to) (<paramref name="rows"/>).</summary>
    private static void RowsOf(Broadcast plan, Part part, ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> g,
        Span<float> y, int from, int to, bool rows)
    {
        if (!rows)
        {
            Row(part, a, 1, b, 1, g, y, from, to - from, from, from);
            return;
        }
        int inner = plan.Inner, sa = plan.InnerStrides[0], sb = plan.InnerStrides[1];
        for (int r = from; r < to; r++)
            Row(part, a, sa, b, sb, g, y, r * inner, inner, plan.Offset(0, r), plan.Offset(1, r));
    }

    /// <summary>y[o + j] = part(a[oa + j·sa], b[ob + j·sb], g[o + j]) for j &lt; n; an operand the part does not read is empty.</summary>
    private static void Row(Part part, ReadOnlySpan<float> a, int sa, ReadOnlySpan<float> b, int sb, ReadOnlySpan<float> g,
        Span<float> y, int o, int n, int oa, int ob)
    {
        bool hasA = !a.IsEmpty, hasB = !b.IsEmpty;
        int j = 0;
        if (Vector256.IsHardwareAccelerated && (uint)sa <= 1 && (uint)sb <= 1)
        {
            ref float pa = ref MemoryMarshal.GetReference(a);
            ref float pb = ref MemoryMarshal.GetReference(b);
            ref float pg = ref MemoryMarshal.GetReference(g);
            ref float py = ref MemoryMarshal.GetReference(y);
            // Bounds: the scalar tail below indexes the spans, and a vector's last lane is the index j + 7 checked here.
            if (n >= 8 && (!hasA || oa + (n - 1) * sa < a.Length) && (!hasB || ob + (n - 1) * sb < b.Length) &&
                o + n <= y.Length && (part == Part.Value || o + n <= g.Length))
                for (; j <= n - 8; j += 8)
                {
                    var av = !hasA ? Vector256<float>.Zero : sa == 0 ? Vector256.Create(a[oa]) : Vector256.LoadUnsafe(ref pa, (nuint)(oa + j));
                    var bv = !hasB ? Vector256<float>.Zero : sb == 0 ? Vector256.Create(b[ob]) : Vector256.LoadUnsafe(ref pb, (nuint)(ob + j));
                    var v = part switch
                    {
                        Part.Value => TRule.Apply(av, bv),
                        Part.GradA => TRule.GradA(av, bv, Vector256.LoadUnsafe(ref pg, (nuint)(o + j))),
                        _ => TRule.GradB(av, bv, Vector256.LoadUnsafe(ref pg, (nuint)(o + j))),
                    };
                    v.StoreUnsafe(ref py, (nuint)(o + j));
                }
        }
        for (; j < n; j++)
        {
            float av = hasA ? a[oa + j * sa] : 0f, bv = hasB ? b[ob + j * sb] : 0f;
            y[o + j] = part switch
            {
                Part.Value => TRule.Apply(av, bv),
                Part.GradA => TRule.GradA(av, bv, g[o + j]),
                _ => TRule.GradB(av, bv, g[o + j]),
            };
        }
    }
}

internal static class BinaryRules
{
    /// <summary>−v as the scalar operator computes it: the sign bit flipped, so −(+0) is −0 in every lane.</summary>
    public static Vector256<float> Negate(Vector256<float> v) => Vector256.Xor(v, Vector256.Create(-0f));
}

internal struct AddRule : IBinaryRule
{
    public static float Apply(float a, float b) => a + b;
    public static float GradA(float a, float b, float g) => g;
    public static float GradB(float a, float b, float g) => g;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a + b;
    public static Vector256<float> GradA(Vector256<float> a, Vector256<float> b, Vector256<float> g) => g;
    public static Vector256<float> GradB(Vector256<float> a, Vector256<float> b, Vector256<float> g) => g;
}

internal struct SubRule : IBinaryRule
{
    public static float Apply(float a, float b) => a - b;
    public static float GradA(float a, float b, float g) => g;
    public static float GradB(float a, float b, float g) => -g;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a - b;
    public static Vector256<float> GradA(Vector256<float> a, Vector256<float> b, Vector256<float> g) => g;
    public static Vector256<float> GradB(Vector256<float> a, Vector256<float> b, Vector256<float> g) => BinaryRules.Negate(g);
}

internal struct MulRule : IBinaryRule
{
    public static float Apply(float a, float b) => a * b;
    public static float GradA(float a, float b, float g) => g * b;
    public static float GradB(float a, float b, float g) => g * a;
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a * b;
    public static Vector256<float> GradA(Vector256<float> a, Vector256<float> b, Vector256<float> g) => g * b;
    public static Vector256<float> GradB(Vector256<float> a, Vector256<float> b, Vector256<float> g) => g * a;
}

internal struct DivRule : IBinaryRule
{
    public static float Apply(float a, float b) => a / b;
    public static float GradA(float a, float b, float g) => g / b;
    public static float GradB(float a, float b, float g) => -g * a / (b * b);
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a / b;
    public static Vector256<float> GradA(Vector256<float> a, Vector256<float> b, Vector256<float> g) => g / b;
    public static Vector256<float> GradB(Vector256<float> a, Vector256<float> b, Vector256<float> g) => BinaryRules.Negate(g) * a / (b * b);
}

internal struct PowRule : IBinaryRule
{
    public static float Apply(float a, float b) => b == 2f ? a * a : MathF.Pow(a, b);
    public static float GradA(float a, float b, float g) => b == 2f ? g * 2f * a : g * b * MathF.Pow(a, b - 1f);
    public static float GradB(float a, float b, float g) => a > 0f ? g * MathF.Pow(a, b) * MathF.Log(a) : 0f;

    // Pow has no vector form of its own: the lanes run the scalar rule.
    public static Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Lanes(a, b, b, 0);
    public static Vector256<float> GradA(Vector256<float> a, Vector256<float> b, Vector256<float> g) => Lanes(a, b, g, 1);
    public static Vector256<float> GradB(Vector256<float> a, Vector256<float> b, Vector256<float> g) => Lanes(a, b, g, 2);

    private static Vector256<float> Lanes(Vector256<float> a, Vector256<float> b, Vector256<float> g, int part)
    {
        Span<float> lanes = stackalloc float[Vector256<float>.Count];
        for (int i = 0; i < lanes.Length; i++)
        {
            float x = a.GetElement(i), y = b.GetElement(i), d = g.GetElement(i);
            lanes[i] = part == 0 ? Apply(x, y) : part == 1 ? GradA(x, y, d) : GradB(x, y, d);
        }
        return Vector256.Create<float>(lanes);
    }
}
