using System.Collections.Frozen;
using Recompute.Planner.Graph;

namespace Recompute.Runtime.Ops;

/// <summary>The operators the runtime executes, by ONNX op type.</summary>
internal static class OperatorRegistry
{
    private static readonly FrozenDictionary<string, Operator> Operators = new Dictionary<string, Operator>(StringComparer.Ordinal)
    {
        ["Add"] = new ElementwiseBinary<AddRule>(),
        ["Sub"] = new ElementwiseBinary<SubRule>(),
        ["Mul"] = new ElementwiseBinary<MulRule>(),
        ["Div"] = new ElementwiseBinary<DivRule>(),
        ["Pow"] = new ElementwiseBinary<PowRule>(),
        ["Relu"] = new ElementwiseUnary<ReluRule>(),
        ["Sqrt"] = new ElementwiseUnary<SqrtRule>(),
        ["Erf"] = new ElementwiseUnary<ErfRule>(),
        ["Tanh"] = new ElementwiseUnary<TanhRule>(),
        ["Sigmoid"] = new ElementwiseUnary<SigmoidRule>(),
        ["Exp"] = new ElementwiseUnary<ExpRule>(),
        ["Neg"] = new ElementwiseUnary<NegRule>(reads: false),
        ["Clip"] = new ClipOp(),
        ["Cast"] = new CastOp(),
        ["Identity"] = new ReshapeOp(),
        ["Reshape"] = new ReshapeOp(),
        ["Flatten"] = new ReshapeOp(),
        ["Squeeze"] = new ReshapeOp(),
        ["Unsqueeze"] = new ReshapeOp(),
        ["Transpose"] = new TransposeOp(),
        ["Split"] = new SplitOp(),
        ["Concat"] = new ConcatOp(),
        ["Gather"] = new GatherOp(),
        ["Where"] = new WhereOp(),
        ["Trilu"] = new TriluOp(),
        ["Constant"] = new ConstantOp(),
        ["ConstantOfShape"] = new ConstantOp(),
        ["Shape"] = new ConstantOp(),
        ["MatMul"] = new MatMulOp(),
        ["Gemm"] = new GemmOp(),
        ["Conv"] = new ConvOp(),
        ["ConvTranspose"] = new ConvTransposeOp(),
        ["MaxPool"] = new PoolOp(max: true),
        ["AveragePool"] = new PoolOp(max: false),
        ["GlobalAveragePool"] = new GlobalAveragePoolOp(),
        ["BatchNormalization"] = new BatchNormalizationOp(),
        ["ReduceMean"] = new ReduceOp(mean: true),
        ["ReduceSum"] = new ReduceOp(mean: false),
        ["Softmax"] = new SoftmaxOp(),
        ["SoftmaxCrossEntropyLoss"] = new SoftmaxCrossEntropyOp(),
        ["Dropout"] = new DropoutOp(),
        ["Gelu"] = new GeluOp(),
        ["LayerNormalization"] = new LayerNormalizationOp(),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Op types the runtime supports, sorted.</summary>
    public static IReadOnlyList<string> SupportedOps { get; } = Operators.Keys.Order(StringComparer.Ordinal).ToArray();

    public static bool TryGet(string op,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Operator? found) => Operators.TryGetValue(op, out found);

    /// <summary>The operator of a node; throws <see cref="GraphFormatException"/> naming the node for an unsupported op.</summary>
    public static Operator For(ComputationGraph graph, Node node) =>
        Operators.TryGetValue(node.Op, out var op) ? op
            : throw new GraphFormatException(graph.Source, $"tensor '{node.Name}'",
                $"op '{node.Op}' is not supported by the runtime (supported: {string.Join(", ", SupportedOps)})");

    /// <summary>
    /// The operand positions whose values the backward of an op reads for some of its <paramref name="arity"/> operands
    /// and whether it reads its output: the union of <see cref="SavedTensors"/>' row (what a per-node list of needs must
    /// hold); null for an op the table does not know.
    /// </summary>
    public static SavedValues? BackwardNeeds(string opType, int arity) =>
        SavedTensors.Union(opType, Enumerable.Range(0, arity)) is { } s ? s with { Operands = [.. s.Operands.Where(p => p < arity)] } : null;
}
