namespace Recompute.Planner.Costs;

/// <summary>Shape inference of shape manipulations, casts, reductions, losses and dropout.</summary>
public static partial class ShapeInference
{
    // ---- shape manipulation -------------------------------------------------------------------------------

    private static TensorInfo Flatten(OpContext c)
    {
        var x = c.In(0);
        long axis = c.Int("axis", 1);
        if (axis < 0) axis += x.Rank;
        if (axis < 0 || axis > x.Rank) throw new ShapeInferenceException($"axis {c.Int("axis", 1)} is out of range for rank {x.Rank}");
        long outer = ShapeMath.Elements(x.Shape[..(int)axis]), inner = ShapeMath.Elements(x.Shape[(int)axis..]);
        return new TensorInfo(x.DType, [outer, inner], x.Value);
    }

    /// <summary>The output shape of Reshape for a target (0 copies the input dimension unless allowzero, -1 is inferred).</summary>
    public static long[] ReshapeTarget(long[] input, long[] target, bool allowZero)
    {
        var shape = (long[])target.Clone();
        int unknown = -1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0 && !allowZero)
            {
                if (i >= input.Length) throw new ShapeInferenceException($"target {ShapeMath.Format(target)} copies dimension {i}, which the input {ShapeMath.Format(input)} does not have");
                shape[i] = input[i];
            }
            else if (shape[i] == -1)
            {
                if (unknown >= 0) throw new ShapeInferenceException($"target {ShapeMath.Format(target)} has more than one -1");
                unknown = i;
            }
            else if (shape[i] < 0) throw new ShapeInferenceException($"target {ShapeMath.Format(target)} has a negative dimension");
        }
        long total = ShapeMath.Elements(input);
        if (unknown >= 0)
        {
            shape[unknown] = 1;
            long known = ShapeMath.Elements(shape);
            if (known == 0
                || total % known != 0) throw new ShapeInferenceException($"cannot reshape {ShapeMath.Format(input)} to {ShapeMath.Format(target)}");
            shape[unknown] = total / known;
        }
        if (ShapeMath.Elements(shape) != total)
            throw new ShapeInferenceException($"cannot reshape {ShapeMath.Format(input)} ({total} elements) to {ShapeMath.Format(target)} ({ShapeMath.Elements(shape)} elements)");
        return shape;
    }

    private static TensorInfo Reshape(OpContext c)
    {
        var x = c.In(0);
        long[] target = c.Inputs.Count > 1 ? c.ConstInts(1,
            "the target shape") : c.Ints("shape") ?? throw new ShapeInferenceException("no target shape");
        var shape = ReshapeTarget(x.Shape, target, c.Int("allowzero", 0) != 0);
        return new TensorInfo(x.DType, shape, x.Value);
    }

    private static TensorInfo Transpose(OpContext c)
    {
        var x = c.In(0);
        var perm = c.Ints("perm") ?? Enumerable.Range(0, x.Rank).Reverse().Select(i => (long)i).ToArray();
        if (perm.Length != x.Rank || perm.Distinct().Count() != x.Rank || perm.Any(p => p < 0 || p >= x.Rank))
            throw new ShapeInferenceException($"perm [{string.Join(",", perm)}] is not a permutation of rank {x.Rank}");
        var shape = perm.Select(p => x.Shape[p]).ToArray();
        ConstantValue? value = x.Rank <= 1 ? x.Value : null;
        if (x.Rank > 1 && x.Value is { } v && x.Elements <= MaxFoldElements)
        {
            // Output element (i_0, ..., i_r-1) is input element i_k on axis perm[k].
            var start = new long[x.Rank];
            var stride = new long[x.Rank];
            long[] inputStrides = RowMajorStrides(x.Shape);
            for (int k = 0; k < x.Rank; k++) stride[k] = inputStrides[perm[k]];
            value = v.Pick(StridedIndex(shape, start, stride));
        }
        return new TensorInfo(x.DType, shape, value);
    }

    /// <summary>Row-major strides of <paramref name="shape"/> in elements.</summary>
    private static long[] RowMajorStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int k = shape.Length - 1; k >= 0; k--) { strides[k] = s; s *= shape[k]; }
        return strides;
    }

    /// <summary>
    /// For each element of an output of <paramref name="shape"/> in row-major order, the flat index of the source
    /// element: <c>start + Σ index_k · stride_k</c> (strides in source elements, negative to walk backwards).
    /// </summary>
    private static int[] StridedIndex(long[] shape, long[] start, long[] stride)
    {
        int n = (int)ShapeMath.Elements(shape);
        var map = new int[n];
        int rank = shape.Length;
        var idx = new long[rank];
        long origin = 0;
        for (int k = 0; k < rank; k++) origin += start[k];
        for (int i = 0; i < n; i++)
        {
            long flat = origin;
            for (int k = 0; k < rank; k++) flat += idx[k] * stride[k];
            map[i] = (int)flat;
            for (int k = rank - 1; k >= 0; k--) { if (++idx[k] < shape[k]) break; idx[k] = 0; }
        }
        return map;
    }

    private static TensorInfo[] Split(OpContext c)
    {
        var x = c.In(0);
        int axis = ShapeMath.Axis(c.Int("axis", 0), x.Rank);
        long dim = x.Shape[axis];
        int n = c.OutputCount;
        long[] sizes;
        if (c.Opt(1) is not null) sizes = c.ConstInts(1, "the split sizes");
        else if (c.Ints("split") is { } attr) sizes = attr;
        else
        {
            long parts = c.Int("num_outputs", n);
            if (parts != n) throw new ShapeInferenceException($"num_outputs is {parts} but the node has {n} outputs");
            long chunk = (dim + n - 1) / n;
            sizes = Enumerable.Range(0, n).Select(i => Math.Max(0, Math.Min(chunk, dim - i * chunk))).ToArray();
            if (dim % n != 0 && c.Opset < 18) throw new ShapeInferenceException($"dimension {dim} does not split evenly into {n} outputs");
        }
        if (sizes.Length != n) throw new ShapeInferenceException($"{sizes.Length} split sizes for {n} outputs");
        if (sizes.Any(s => s < 0)
            || sizes.Sum() != dim) throw new ShapeInferenceException($"split sizes [{string.Join(",", sizes)}] do not add up to dimension {dim}");
        var result = new TensorInfo[n];
        long offset = 0;
        for (int i = 0; i < n; i++)
        {
            var shape = (long[])x.Shape.Clone();
            shape[axis] = sizes[i];
            ConstantValue? value = null;
            if (x.Value is { } v && x.Rank == 1)
                value = v.IsInteger ? ConstantValue.FromInts(v.Ints!.Skip((int)offset).Take((int)sizes[i]).ToArray())
                    : ConstantValue.FromReals(v.Reals!.Skip((int)offset).Take((int)sizes[i]).ToArray());
            result[i] = new TensorInfo(x.DType, shape, value);
            offset += sizes[i];
        }
        return result;
    }

    private static TensorInfo Concat(OpContext c)
    {
        var parts = c.Inputs.Where(t => t is not null).Select(t => t!).ToList();
        if (parts.Count == 0) throw new ShapeInferenceException("no operands");
        int rank = parts[0].Rank;
        int axis = ShapeMath.Axis(c.Int("axis", 0), rank);
        var shape = (long[])parts[0].Shape.Clone();
        shape[axis] = 0;
        foreach (var t in parts)
        {
            if (t.Rank != rank) throw new ShapeInferenceException($"operands have ranks {rank} and {t.Rank}");
            for (int i = 0; i < rank; i++)
                if (i != axis && t.Shape[i] != shape[i]) throw new ShapeInferenceException($"operand shapes {ShapeMath.Format(parts[0].Shape)} and {ShapeMath.Format(t.Shape)} differ outside axis {axis}");
            shape[axis] = checked(shape[axis] + t.Shape[axis]);
        }
        ConstantValue? value = null;
        if (rank == 1 && parts.All(t => t.Value is not null))
            value = parts.All(t => t.Value!.IsInteger) ? ConstantValue.FromInts(parts.SelectMany(t => t.Value!.Ints!).ToArray())
                : ConstantValue.FromReals(parts.SelectMany(t => Enumerable.Range(0, t.Value!.Length).Select(t.Value.Real)).ToArray());
        return new TensorInfo(parts[0].DType, shape, value);
    }

    private static TensorInfo Gather(OpContext c)
    {
        var data = c.In(0); var idx = c.In(1);
        int axis = ShapeMath.Axis(c.Int("axis", 0), data.Rank);
        var shape = data.Shape[..axis].Concat(idx.Shape).Concat(data.Shape[(axis + 1)..]).ToArray();
        ConstantValue? value = null;
        if (data.Value is { } v && idx.Value is { } iv && ShapeMath.Elements(shape) <= MaxFoldElements)
        {
            long outer = ShapeMath.Elements(data.Shape[..axis]), inner = ShapeMath.Elements(data.Shape[(axis + 1)..]), dim = data.Shape[axis];
            var src = new List<int>();
            for (long o = 0; o < outer; o++)
                for (int j = 0; j < iv.Length; j++)
                {
                    long k = iv.Int(j);
                    if (k < 0) k += dim;
                    if (k < 0 || k >= dim) throw new ShapeInferenceException($"index {iv.Int(j)} is out of range for dimension {dim}");
                    for (long i = 0; i < inner; i++) src.Add((int)((o * dim + k) * inner + i));
                }
            value = v.IsInteger ? ConstantValue.FromInts(src.Select(i => v.Ints![i]).ToArray()) : ConstantValue.FromReals(src.Select(i => v.Reals![i]).ToArray());
        }
        return new TensorInfo(data.DType, shape, value);
    }

    private static long[] AxesOperand(OpContext c, int position, string what)
    {
        if (c.Opt(position) is not null) return c.ConstInts(position, what);
        return c.Ints("axes") ?? [];
    }

    private static TensorInfo Unsqueeze(OpContext c)
    {
        var x = c.In(0);
        var axes = AxesOperand(c, 1, "the axes");
        int rank = x.Rank + axes.Length;
        var norm = axes.Select(a => ShapeMath.Axis(a, rank)).ToHashSet();
        if (norm.Count != axes.Length) throw new ShapeInferenceException("repeated axes");
        var shape = new long[rank];
        int src = 0;
        for (int i = 0; i < rank; i++) shape[i] = norm.Contains(i) ? 1 : x.Shape[src++];
        return new TensorInfo(x.DType, shape, x.Value);
    }

    private static TensorInfo Squeeze(OpContext c)
    {
        var x = c.In(0);
        var axes = AxesOperand(c, 1, "the axes");
        var norm = axes.Length == 0 ? Enumerable.Range(0,
            x.Rank).Where(i => x.Shape[i] == 1).ToHashSet() : axes.Select(a => ShapeMath.Axis(a, x.Rank)).ToHashSet();
        foreach (var a in norm)
            if (x.Shape[a] != 1) throw new ShapeInferenceException($"cannot squeeze axis {a} of size {x.Shape[a]}");
        var shape = x.Shape.Where((_, i) => !norm.Contains(i)).ToArray();
        return new TensorInfo(x.DType, shape, x.Value);
    }

    private static string CastTarget(OpContext c)
    {
        long to = c.Int("to", 0);
        return ElementTypes.NameOf((int)to) is { } n && n != "string" ? n : throw new ShapeInferenceException($"unsupported target element type {to}");
    }

    private static TensorInfo Cast(OpContext c, string dtype)
    {
        var x = c.In(0);
        return new TensorInfo(dtype, x.Shape, x.Value?.As(dtype));
    }

    private static long[] ReduceAxes(OpContext c, TensorInfo x, out bool noop)
    {
        noop = false;
        long[] axes = c.Opt(1) is not null ? c.ConstInts(1, "the axes") : c.Ints("axes") ?? [];
        if (axes.Length == 0)
        {
            if (c.Int("noop_with_empty_axes", 0) != 0) { noop = true; return []; }
            return Enumerable.Range(0, x.Rank).Select(i => (long)i).ToArray();
        }
        return axes.Select(a => (long)ShapeMath.Axis(a, x.Rank)).Distinct().ToArray();
    }

    private static TensorInfo Reduce(OpContext c)
    {
        var x = c.In(0);
        var axes = ReduceAxes(c, x, out bool noop);
        if (noop) return new TensorInfo(x.DType, x.Shape, x.Value);
        bool keep = c.Int("keepdims", 1) != 0;
        var shape = new List<long>();
        for (int i = 0; i < x.Rank; i++)
            if (!axes.Contains(i)) shape.Add(x.Shape[i]);
            else if (keep) shape.Add(1);
        ConstantValue? value = null;
        if (x.Value is { } v && x.Rank == 1 && v.Length > 0)
        {
            var reals = Enumerable.Range(0, v.Length).Select(v.Real).ToArray();
            double? r = c.OpType switch
            {
                "ReduceSum" => reals.Sum(), "ReduceProd" => reals.Aggregate(1.0, (p, q) => p * q), "ReduceMax" => reals.Max(),
                "ReduceMin" => reals.Min(), "ReduceMean" => reals.Average(), _ => null,
            };
            if (r is { } rv) value = ConstantValue.FromReals([rv]).As(x.DType);
        }
        return new TensorInfo(x.DType, shape.ToArray(), value);
    }

    private static TensorInfo ArgReduce(OpContext c)
    {
        var x = c.In(0);
        int axis = ShapeMath.Axis(c.Int("axis", 0), x.Rank);
        bool keep = c.Int("keepdims", 1) != 0;
        var shape = x.Shape.Select((d, i) => i == axis ? (keep ? 1 : -1) : d).Where(d => d >= 0).ToArray();
        return new TensorInfo("int64", shape);
    }

    private static TensorInfo[] Loss(OpContext c)
    {
        var scores = c.In(0); var labels = c.In(1);
        if (scores.Rank < 2) throw new ShapeInferenceException($"scores must have rank 2 or more, got {ShapeMath.Format(scores.Shape)}");
        var expected = scores.Shape.Where((_, i) => i != 1).ToArray();
        if (!expected.SequenceEqual(labels.Shape))
            throw new ShapeInferenceException($"labels {ShapeMath.Format(labels.Shape)} do not match scores {ShapeMath.Format(scores.Shape)}");
        string reduction = c.Str("reduction", "mean");
        long[] lossShape = reduction switch
        {
            "mean" or "sum" => [],
            "none" => labels.Shape,
            _ => throw new ShapeInferenceException($"unknown reduction '{reduction}'"),
        };
        var result = new TensorInfo[c.OutputCount];
        result[0] = new TensorInfo(scores.DType, lossShape);
        for (int i = 1; i < result.Length; i++) result[i] = new TensorInfo(scores.DType, scores.Shape);
        return result;
    }

    private static TensorInfo[] Dropout(OpContext c)
    {
        var x = c.In(0);
        var result = new TensorInfo[c.OutputCount];
        result[0] = new TensorInfo(x.DType, x.Shape);
        for (int i = 1; i < result.Length; i++) result[i] = new TensorInfo("bool", x.Shape);
        return result;
    }
}
