namespace Recompute.Planner.Costs;

/// <summary>
/// Static shape inference for the ONNX operators found in PyTorch (torchvision, Hugging Face) training exports,
/// with constant propagation through shape arithmetic (Shape → Gather → Concat → Reshape, Range, ...) so that
/// reshape targets computed in the graph are static. Every result shape is fully known: an operator whose
/// output shape depends on run-time data (NonZero, a Reshape whose target is computed from data) is an error,
/// never a guess.
/// </summary>
/// <remarks>
/// Values are propagated for tensors of at most <see cref="MaxFoldElements"/> elements; shape arithmetic stays
/// far below that. Semantics follow the ONNX operator specification for opsets 9 to 21 (operands that moved
/// from attributes to inputs, such as Split's sizes, Unsqueeze's axes or Reduce*'s axes, are read from either).
/// </remarks>
public static class ShapeInference
{
    /// <summary>Largest tensor (in elements) whose value is propagated.</summary>
    public const int MaxFoldElements = 1 << 16;

    private static readonly HashSet<string> Unary = new(StringComparer.Ordinal)
    {
        "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round",
        "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "LeakyRelu", "Elu",
        "Selu", "Celu", "Gelu", "Softplus", "Softsign", "HardSigmoid", "HardSwish", "Mish", "ThresholdedRelu", "Identity",
        "Clip", "Softmax", "LogSoftmax", "Hardmax", "Trilu", "LRN", "Shrink", "CumSum", "Not", "IsNaN", "IsInf",
        "InstanceNormalization", "GroupNormalization", "MeanVarianceNormalization", "EyeLike", "ScatterND",
        "ScatterElements", "PRelu", "BitwiseNot",
    };

    private static readonly HashSet<string> Broadcasting = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod", "And", "Or", "Xor", "Equal", "Less",
        "Greater", "LessOrEqual", "GreaterOrEqual", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift",
    };

    private static readonly HashSet<string> Comparisons = new(StringComparer.Ordinal)
    {
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf",
    };

    private static readonly HashSet<string> Others = new(StringComparer.Ordinal)
    {
        "Conv", "ConvTranspose", "BatchNormalization", "LayerNormalization", "MaxPool", "AveragePool", "LpPool",
        "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "MatMul", "Gemm", "Flatten", "Reshape", "Transpose",
        "Split", "Concat", "Gather", "GatherElements", "Unsqueeze", "Squeeze", "Cast", "CastLike", "Where",
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
        "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss",
        "Dropout", "Constant", "ConstantOfShape", "Shape", "Size", "Slice", "Expand", "Tile", "Pad", "Resize", "Upsample",
        "Range", "DepthToSpace", "SpaceToDepth", "TopK",
    };

    /// <summary>True when this class can infer the output shapes of the operator.</summary>
    public static bool IsSupported(string opType) => Unary.Contains(opType) || Broadcasting.Contains(opType) || Others.Contains(opType);

    /// <summary>All operator types supported, sorted.</summary>
    public static IReadOnlyList<string> SupportedOps => Unary.Concat(Broadcasting).Concat(Others).Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Infers the outputs of one operation (one entry per declared output). Throws
    /// <see cref="ShapeInferenceException"/> with the problem when the shapes are inconsistent or not static.
    /// </summary>
    public static TensorInfo[] Infer(OpContext c)
    {
        var outputs = InferCore(c);
        foreach (var o in outputs) ShapeMath.Validate(o.Shape, "the output");
        return outputs;
    }

    private static TensorInfo[] InferCore(OpContext c)
    {
        string op = c.OpType;
        if (Unary.Contains(op)) return [UnaryOp(c)];
        if (Broadcasting.Contains(op)) return [BroadcastOp(c)];
        return op switch
        {
            "Conv" => [Conv(c)],
            "ConvTranspose" => [ConvTranspose(c)],
            "BatchNormalization" => BatchNorm(c),
            "LayerNormalization" => LayerNorm(c),
            "MaxPool" or "AveragePool" or "LpPool" => Pool(c),
            "GlobalAveragePool" or "GlobalMaxPool" or "GlobalLpPool" => [GlobalPool(c)],
            "MatMul" => [MatMul(c)],
            "Gemm" => [Gemm(c)],
            "Flatten" => [Flatten(c)],
            "Reshape" => [Reshape(c)],
            "Transpose" => [Transpose(c)],
            "Split" => Split(c),
            "Concat" => [Concat(c)],
            "Gather" => [Gather(c)],
            "GatherElements" => [new TensorInfo(c.In(0).DType, c.In(1).Shape)],
            "Unsqueeze" => [Unsqueeze(c)],
            "Squeeze" => [Squeeze(c)],
            "Cast" => [Cast(c, CastTarget(c))],
            "CastLike" => [Cast(c, c.In(1).DType)],
            "Where" => [Where(c)],
            "ArgMax" or "ArgMin" => [ArgReduce(c)],
            "SoftmaxCrossEntropyLoss" or "NegativeLogLikelihoodLoss" => Loss(c),
            "Dropout" => Dropout(c),
            "Constant" => [Constant(c)],
            "ConstantOfShape" => [ConstantOfShape(c)],
            "Shape" => [ShapeOp(c)],
            "Size" => [new TensorInfo("int64", [], ConstantValue.FromInts([c.In(0).Elements]))],
            "Slice" => [Slice(c)],
            "Expand" => [Expand(c)],
            "Tile" => [Tile(c)],
            "Pad" => [Pad(c)],
            "Resize" or "Upsample" => [Resize(c)],
            "Range" => [Range(c)],
            "DepthToSpace" or "SpaceToDepth" => [DepthSpace(c)],
            "TopK" => TopK(c),
            _ when op.StartsWith("Reduce", StringComparison.Ordinal) => [Reduce(c)],
            _ => throw new ShapeInferenceException($"unsupported operator '{op}'"),
        };
    }

    // ---- element-wise -------------------------------------------------------------------------------------

    private static TensorInfo UnaryOp(OpContext c)
    {
        var x = c.In(0);
        string dtype = Comparisons.Contains(c.OpType) ? "bool" : x.DType;
        if (c.OpType == "PRelu") ShapeMath.Broadcast(x.Shape, c.In(1).Shape);
        ConstantValue? value = null;
        if (x.Value is { } v && FoldUnary(c.OpType) is { } f)
            value = v.IsInteger && c.OpType is "Identity" or "Neg" or "Abs" or "Relu" or "Sign" or "Not"
                ? ConstantValue.FromInts(v.Ints!.Select(a => (long)f(a)).ToArray())
                : ConstantValue.FromReals(Enumerable.Range(0, v.Length).Select(i => f(v.Real(i))).ToArray()).As(dtype);
        return new TensorInfo(dtype, x.Shape, value);
    }

    private static Func<double, double>? FoldUnary(string op) => op switch
    {
        "Identity" => a => a,
        "Neg" => a => -a,
        "Abs" => Math.Abs,
        "Relu" => a => Math.Max(a, 0),
        "Sign" => a => Math.Sign(a),
        "Not" => a => a == 0 ? 1 : 0,
        "Sqrt" => Math.Sqrt,
        "Exp" => Math.Exp,
        "Log" => Math.Log,
        "Floor" => Math.Floor,
        "Ceil" => Math.Ceiling,
        "Reciprocal" => a => 1 / a,
        _ => null,
    };

    private static TensorInfo BroadcastOp(OpContext c)
    {
        var operands = c.Inputs.Where(t => t is not null).Select(t => t!).ToList();
        if (operands.Count == 0) throw new ShapeInferenceException("no operands");
        if (c.OpType is not ("Sum" or "Mean" or "Max" or "Min") && operands.Count != 2)
            throw new ShapeInferenceException($"expects 2 operands, has {operands.Count}");
        long[] shape = operands[0].Shape;
        foreach (var t in operands.Skip(1)) shape = ShapeMath.Broadcast(shape, t.Shape);
        string dtype = Comparisons.Contains(c.OpType) ? "bool" : operands[0].DType;
        ConstantValue? value = null;
        if (operands.All(t => t.Value is not null) && ShapeMath.Elements(shape) <= MaxFoldElements && FoldBinary(c.OpType, dtype) is { } f)
        {
            var acc = operands[0];
            foreach (var t in operands.Skip(1))
            {
                var s = ShapeMath.Broadcast(acc.Shape, t.Shape);
                acc = new TensorInfo(dtype, s, BroadcastValues(acc, t, s, f, FoldBinaryInt(c.OpType), dtype));
            }
            value = acc.Value!.As(dtype);
            if (c.OpType == "Mean") value = ConstantValue.FromReals(Enumerable.Range(0,
                value.Length).Select(i => value.Real(i) / operands.Count).ToArray()).As(dtype);
        }
        return new TensorInfo(dtype, shape, value);
    }

    private static Func<double, double, double>? FoldBinary(string op, string dtype)
    {
        bool integral = ElementTypes.IsIntegral(dtype);
        return op switch
        {
            "Add" or "Sum" or "Mean" => (a, b) => a + b,
            "Sub" => (a, b) => a - b,
            "Mul" => (a, b) => a * b,
            "Div" => integral ? (a,
                b) => b == 0 ? throw new ShapeInferenceException("integer division by zero in a constant") : Math.Truncate(a / b) : (a, b) => a / b,
            "Pow" => Math.Pow,
            "Max" => Math.Max,
            "Min" => Math.Min,
            "Mod" => (a, b) => b == 0 ? throw new ShapeInferenceException("modulo by zero in a constant") : a - Math.Floor(a / b) * b,
            "Equal" => (a, b) => a == b ? 1 : 0,
            "Less" => (a, b) => a < b ? 1 : 0,
            "Greater" => (a, b) => a > b ? 1 : 0,
            "LessOrEqual" => (a, b) => a <= b ? 1 : 0,
            "GreaterOrEqual" => (a, b) => a >= b ? 1 : 0,
            "And" => (a, b) => a != 0 && b != 0 ? 1 : 0,
            "Or" => (a, b) => a != 0 || b != 0 ? 1 : 0,
            "Xor" => (a, b) => (a != 0) ^ (b != 0) ? 1 : 0,
            _ => null,
        };
    }

    /// <summary>Exact 64-bit integer folding (shape values such as INT64_MAX in Slice ends must not pass through doubles).</summary>
    private static Func<long, long, long>? FoldBinaryInt(string op) => op switch
    {
        "Add" or "Sum" => (a, b) => unchecked(a + b),
        "Sub" => (a, b) => unchecked(a - b),
        "Mul" => (a, b) => unchecked(a * b),
        "Div" => (a, b) => b == 0 ? throw new ShapeInferenceException("integer division by zero in a constant") : a / b,
        "Max" => Math.Max,
        "Min" => Math.Min,
        _ => null,
    };

    /// <summary>Element-wise f over two constant tensors broadcast to <paramref name="shape"/>.</summary>
    private static ConstantValue BroadcastValues(TensorInfo a, TensorInfo b, long[] shape, Func<double, double, double> f,
        Func<long, long, long>? fi, string dtype)
    {
        int n = (int)ShapeMath.Elements(shape);
        bool ints = a.Value!.IsInteger && b.Value!.IsInteger;
        var ia = BroadcastIndex(a.Shape, shape);
        var ib = BroadcastIndex(b.Shape, shape);
        if (ints && !ElementTypes.IsFloat(dtype))
        {
            var r = new long[n];
            for (int i = 0; i < n; i++)
            {
                long x = a.Value.Ints![ia[i]], y = b.Value!.Ints![ib[i]];
                r[i] = fi is not null ? fi(x, y) : (long)f(x, y);
            }
            return ConstantValue.FromInts(r);
        }
        var d = new double[n];
        for (int i = 0; i < n; i++) d[i] = f(a.Value.Real(ia[i]), b.Value!.Real(ib[i]));
        return ConstantValue.FromReals(d);
    }

    /// <summary>For each element of the broadcast result, the flat index of the source element.</summary>
    private static int[] BroadcastIndex(long[] src, long[] shape)
    {
        int n = (int)ShapeMath.Elements(shape);
        var map = new int[n];
        int rank = shape.Length, off = rank - src.Length;
        var idx = new long[rank];
        for (int i = 0; i < n; i++)
        {
            long flat = 0;
            for (int k = 0; k < src.Length; k++) flat = flat * src[k] + (src[k] == 1 ? 0 : idx[k + off]);
            map[i] = (int)flat;
            for (int k = rank - 1; k >= 0; k--) { if (++idx[k] < shape[k]) break; idx[k] = 0; }
        }
        return map;
    }

    private static TensorInfo Where(OpContext c)
    {
        var cond = c.In(0); var x = c.In(1); var y = c.In(2);
        var shape = ShapeMath.Broadcast(ShapeMath.Broadcast(cond.Shape, x.Shape), y.Shape);
        ConstantValue? value = null;
        if (cond.Value is not null && x.Value is not null && y.Value is not null && ShapeMath.Elements(shape) <= MaxFoldElements)
        {
            var ic = BroadcastIndex(cond.Shape, shape); var ix = BroadcastIndex(x.Shape, shape); var iy = BroadcastIndex(y.Shape, shape);
            var r = new double[ic.Length];
            var ri = new long[ic.Length];
            for (int i = 0; i < ic.Length; i++)
            {
                bool t = cond.Value.Int(ic[i]) != 0;
                r[i] = t ? x.Value.Real(ix[i]) : y.Value.Real(iy[i]);
                ri[i] = t ? x.Value.Int(ix[i]) : y.Value.Int(iy[i]);
            }
            value = x.Value.IsInteger && y.Value.IsInteger ? ConstantValue.FromInts(ri) : ConstantValue.FromReals(r).As(x.DType);
        }
        return new TensorInfo(x.DType, shape, value);
    }

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
        return new TensorInfo(x.DType, shape, x.Rank <= 1 ? x.Value : null);
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
        if (x.Value is { } v && x.Rank == 1)
        {
            var idx = Enumerable.Range(0, (int)shape[0]).Select(i => (int)(begin[0] + i * stride[0])).ToArray();
            value = v.IsInteger ? ConstantValue.FromInts(idx.Select(i => v.Ints![i]).ToArray()) : ConstantValue.FromReals(idx.Select(i => v.Reals![i]).ToArray());
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
