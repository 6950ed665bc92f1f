using Recompute.Planner.Graph;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Kernels;

/// <summary>
/// The Relu operator run in place, as the executor runs it where the schedule allows (its output in its input's
/// buffer, the gradient of its input in its output gradient's): the same bits as out of place, at lengths that use the
/// vector loops, their scalar tails and several threads' ranges.
/// </summary>
public class ReluInPlaceKernelTests
{
    [Theory]
    [InlineData(1)] [InlineData(15)] [InlineData(17)] [InlineData(1003)] [InlineData(300_007)]
    public void ForwardAndBackward_InPlace_GiveTheBitsOfOutOfPlace(int length)
    {
        var rng = new Random(length);
        var x = Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var g = Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        if (length > 3) { x[1] = 0f; x[2] = -0f; } // the boundary: y = 0 passes no gradient
        var b = new GraphBuilder("relu");
        int input = b.Add(new NodeSpec("x", "Input", NodeKind.Input) { Shape = [length], Bytes = 4L * length });
        b.Add(new NodeSpec("y", "Relu", NodeKind.Loss) { Inputs = [input], Shape = [length], Bytes = 4L * length, SavedByRule = true });
        var graph = b.Build();
        var node = graph.Find("y");
        var op = OperatorRegistry.For(graph, node);
        var arena = new Arena();
        int[] shape = [length];

        // Out of place: y from x in two buffers, dx from dy into a third.
        var xt = arena.Allocate(MemoryCategory.Activation, shape);
        x.CopyTo(xt.Span);
        var yt = arena.Allocate(MemoryCategory.Activation, shape);
        var call = new OpCall(node, [xt], [shape], shape, arena, 1, yt);
        op.Forward(call, yt);
        var dx = new float[length];
        op.Backward(call, g, 0, dx);

        // In place: y written over x, then dx over dy.
        var shared = arena.Allocate(MemoryCategory.Activation, shape);
        x.CopyTo(shared.Span);
        var inPlaceCall = new OpCall(node, [shared], [shape], shape, arena, 1, shared);
        op.Forward(inPlaceCall, shared);
        Assert.Equal(yt.Span.ToArray(), shared.Span.ToArray());
        var dy = arena.Allocate(MemoryCategory.ActivationGradient, shape);
        g.CopyTo(dy.Span);
        op.Backward(inPlaceCall, dy.Span, 0, dy.Span);
        Assert.Equal(dx, dy.Span.ToArray());
        Assert.Equal(x.Select(v => v > 0f ? v : 0f), shared.Span.ToArray());
        Assert.Equal(Enumerable.Range(0, length).Select(i => x[i] > 0f ? g[i] : 0f), dx);
    }
}
