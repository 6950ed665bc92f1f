namespace Recompute.Planner.Costs;

/// <summary>Shape inference of convolution, pooling, normalization and matrix products.</summary>
public static partial class ShapeInference
{
    // ---- convolution, pooling, normalization --------------------------------------------------------------

    private static (long[] Kernel, long[] Strides, long[] Dilations, long[] Pads) Window(OpContext c, int spatial, long[]? kernelFromWeights)
    {
        var kernel = c.Ints("kernel_shape") ?? kernelFromWeights ?? throw new ShapeInferenceException("attribute 'kernel_shape' is required");
        if (kernel.Length != spatial) throw new ShapeInferenceException($"kernel_shape has {kernel.Length} dimensions, the input has {spatial} spatial dimensions");
        var strides = c.Ints("strides") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var dilations = c.Ints("dilations") ?? Enumerable.Repeat(1L, spatial).ToArray();
        var pads = c.Ints("pads") ?? new long[2 * spatial];
        if (strides.Length != spatial || dilations.Length != spatial || pads.Length != 2 * spatial)
            throw new ShapeInferenceException("strides, dilations and pads must match the number of spatial dimensions");
        if (strides.Any(s => s <= 0) || dilations.Any(d => d <= 0) || kernel.Any(k => k <= 0))
            throw new ShapeInferenceException("kernel_shape, strides and dilations must be positive");
        return (kernel, strides, dilations, pads);
    }

    private static TensorInfo Conv(OpContext c)
    {
        var x = c.In(0); var w = c.In(1);
        if (x.Rank < 3
            || w.Rank != x.Rank) throw new ShapeInferenceException($"input {ShapeMath.Format(x.Shape)} and weights {ShapeMath.Format(w.Shape)} do not fit a convolution");
        int spatial = x.Rank - 2;
        long group = c.Int("group", 1);
        if (group <= 0 || x.Shape[1] != w.Shape[1] * group)
            throw new ShapeInferenceException($"input has {x.Shape[1]} channels, weights {ShapeMath.Format(w.Shape)} with group {group} expect {w.Shape[1] * group}");
        var (k, s, d, p) = Window(c, spatial, w.Shape[2..]);
        string autoPad = c.Str("auto_pad", "NOTSET");
        var shape = new long[x.Rank];
        shape[0] = x.Shape[0]; shape[1] = w.Shape[0];
        for (int i = 0; i < spatial; i++) shape[i + 2] = WindowGeometry.OutputLength(x.Shape[i + 2], k[i], s[i], d[i], p[i],
            p[i + spatial], autoPad, false);
        if (c.Opt(2) is { } b
            && b.Elements != w.Shape[0]) throw new ShapeInferenceException($"bias has {b.Elements} elements, expected {w.Shape[0]}");
        return new TensorInfo(x.DType, shape);
    }

    private static TensorInfo ConvTranspose(OpContext c)
    {
        var x = c.In(0); var w = c.In(1);
        if (x.Rank < 3
            || w.Rank != x.Rank) throw new ShapeInferenceException($"input {ShapeMath.Format(x.Shape)} and weights {ShapeMath.Format(w.Shape)} do not fit a transposed convolution");
        int spatial = x.Rank - 2;
        long group = c.Int("group", 1);
        if (group <= 0
            || x.Shape[1] != w.Shape[0]) throw new ShapeInferenceException($"input has {x.Shape[1]} channels, weights expect {w.Shape[0]}");
        var (k, s, d, p) = Window(c, spatial, w.Shape[2..]);
        var outPad = c.Ints("output_padding") ?? new long[spatial];
        var outputShape = c.Ints("output_shape");
        string autoPad = c.Str("auto_pad", "NOTSET");
        var shape = new long[x.Rank];
        shape[0] = x.Shape[0]; shape[1] = w.Shape[1] * group;
        for (int i = 0; i < spatial; i++)
        {
            if (outputShape is not null) shape[i + 2] = outputShape[outputShape.Length - spatial + i];
            else if (WindowGeometry.IsSame(autoPad)) shape[i + 2] = x.Shape[i + 2] * s[i];
            else shape[i + 2] = s[i] * (x.Shape[i + 2] - 1) + outPad[i] + (k[i] - 1) * d[i] + 1 - p[i] - p[i + spatial];
            if (shape[i + 2] <= 0) throw new ShapeInferenceException("the transposed convolution has an empty output");
        }
        return new TensorInfo(x.DType, shape);
    }

    private static TensorInfo[] Pool(OpContext c)
    {
        var x = c.In(0);
        if (x.Rank < 3) throw new ShapeInferenceException($"pooling needs an input of rank 3 or more, got {ShapeMath.Format(x.Shape)}");
        int spatial = x.Rank - 2;
        var (k, s, d, p) = Window(c, spatial, null);
        bool ceil = c.Int("ceil_mode", 0) != 0;
        string autoPad = c.Str("auto_pad", "NOTSET");
        var shape = (long[])x.Shape.Clone();
        for (int i = 0; i < spatial; i++) shape[i + 2] = WindowGeometry.OutputLength(x.Shape[i + 2], k[i], s[i], d[i], p[i],
            p[i + spatial], autoPad, ceil);
        var y = new TensorInfo(x.DType, shape);
        return c.OutputCount > 1 ? [y, new TensorInfo("int64", shape)] : [y];
    }

    private static TensorInfo GlobalPool(OpContext c)
    {
        var x = c.In(0);
        if (x.Rank < 3) throw new ShapeInferenceException($"global pooling needs an input of rank 3 or more, got {ShapeMath.Format(x.Shape)}");
        var shape = x.Shape.Select((v, i) => i < 2 ? v : 1).ToArray();
        return new TensorInfo(x.DType, shape);
    }

    private static TensorInfo[] BatchNorm(OpContext c)
    {
        var x = c.In(0);
        if (x.Rank < 2) throw new ShapeInferenceException($"batch normalization needs rank 2 or more, got {ShapeMath.Format(x.Shape)}");
        for (int i = 1; i < Math.Min(5, c.Inputs.Count); i++)
            if (c.Opt(i) is { } t && t.Elements != x.Shape[1])
                throw new ShapeInferenceException($"operand #{i} has {t.Elements} elements, the input has {x.Shape[1]} channels");
        var result = new TensorInfo[c.OutputCount];
        result[0] = new TensorInfo(x.DType, x.Shape);
        string statType = c.Opt(3)?.DType ?? x.DType;
        for (int i = 1; i < result.Length; i++) result[i] = new TensorInfo(statType, [x.Shape[1]]);
        return result;
    }

    private static TensorInfo[] LayerNorm(OpContext c)
    {
        var x = c.In(0);
        int axis = ShapeMath.Axis(c.Int("axis", -1), x.Rank);
        var stat = x.Shape.Select((v, i) => i < axis ? v : 1).ToArray();
        string statType = ElementTypes.NameOf((int)c.Int("stash_type", 1)) ?? "float32";
        var result = new TensorInfo[c.OutputCount];
        result[0] = new TensorInfo(x.DType, x.Shape);
        for (int i = 1; i < result.Length; i++) result[i] = new TensorInfo(statType, stat);
        return result;
    }

    // ---- matrix products --------------------------------------------------------------------------------

    private static TensorInfo MatMul(OpContext c)
    {
        var a = c.In(0); var b = c.In(1);
        if (a.Rank == 0 || b.Rank == 0) throw new ShapeInferenceException("MatMul operands must have rank 1 or more");
        var sa = a.Rank == 1 ? new[] { 1L, a.Shape[0] } : a.Shape;
        var sb = b.Rank == 1 ? new[] { b.Shape[0], 1L } : b.Shape;
        long k1 = sa[^1], k2 = sb[^2];
        if (k1 != k2) throw new ShapeInferenceException($"inner dimensions differ: {ShapeMath.Format(a.Shape)} × {ShapeMath.Format(b.Shape)}");
        var batch = ShapeMath.Broadcast(sa[..^2], sb[..^2]);
        var shape = new List<long>(batch);
        if (a.Rank > 1) shape.Add(sa[^2]);
        if (b.Rank > 1) shape.Add(sb[^1]);
        return new TensorInfo(a.DType, shape.ToArray());
    }

    private static TensorInfo Gemm(OpContext c)
    {
        var a = c.In(0); var b = c.In(1);
        if (a.Rank != 2
            || b.Rank != 2) throw new ShapeInferenceException($"Gemm needs matrices, got {ShapeMath.Format(a.Shape)} and {ShapeMath.Format(b.Shape)}");
        bool ta = c.Int("transA", 0) != 0, tb = c.Int("transB", 0) != 0;
        long m = ta ? a.Shape[1] : a.Shape[0], k = ta ? a.Shape[0] : a.Shape[1];
        long kb = tb ? b.Shape[1] : b.Shape[0], n = tb ? b.Shape[0] : b.Shape[1];
        if (k != kb) throw new ShapeInferenceException($"inner dimensions differ: {ShapeMath.Format(a.Shape)} × {ShapeMath.Format(b.Shape)} (transA={(ta ? 1 : 0)}, transB={(tb ? 1 : 0)})");
        if (c.Opt(2) is { } bias) ShapeMath.Broadcast([m, n], bias.Shape);
        return new TensorInfo(a.DType, [m, n]);
    }
}
