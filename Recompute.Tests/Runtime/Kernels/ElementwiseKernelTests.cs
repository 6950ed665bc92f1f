using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Kernels;

/// <summary>
/// The vectorised element-wise kernels (Adam's update, exact GELU) and the max-pooling op: the same bits as the
/// scalar formula they replace, or within float rounding of a float64 reference, and the same bits however the range
/// is split across threads.
/// </summary>
public class ElementwiseKernelTests
{
    private static float[] Random(int length, int seed, float scale = 1f)
    {
        var rng = new System.Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    public static TheoryData<int, float, bool> AdamCases => new()
    {
        { 1, 0f, false }, { 7, 0f, false }, { 8, 0.01f, false }, { 37, 0.01f, true }, { 1003, 0f, false }, { 1003, 0.1f, true },
    };

    [Theory]
    [MemberData(nameof(AdamCases))]
    public void AdamUpdateIsTheScalarFormulaBitForBit(int length, float weightDecay, bool decoupled)
    {
        var w = Random(length, 1); var g = Random(length, 2, 0.1f);
        var m = Random(length, 3, 0.01f); var v = Random(length, 4, 0.01f);
        for (int i = 0; i < length; i++) v[i] = MathF.Abs(v[i]);
        float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, c1 = 1 - 0.9f * 0.9f, c2 = 1 - 0.999f * 0.999f, lr = 1e-3f;
        // The scalar update as written before vectorisation: each element's operations in this order.
        var (ew, em, ev) = ((float[])w.Clone(), (float[])m.Clone(), (float[])v.Clone());
        for (int i = 0; i < length; i++)
        {
            float gi = decoupled || weightDecay == 0f ? g[i] : g[i] + weightDecay * ew[i];
            em[i] = b1 * em[i] + (1f - b1) * gi;
            ev[i] = b2 * ev[i] + (1f - b2) * gi * gi;
            if (decoupled && weightDecay != 0f) ew[i] -= lr * weightDecay * ew[i];
            ew[i] -= lr * (em[i] / c1) / (MathF.Sqrt(ev[i] / c2) + eps);
        }
        var c = new AdamCoefficients(b1, b2, eps, c1, c2, lr, weightDecay, decoupled);
        // Split at an odd point: the part after it starts off the vector grid.
        int split = length / 3 | 1;
        if (split > length) split = length;
        AdamKernel.Update(w.AsSpan(0, split), g.AsSpan(0, split), m.AsSpan(0, split), v.AsSpan(0, split), c);
        AdamKernel.Update(w.AsSpan(split), g.AsSpan(split), m.AsSpan(split), v.AsSpan(split), c);
        Assert.Equal(ew, w);
        Assert.Equal(em, m);
        Assert.Equal(ev, v);
        Assert.Contains(w, x => x != 0f);
    }

    private static double Phi(double x) => 0.5 * (1 + ReferenceKernels.Erf(x / Math.Sqrt(2)));

    [Fact]
    public void GeluMatchesFloat64AndIsTheSameOnAnySplitAtBlockBoundaries()
    {
        int length = 16 * 37 + 5;
        var x = Random(length, 5, 6f);
        var gy = Random(length, 6);
        var y = new float[length]; var gx = new float[length];
        Gelu.Forward(x, y, 0, length);
        Gelu.Backward(x, gy, gx, 0, length);
        for (int i = 0; i < length; i++)
        {
            double xi = x[i];
            double expected = xi * Phi(xi);
            double slope = Phi(xi) + xi * Math.Exp(-0.5 * xi * xi) / Math.Sqrt(2 * Math.PI);
            Assert.True(Math.Abs(y[i] - expected) <= 1e-6 * Math.Max(1, Math.Abs(xi)), $"gelu({xi}) = {y[i]}, float64 {expected}");
            Assert.True(Math.Abs(gx[i] - gy[i] * slope) <= 2e-6 * Math.Max(1, Math.Abs(xi)), $"gelu'({xi}) = {gx[i] / gy[i]}, float64 {slope}");
        }
        // Two threads' ranges, split at a block boundary: the same bits.
        var y2 = new float[length]; var gx2 = new float[length];
        int split = 16 * 11;
        Gelu.Forward(x, y2, 0, split); Gelu.Forward(x, y2, split, length);
        Gelu.Backward(x, gy, gx2, 0, split); Gelu.Backward(x, gy, gx2, split, length);
        Assert.Equal(y, y2);
        Assert.Equal(gx, gx2);
    }

    public static TheoryData<int, int, int, int, int> PoolCases => new()
    {
        // size, kernel, stride, pad, dilation
        { 17, 3, 2, 1, 1 }, { 16, 2, 2, 0, 1 }, { 13, 3, 1, 1, 2 }, { 9, 5, 3, 2, 1 },
        // Outputs at least 16 wide: whole vectors of windows inside the image (unit and stride-2 columns), edges on their own.
        { 75, 3, 2, 1, 1 }, { 70, 2, 2, 0, 1 }, { 41, 3, 1, 1, 1 }, { 50, 3, 1, 2, 2 }, { 66, 5, 2, 2, 2 },
    };

    [Theory]
    [MemberData(nameof(PoolCases))]
    public void MaxPoolOpPicksTheFirstLargestTapLikeTheKernel(int size, int kernel, int stride, int pad, int dilation)
    {
        var shape = new Pool2dShape(2, 3, size, size, kernel, kernel, stride, stride, pad, pad, pad, pad, dilation, dilation);
        // Few distinct values, so windows hold ties and the first-maximum rule decides the gradient's position.
        var x = Random((int)shape.InputLength, 7).Select(v => MathF.Round(v * 2)).ToArray();
        var gy = Random((int)shape.OutputLength, 8);
        var expectedY = new float[shape.OutputLength]; var expectedGx = new float[shape.InputLength];
        MaxPool2d.Forward(shape, x, expectedY, []);
        MaxPool2d.BackwardFromInput(shape, x, gy, expectedGx);

        var b = new GraphBuilder("pool");
        long[] xs = [2, 3, size, size], ys = [2, 3, shape.OutHeight, shape.OutWidth];
        int input = b.Add(new NodeSpec("x", "Input", NodeKind.Input) { Shape = xs, Bytes = 4 * shape.InputLength });
        b.Add(new NodeSpec("y", "MaxPool", NodeKind.Loss)
        {
            Inputs = [input], Shape = ys, Bytes = 4 * shape.OutputLength,
            Attributes = new Dictionary<string, object>
            {
                ["kernel_shape"] = new long[] { kernel, kernel }, ["strides"] = new long[] { stride, stride },
                ["pads"] = new long[] { pad, pad, pad, pad }, ["dilations"] = new long[] { dilation, dilation },
            },
        });
        var graph = b.Build();
        var node = graph.Find("y");
        var op = OperatorRegistry.For(graph, node);
        var arena = new Arena();
        var xt = arena.Allocate(MemoryCategory.Parameter, xs.Select(d => (int)d).ToArray());
        x.CopyTo(xt.Span);
        var yt = arena.Allocate(MemoryCategory.Activation, ys.Select(d => (int)d).ToArray());
        var call = new OpCall(node, [xt], [xs.Select(d => (int)d).ToArray()], ys.Select(d => (int)d).ToArray(), arena, 1, yt);
        op.Forward(call, yt);
        var gx = new float[shape.InputLength];
        op.Backward(call, gy, 0, gx);
        Assert.Equal(expectedY, yt.Span.ToArray());
        Assert.Equal(expectedGx, gx);
    }
}

/// <summary>The vectorised broadcasting binary ops give the scalar rule's bits, forward and (unbroadcast) backward.</summary>
public class ElementwiseBinaryBitsTests
{
    public static TheoryData<string, int[], int[]> Cases => new()
    {
        { "Add", [5, 37], [5, 37] }, { "Sub", [5, 37], [5, 37] }, { "Mul", [3, 4, 19], [19] }, { "Div", [6, 33], [1] },
        { "Div", [6, 33], [6, 33] }, { "Sub", [2, 3, 40], [2, 1, 40] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardAndBackwardAreTheScalarRule(string opName, int[] shapeA, int[] shapeB)
    {
        var outShape = Broadcast.Shape(shapeA, shapeB);
        var b = new GraphBuilder("binary");
        int ia = b.Add(new NodeSpec("a", "Input", NodeKind.Input) { Shape = shapeA.Select(d => (long)d).ToArray(),
            Bytes = 4L * shapeA.Aggregate(1, (x, y) => x * y) });
        int ib = b.Add(new NodeSpec("b", "Input", NodeKind.Input) { Shape = shapeB.Select(d => (long)d).ToArray(),
            Bytes = 4L * shapeB.Aggregate(1, (x, y) => x * y) });
        b.Add(new NodeSpec("y", opName, NodeKind.Loss) { Inputs = [ia, ib], Shape = outShape.Select(d => (long)d).ToArray(),
            Bytes = 4L * outShape.Aggregate(1, (x, y) => x * y) });
        var graph = b.Build();
        var node = graph.Find("y");
        var op = OperatorRegistry.For(graph, node);
        var arena = new Arena();
        var rng = new System.Random(3);
        Tensor Fill(int[] shape)
        {
            var t = arena.Allocate(MemoryCategory.Parameter, shape);
            var span = t.Span;
            for (int i = 0; i < span.Length; i++) span[i] = (float)(rng.NextDouble() * 4 - 2);
            return t;
        }
        var a = Fill(shapeA); var bt = Fill(shapeB);
        var y = arena.Allocate(MemoryCategory.Activation, outShape);
        var call = new OpCall(node, [a, bt], [shapeA, shapeB], outShape, arena, 1, y);
        op.Forward(call, y);
        var plan = new Broadcast(outShape, shapeA, shapeB);
        // Some zero output gradients: −(+0) must come out as −0, as the scalar operator gives it.
        var g = Enumerable.Range(0, y.Length).Select(i => i % 5 == 0 ? 0f : (float)(rng.NextDouble() - 0.5)).ToArray();
        Func<float, float, float> apply; Func<float, float, float, float> gradA, gradB;
        switch (opName)
        {
            case "Add": apply = AddRule.Apply; gradA = AddRule.GradA; gradB = AddRule.GradB; break;
            case "Sub": apply = SubRule.Apply; gradA = SubRule.GradA; gradB = SubRule.GradB; break;
            case "Mul": apply = MulRule.Apply; gradA = MulRule.GradA; gradB = MulRule.GradB; break;
            default: apply = DivRule.Apply; gradA = DivRule.GradA; gradB = DivRule.GradB; break;
        }
        var expected = new float[y.Length];
        var expectedGa = new float[y.Length]; var expectedGb = new float[y.Length];
        for (int r = 0; r < plan.Rows; r++)
            for (int j = 0; j < plan.Inner; j++)
            {
                float av = a.Span[plan.Offset(0, r) + j * plan.InnerStrides[0]], bv = bt.Span[plan.Offset(1, r) + j * plan.InnerStrides[1]];
                int o = r * plan.Inner + j;
                expected[o] = apply(av, bv);
                expectedGa[o] = gradA(av, bv, g[o]);
                expectedGb[o] = gradB(av, bv, g[o]);
            }
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), y.Span.ToArray().Select(BitConverter.SingleToInt32Bits));
        for (int operand = 0; operand < 2; operand++)
        {
            var gx = new float[operand == 0 ? a.Length : bt.Length];
            op.Backward(call, g, operand, gx);
            var full = operand == 0 ? expectedGa : expectedGb;
            var want = new float[gx.Length];
            plan.ReduceTo(operand, full, want);
            Assert.Equal(want.Select(BitConverter.SingleToInt32Bits), gx.Select(BitConverter.SingleToInt32Bits));
        }
    }
}
