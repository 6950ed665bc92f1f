namespace Recompute.Planner.Costs;

/// <summary>Shape inference of constants and shape arithmetic (folded at import), slicing, padding, tiling and resizing.</summary>
public static partial class ShapeInference
{
    // ---- constants and shape arithmetic -------------------------------------------------------------------

    private static TensorInfo Constant(OpContext c)
    {
        if (c.Tensor("value") is { } t) return t;
        if (c.Attributes.TryGetValue("value_float", out var f)) return new TensorInfo("float32", [],
            ConstantValue.FromReals([Convert.ToDouble(f, System.Globalization.CultureInfo.InvariantCulture)]));
        if (c.Attributes.TryGetValue("value_int", out var i)) return new TensorInfo("int64", [], ConstantValue.FromInts([Convert.ToInt64(i,
            System.Globalization.CultureInfo.InvariantCulture)]));
        if (c.Reals("value_floats") is { } fs) return new TensorInfo("float32", [fs.Length], ConstantValue.FromReals(fs));
        if (c.Ints("value_ints") is { } ints) return new TensorInfo("int64", [ints.Length], ConstantValue.FromInts(ints));
        if (c.Has("sparse_value")) throw new ShapeInferenceException("sparse constants are not supported");
        throw new ShapeInferenceException("Constant has no value attribute");
    }

    private static TensorInfo ConstantOfShape(OpContext c)
    {
        var shape = c.ConstInts(0, "the shape");
        ShapeMath.Validate(shape, "the shape operand");
        var fill = c.Tensor("value") ?? new TensorInfo("float32", [1], ConstantValue.FromReals([0]));
        ConstantValue? value = null;
        long n = ShapeMath.Elements(shape);
        if (fill.Value is { } fv && n <= MaxFoldElements)
            value = fv.IsInteger ? ConstantValue.FromInts(Enumerable.Repeat(fv.Ints![0],
                (int)n).ToArray()) : ConstantValue.FromReals(Enumerable.Repeat(fv.Reals![0], (int)n).ToArray());
        return new TensorInfo(fill.DType, shape, value);
    }

    private static TensorInfo ShapeOp(OpContext c)
    {
        var x = c.In(0);
        long start = c.Int("start", 0), end = c.Int("end", x.Rank);
        if (start < 0) start += x.Rank;
        if (end < 0) end += x.Rank;
        start = Math.Clamp(start, 0, x.Rank); end = Math.Clamp(end, 0, x.Rank);
        var dims = x.Shape[(int)start..(int)Math.Max(start, end)];
        return new TensorInfo("int64", [dims.Length], ConstantValue.FromInts(dims));
    }

    private static TensorInfo Slice(OpContext c)
    {
        var x = c.In(0);
        long[] starts, ends, axes, steps;
        if (c.Opset < 10 || c.Inputs.Count == 1)
        {
            starts = c.Ints("starts") ?? throw new ShapeInferenceException("attribute 'starts' is required");
            ends = c.Ints("ends") ?? throw new ShapeInferenceException("attribute 'ends' is required");
            axes = c.Ints("axes") ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            steps = Enumerable.Repeat(1L, starts.Length).ToArray();
        }
        else
        {
            starts = c.ConstInts(1, "the starts");
            ends = c.ConstInts(2, "the ends");
            axes = c.Opt(3) is not null ? c.ConstInts(3, "the axes") : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            steps = c.Opt(4) is not null ? c.ConstInts(4, "the steps") : Enumerable.Repeat(1L, starts.Length).ToArray();
        }
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw new ShapeInferenceException("starts, ends, axes and steps have different lengths");
        var shape = (long[])x.Shape.Clone();
        var begin = new long[x.Rank]; var stride = Enumerable.Repeat(1L, x.Rank).ToArray();
        for (int i = 0; i < starts.Length; i++)
        {
            int a = ShapeMath.Axis(axes[i], x.Rank);
            long dim = x.Shape[a], step = steps[i];
            if (step == 0) throw new ShapeInferenceException("slice step 0");
            long s = starts[i] < 0 ? starts[i] + dim : starts[i];
            long e = ends[i] < 0 ? ends[i] + dim : ends[i];
            long len;
            if (step > 0)
            {
                s = Math.Clamp(s, 0, dim); e = Math.Clamp(e, 0, dim);
                len = e > s ? (e - s + step - 1) / step : 0;
            }
            else
            {
                s = Math.Clamp(s, 0, dim - 1); e = Math.Clamp(e, -1, dim - 1);
                len = s > e ? (s - e + (-step) - 1) / (-step) : 0;
            }
            shape[a] = len; begin[a] = s; stride[a] = step;
        }
        ConstantValue? value = null;
        if (x.Value is { } v && x.Rank >= 1 && x.Elements <= MaxFoldElements)
        {
            // Any rank: PyTorch computes padding amounts as a [-1, 2] table read backwards (F.pad's pads, in reverse axis order).
            var strides = RowMajorStrides(x.Shape);
            value = v.Pick(StridedIndex(shape, begin.Select((b, k) => b * strides[k]).ToArray(), stride.Select((s, k) => s * strides[k]).ToArray()));
        }
        return new TensorInfo(x.DType, shape, value);
    }

    private static TensorInfo Expand(OpContext c)
    {
        var x = c.In(0);
        var target = c.ConstInts(1, "the target shape");
        var shape = ShapeMath.Broadcast(x.Shape, target);
        ConstantValue? value = null;
        if (x.Value is { } v && ShapeMath.Elements(shape) <= MaxFoldElements)
        {
            var map = BroadcastIndex(x.Shape, shape);
            value = v.IsInteger ? ConstantValue.FromInts(map.Select(i => v.Ints![i]).ToArray()) : ConstantValue.FromReals(map.Select(i => v.Reals![i]).ToArray());
        }
        return new TensorInfo(x.DType, shape, value);
    }

    private static TensorInfo Tile(OpContext c)
    {
        var x = c.In(0);
        var repeats = c.ConstInts(1, "the repeats");
        if (repeats.Length != x.Rank
            || repeats.Any(r => r < 0)) throw new ShapeInferenceException($"repeats [{string.Join(",", repeats)}] do not fit rank {x.Rank}");
        return new TensorInfo(x.DType, x.Shape.Select((d, i) => checked(d * repeats[i])).ToArray());
    }

    private static TensorInfo Pad(OpContext c)
    {
        var x = c.In(0);
        long[] pads = c.Opt(1) is not null ? c.ConstInts(1, "the pads") : c.Ints("pads") ?? throw new ShapeInferenceException("no pads");
        long[] axes = c.Opt(3) is not null ? c.ConstInts(3, "the axes").Select(a => (long)ShapeMath.Axis(a, x.Rank)).ToArray()
            : Enumerable.Range(0, x.Rank).Select(i => (long)i).ToArray();
        if (pads.Length != 2 * axes.Length) throw new ShapeInferenceException($"{pads.Length} pads for {axes.Length} axes");
        var shape = (long[])x.Shape.Clone();
        for (int i = 0; i < axes.Length; i++) shape[axes[i]] = x.Shape[axes[i]] + pads[i] + pads[i + axes.Length];
        if (shape.Any(d => d < 0)) throw new ShapeInferenceException("padding makes a dimension negative");
        return new TensorInfo(x.DType, shape);
    }

    private static TensorInfo Resize(OpContext c)
    {
        var x = c.In(0);
        if (c.Str("keep_aspect_ratio_policy", "stretch") != "stretch")
            throw new ShapeInferenceException("keep_aspect_ratio_policy other than 'stretch' is not supported");
        long[]? axesAttr = c.Ints("axes");
        var axes = axesAttr?.Select(a => ShapeMath.Axis(a, x.Rank)).ToArray() ?? Enumerable.Range(0, x.Rank).ToArray();
        double[]? scales = null; long[]? sizes = null;
        if (c.OpType == "Upsample" && c.Reals("scales") is { } attrScales) scales = attrScales;
        else if (c.OpType == "Upsample" || c.Opset < 11) scales = Enumerable.Range(0, c.ConstValue(1,
            "the scales").Length).Select(c.ConstValue(1, "the scales").Real).ToArray();
        else
        {
            if (c.Opt(3) is { } s && s.Elements > 0) sizes = c.ConstInts(3, "the sizes");
            else if (c.Opt(2) is { } sc && sc.Elements > 0) { var v = c.ConstValue(2, "the scales"); scales = Enumerable.Range(0,
                v.Length).Select(v.Real).ToArray(); }
            else throw new ShapeInferenceException("neither scales nor sizes is given");
        }
        int count = sizes?.Length ?? scales!.Length;
        if (count != axes.Length) throw new ShapeInferenceException($"{count} scales or sizes for {axes.Length} axes");
        var shape = (long[])x.Shape.Clone();
        for (int i = 0; i < axes.Length; i++)
            shape[axes[i]] = sizes is not null ? sizes[i] : (long)Math.Floor(x.Shape[axes[i]] * scales![i]);
        return new TensorInfo(x.DType, shape);
    }

    private static TensorInfo Range(OpContext c)
    {
        var start = c.ConstValue(0, "start"); var limit = c.ConstValue(1, "limit"); var delta = c.ConstValue(2, "delta");
        string dtype = c.In(0).DType;
        if (delta.Real(0) == 0) throw new ShapeInferenceException("Range with delta 0");
        long n = Math.Max((long)Math.Ceiling((limit.Real(0) - start.Real(0)) / delta.Real(0)), 0);
        ShapeMath.Validate([n], "the range");
        ConstantValue? value = null;
        if (n <= MaxFoldElements)
            value = start.IsInteger && delta.IsInteger ? ConstantValue.FromInts(Enumerable.Range(0,
                (int)n).Select(i => start.Int(0) + i * delta.Int(0)).ToArray())
                : ConstantValue.FromReals(Enumerable.Range(0, (int)n).Select(i => start.Real(0) + i * delta.Real(0)).ToArray()).As(dtype);
        return new TensorInfo(dtype, [n], value);
    }

    private static TensorInfo DepthSpace(OpContext c)
    {
        var x = c.In(0);
        long b = c.Int("blocksize", 0);
        if (x.Rank != 4 || b <= 0) throw new ShapeInferenceException("needs a rank-4 input and a positive blocksize");
        if (c.OpType == "DepthToSpace")
        {
            if (x.Shape[1] % (b * b) != 0) throw new ShapeInferenceException($"channels {x.Shape[1]} not divisible by blocksize² {b * b}");
            return new TensorInfo(x.DType, [x.Shape[0], x.Shape[1] / (b * b), x.Shape[2] * b, x.Shape[3] * b]);
        }
        if (x.Shape[2] % b != 0 || x.Shape[3] % b != 0) throw new ShapeInferenceException($"spatial size not divisible by blocksize {b}");
        return new TensorInfo(x.DType, [x.Shape[0], x.Shape[1] * b * b, x.Shape[2] / b, x.Shape[3] / b]);
    }

    private static TensorInfo[] TopK(OpContext c)
    {
        var x = c.In(0);
        long k = c.Opt(1) is not null ? c.ConstInts(1, "k")[0] : c.Int("k", -1);
        int axis = ShapeMath.Axis(c.Int("axis", -1), x.Rank);
        if (k < 0 || k > x.Shape[axis]) throw new ShapeInferenceException($"k {k} is out of range for dimension {x.Shape[axis]}");
        var shape = (long[])x.Shape.Clone();
        shape[axis] = k;
        return [new TensorInfo(x.DType, shape), new TensorInfo("int64", shape)];
    }
}
