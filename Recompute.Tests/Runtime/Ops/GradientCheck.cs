using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Ops;

/// <summary>One operand of an operator under test: its shape, dtype and optionally fixed values.</summary>
internal sealed record Operand(long[] Shape, string DType = "float32", float[]? Values = null);

/// <summary>
/// Checks an operator's backward against central finite differences. The probe loss is L = Σ rᵢ·yᵢ with fixed
/// random weights r, accumulated in float64; its gradient with respect to every element of every differentiable
/// operand is compared with the operator's vector-Jacobian product for the output gradient r.
/// </summary>
internal static class GradientCheck
{
    public static void Check(string op, Operand[] operands, long[] outShape, Dictionary<string, object>? attrs = null,
        int outputIndex = 0, double eps = 1e-2, double tolerance = 2e-3, int seed = 7, (int Index, long[] Shape)[]? otherOutputs = null)
    {
        var b = new GraphBuilder("check");
        var ids = new int[operands.Length];
        for (int k = 0; k < operands.Length; k++)
            ids[k] = b.Add(new NodeSpec($"in{k}", "Input", NodeKind.Input)
            {
                Shape = operands[k].Shape, DType = operands[k].DType,
                Bytes = operands[k].Shape.Aggregate(1L, (a, d) => a * d) * ElementTypes.BytesOf(operands[k].DType),
            });
        b.Add(new NodeSpec("out", op, NodeKind.Loss)
        {
            Inputs = ids, Shape = outShape, Attributes = attrs, OutputIndex = outputIndex,
            Bytes = outShape.Aggregate(1L, (a, d) => a * d) * 4,
        });
        // Other outputs of the same operation that its backward reads (LayerNormalization's statistics, Dropout's mask):
        // computed once at the unperturbed operands, as the memory model keeps them from the forward pass.
        foreach (var (index, shape) in otherOutputs ?? [])
            b.Add(new NodeSpec($"out{index}", op, NodeKind.Activation)
            {
                Inputs = ids, Shape = shape, Attributes = attrs, OutputIndex = index, Bytes = shape.Aggregate(1L, (a, d) => a * d) * 4,
            });
        var graph = b.Build();
        var node = graph.Find("out");
        var oper = OperatorRegistry.For(graph, node);
        var arena = new Arena();
        var rng = new DeterministicRandom((ulong)seed);
        var inputs = new Tensor?[operands.Length];
        var shapes = new int[operands.Length][];
        for (int k = 0; k < operands.Length; k++)
        {
            shapes[k] = operands[k].Shape.Select(d => (int)d).ToArray();
            inputs[k] = arena.Allocate(MemoryCategory.Parameter, shapes[k]);
            var span = inputs[k]!.Span;
            if (operands[k].Values is { } v) v.CopyTo(span);
            else for (int i = 0; i < span.Length; i++) span[i] = (float)rng.NextNormal();
        }
        var outShapeInt = outShape.Select(d => (int)d).ToArray();
        var output = arena.Allocate(MemoryCategory.Activation, outShapeInt);
        // Backwards that read the op's own output (ReLU) get the forward value at the unperturbed operands.
        var call = new OpCall(node, inputs, shapes, outShapeInt, arena, 12345, output);
        foreach (var (index, shape) in otherOutputs ?? [])
        {
            var other = graph.Find($"out{index}");
            var value = arena.Allocate(MemoryCategory.Activation, shape.Select(d => (int)d).ToArray());
            oper.Forward(new OpCall(other, inputs, shapes, value.Shape.ToArray(), arena, 12345), value);
            call.SetOtherOutput(index, value);
        }
        var r = new float[output.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)rng.NextNormal();

        double Probe()
        {
            output.Span.Clear();
            oper.Forward(call, output);
            double s = 0;
            var y = output.Span;
            for (int i = 0; i < y.Length; i++) s += (double)r[i] * y[i];
            return s;
        }

        Probe();
        int checkedOperands = 0;
        for (int k = 0; k < operands.Length; k++)
        {
            if (!oper.IsDifferentiable(node, k) || ElementTypes.IsIntegral(operands[k].DType)) continue;
            checkedOperands++;
            var analytic = new float[inputs[k]!.Length];
            Probe();
            oper.Backward(call, r, k, analytic);
            var x = inputs[k]!.Span;
            double worst = 0, scale = 1;
            for (int i = 0; i < x.Length; i++)
            {
                float saved = x[i];
                x[i] = (float)(saved + eps); double up = Probe();
                x[i] = (float)(saved - eps); double down = Probe();
                x[i] = saved;
                double numeric = (up - down) / (2 * eps);
                scale = Math.Max(scale, Math.Abs(numeric));
                worst = Math.Max(worst, Math.Abs(numeric - analytic[i]));
            }
            Assert.True(worst <= tolerance * scale,
                $"{op} operand #{k}: largest difference between backward and finite differences {worst:G3} (scale {scale:G3})");
        }
        Assert.True(checkedOperands > 0, $"{op}: no differentiable operand was checked");
    }
}
