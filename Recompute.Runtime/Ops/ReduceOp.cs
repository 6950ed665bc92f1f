using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>ReduceMean and ReduceSum over <c>axes</c> (attribute, or operand 1 from opset 13/18), with <c>keepdims</c>.</summary>
internal sealed class ReduceOp : Operator
{
    private readonly bool _mean;

    public ReduceOp(bool mean) { _mean = mean; }

    public override bool IsDifferentiable(Node node, int operand) => operand == 0;

    /// <summary>The plan broadcasting the kept-dims output over the input, and the number of elements per output.</summary>
    private static (Broadcast Plan, int Count) Geometry(OpCall call)
    {
        var x = call.InputShape(0);
        long[] axes = call.HasOperand(1) ? call.InputLongs(1) : call.Attrs("axes");
        var kept = (int[])x.Clone();
        if (axes.Length == 0)
        {
            if (call.Attr("noop_with_empty_axes", 0L) == 0) Array.Fill(kept, 1);
        }
        else foreach (var a in axes) kept[Axis(a, x.Length)] = 1;
        int count = Math.Max(1, Tensor.SizeOf(x) / Math.Max(1, Tensor.SizeOf(kept)));
        return (new Broadcast(x.Length == 0 ? [1] : x, kept), count);
    }

    /// <summary>Rows are added into the output one after another.</summary>
    public override bool ForwardAccumulates(Node node) => true;

    public override void Forward(OpCall call, Tensor output)
    {
        var (plan, count) = Geometry(call);
        var x = call.Input(0).Span; var y = output.Span;
        int inner = plan.Inner, s = plan.InnerStrides[0];
        for (int r = 0; r < plan.Rows; r++)
        {
            int o = plan.Offset(0, r);
            var row = x.Slice(r * inner, inner);
            if (s == 0) { float acc = y[o]; foreach (var v in row) acc += v; y[o] = acc; }
            else for (int j = 0; j < inner; j++) y[o + j] += row[j];
        }
        if (_mean) for (int i = 0; i < y.Length; i++) y[i] /= count;
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (plan, count) = Geometry(call);
        float k = _mean ? 1f / count : 1f;
        int inner = plan.Inner, s = plan.InnerStrides[0];
        for (int r = 0; r < plan.Rows; r++)
        {
            int o = plan.Offset(0, r);
            for (int j = 0; j < inner; j++) gradInput[r * inner + j] = g[o + j * s] * k;
        }
    }
}
