using System.Collections.Immutable;

namespace Recompute.Planner.Graph;

/// <summary>What role a tensor plays in training.</summary>
public enum NodeKind
{
    /// <summary>Network input (data, labels): always resident, not planned.</summary>
    Input,
    /// <summary>Trainable weight: always resident, not planned; its gradient is counted apart from the budget.</summary>
    Parameter,
    /// <summary>Constant or shape-only value (int64 shape arithmetic): folded, resident, not planned.</summary>
    Constant,
    /// <summary>A tensor produced by an operation during the forward pass: the planner decides whether to keep it.</summary>
    Activation,
    /// <summary>The scalar loss: the sink from which backpropagation starts. Planned like an activation.</summary>
    Loss,
}

/// <summary>
/// One tensor of the graph, produced by one operation (or one output of a multi-output operation).
/// Nodes are immutable; <see cref="Id"/> is the node's position in the graph's topological order. A changed copy is
/// made with <c>with</c>; two nodes are equal only when they are the same object, as a graph's nodes are.
/// </summary>
public sealed record Node
{
    public Node(int id, string name, string op, NodeKind kind, ImmutableArray<int> inputs, long bytes, double time,
        ImmutableArray<long> shape, string dtype, ImmutableSortedDictionary<string, object> attributes,
        int outputIndex, bool isBackward, int forwardOf, ImmutableArray<int> backwardNeeds, double backwardTime, bool backwardNeedsOutput = false)
    {
        BackwardNeedsOutput = backwardNeedsOutput;
        Id = id; Name = name; Op = op; Kind = kind; Inputs = inputs; Bytes = bytes; Time = time; Shape = shape;
        DType = dtype; Attributes = attributes; OutputIndex = outputIndex; IsBackward = isBackward; ForwardOf = forwardOf;
        BackwardNeeds = backwardNeeds; BackwardTime = backwardTime;
    }

    /// <summary>Index of the node in topological order.</summary>
    public int Id { get; init; }
    /// <summary>Unique name (the tensor name in ONNX, the id in the paper's files).</summary>
    public string Name { get; init; }
    /// <summary>Operation type that produces this tensor ("Conv", "Relu", "Input", "Parameter", ...).</summary>
    public string Op { get; init; }
    public NodeKind Kind { get; init; }
    /// <summary>Ids of the tensors the producing operation reads, in operand order; may repeat.</summary>
    public ImmutableArray<int> Inputs { get; init; }
    /// <summary>Size of the tensor in bytes.</summary>
    public long Bytes { get; init; }
    /// <summary>Time to compute the tensor from its inputs, in the graph's <see cref="ComputationGraph.TimeUnit"/>.</summary>
    public double Time { get; init; }
    /// <summary>Time of this node's backward operation; when the file does not say, <see cref="DefaultBackwardTime"/>.</summary>
    public double BackwardTime { get; init; }
    /// <summary>Static shape, empty when unknown or scalar.</summary>
    public ImmutableArray<long> Shape { get; init; }
    /// <summary>Element type ("float32", "int64", ...).</summary>
    public string DType { get; init; }
    /// <summary>Operation attributes: long, double, string, long[], double[] or float[] values.</summary>
    public ImmutableSortedDictionary<string, object> Attributes { get; init; }
    /// <summary>Which output of a multi-output operation this tensor is (0 for single-output ops).</summary>
    public int OutputIndex { get; init; }
    /// <summary>True for nodes of an explicit backward pass (Checkmate training graphs).</summary>
    public bool IsBackward { get; init; }
    /// <summary>For an explicit backward node, the forward node whose gradient it computes, or -1.</summary>
    public int ForwardOf { get; init; }
    /// <summary>
    /// Operand positions (indexes into <see cref="Inputs"/>) whose forward values the backward of this
    /// operation reads. Add needs none, Mul/MatMul/Conv need their operands, ReLU its input.
    /// </summary>
    public ImmutableArray<int> BackwardNeeds { get; init; }
    /// <summary>
    /// True when the backward reads this operation's own output instead (ReLU: the mask y &gt; 0 equals x &gt; 0, and y is
    /// kept anyway when the next layer's backward reads it, so the input can be freed as soon as y is made).
    /// </summary>
    public bool BackwardNeedsOutput { get; init; }

    /// <summary>
    /// True when what the backward reads follows <see cref="SavedTensors"/> per operand that takes a gradient (graphs
    /// imported from ONNX or built for the runtime); false when <see cref="BackwardNeeds"/> and
    /// <see cref="BackwardNeedsOutput"/>, given by the file, are read for every operand.
    /// </summary>
    public bool SavedByRule { get; init; }

    /// <summary>
    /// The ONNX operand position of each input: importers drop absent optional operands and record the positions of
    /// the present ones in the attribute <c>input_positions</c>.
    /// </summary>
    public int OperandPosition(int k)
    {
        var p = AttributeLongs("input_positions");
        return p.Length == Inputs.Length ? (int)p[k] : k;
    }

    /// <summary>
    /// What the vector-Jacobian product for input <paramref name="k"/> (an index into <see cref="Inputs"/>) reads:
    /// input indexes, whether the op's own output is read, and which other outputs of the operation are read when the
    /// graph has them (<see cref="ComputationGraph.OutputOf"/>).
    /// </summary>
    public (ImmutableArray<int> Inputs, bool Output, ImmutableArray<int> OtherOutputs) SavedFor(int k)
    {
        if (!SavedByRule || SavedTensors.ForGradientOf(Op, OperandPosition(k)) is not { } saved) return (BackwardNeeds, BackwardNeedsOutput, []);
        var inputs = ImmutableArray.CreateBuilder<int>();
        for (int j = 0; j < Inputs.Length; j++)
            if (saved.Operands.Contains(OperandPosition(j))) inputs.Add(j);
        return (inputs.ToImmutable(), saved.Output, saved.OtherOutputs.IsDefault ? [] : saved.OtherOutputs);
    }

    /// <summary>
    /// The union of <see cref="SavedFor"/> over the operand indexes <paramref name="ks"/> (every index at which the op
    /// reads one tensor), computed once: an op that reads a tensor n times would otherwise ask n times for what
    /// may be all n operands (n² on a native op without <c>backwardNeeds</c>).
    /// </summary>
    public (ImmutableArray<int> Inputs, bool Output, ImmutableArray<int> OtherOutputs) SavedForAny(IReadOnlyCollection<int> ks)
    {
        if (ks.Count == 1) return SavedFor(ks.First());
        if (!SavedByRule || SavedTensors.Union(Op, ks.Select(OperandPosition).Distinct()) is not { } saved) return (BackwardNeeds,
            BackwardNeedsOutput, []);
        var positions = saved.Operands.ToHashSet();
        var inputs = ImmutableArray.CreateBuilder<int>();
        for (int j = 0; j < Inputs.Length; j++)
            if (positions.Contains(OperandPosition(j))) inputs.Add(j);
        return (inputs.ToImmutable(), saved.Output, saved.OtherOutputs.IsDefault ? [] : saved.OtherOutputs);
    }

    /// <summary>True for tensors the planner schedules (activations and the loss).</summary>
    public bool IsPlanned => Kind is NodeKind.Activation or NodeKind.Loss;

    /// <summary>True for tensors that are always resident (inputs, parameters, constants).</summary>
    public bool IsResident => !IsPlanned;

    public T? Attribute<T>(string key) => Attributes.TryGetValue(key, out var v) && v is T t ? t : default;

    public long AttributeLong(string key, long fallback) => Attributes.TryGetValue(key, out var v) ? Convert.ToInt64(v,
        System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public double AttributeDouble(string key, double fallback) => Attributes.TryGetValue(key, out var v) ? Convert.ToDouble(v,
        System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public long[] AttributeLongs(string key) => Attributes.TryGetValue(key, out var v) && v is long[] a ? a : [];

    /// <summary>
    /// The backward time of an operation whose file gives only its forward time: twice the forward (a product's
    /// backward is two products, one per operand). The one place this rule is written.
    /// </summary>
    public static double DefaultBackwardTime(double forwardTime) => 2 * forwardTime;

    /// <summary>Reference equality: a graph's nodes are distinct objects even when two have the same fields.</summary>
    public bool Equals(Node? other) => ReferenceEquals(this, other);

    /// <inheritdoc/>
    public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);

    public override string ToString() => $"{Name} ({Op}, {Bytes} B)";
}
