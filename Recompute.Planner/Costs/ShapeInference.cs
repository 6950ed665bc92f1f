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
public static partial class ShapeInference
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
}
