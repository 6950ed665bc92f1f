using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// One invocation of an operator: the node being computed (or differentiated), the operand values that are
/// available, every operand's shape (always known from the graph, even when the value is not kept) and the arena
/// for scratch buffers.
/// </summary>
internal sealed class OpCall
{
    private readonly Tensor?[] _inputs;
    private readonly int[]?[] _inputShapes;

    /// <param name="inputs">Operand values by ONNX operand position; null where absent or not available.</param>
    /// <param name="inputShapes">Operand shapes by ONNX operand position; null where the optional operand is absent.</param>
    /// <param name="inputStrides">Per operand position, the element strides of an operand that is a strided view
    /// (a transposed view, <see cref="Views"/>), null where the operand is row-major. Its gradient is written at the
    /// same strides.</param>
    public OpCall(Node node, Tensor?[] inputs, int[]?[] inputShapes, int[] outputShape, Arena arena, ulong randomSeed, Tensor? output = null,
        int[]?[]? inputStrides = null)
    {
        _output = output;
        Node = node; _inputs = inputs; _inputShapes = inputShapes; OutputShape = outputShape; Arena = arena; RandomSeed = randomSeed;
        _inputStrides = inputStrides;
    }

    private readonly int[]?[]? _inputStrides;

    /// <summary>
    /// The element strides of operand <paramref name="k"/> in its buffer, and of its gradient in the gradient buffer:
    /// row-major strides of its shape, or a transposed view's strides in its base's layout. Known whether or not the
    /// operand's value is handed to this call.
    /// </summary>
    public int[] InputStrides(int k)
    {
        if (_inputStrides is not null && k < _inputStrides.Length && _inputStrides[k] is { } given) return given;
        var shape = InputShape(k);
        var strides = new int[shape.Length];
        for (int d = shape.Length - 1, s = 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
        return strides;
    }

    /// <summary>True when operand <paramref name="k"/> is a strided view (not row-major).</summary>
    public bool IsStrided(int k) => _inputStrides is not null && k < _inputStrides.Length && _inputStrides[k] is not null;

    private Tensor? _output;

    /// <summary>Makes this call the next one of the same node (the executor keeps one per node, with its operand array
    /// filled afresh): a new seed and output, no other outputs.</summary>
    internal OpCall Rebind(ulong randomSeed, Tensor? output)
    {
        RandomSeed = randomSeed;
        _output = output;
        _otherOutputs?.Clear();
        return this;
    }

    public Node Node { get; }

    /// <summary>The op's own output, for backwards that read it (<see cref="Node.SavedFor"/>).</summary>
    public Tensor Output() => _output ?? throw new InvalidOperationException($"'{Node.Name}' ({Node.Op}): its own output is not available to its backward here");

    /// <summary>True when the op's own output is handed to this backward.</summary>
    public bool HasOutput => _output is not null;

    private Dictionary<int, Tensor>? _otherOutputs;

    /// <summary>Hands this backward output <paramref name="index"/> of the same operation (what <see
    /// cref="SavedValues.OtherOutputs"/> lists).</summary>
    public void SetOtherOutput(int index, Tensor value) => (_otherOutputs ??= [])[index] = value;

    /// <summary>Output <paramref name="index"/> of the same operation (LayerNormalization's statistics, Dropout's mask), or
    /// null when the graph has no such output (the backward then recomputes it).</summary>
    public Tensor? OtherOutput(int index) => _otherOutputs is not null && _otherOutputs.TryGetValue(index, out var t) ? t : null;

    /// <summary>True when the value of operand <paramref name="k"/> is handed to this call.</summary>
    public bool HasValue(int k) => k < _inputs.Length && _inputs[k] is not null;
    public int[] OutputShape { get; }
    public Arena Arena { get; }
    /// <summary>Seed of this training step for operators with randomness (dropout): the same in a recomputation.</summary>
    public ulong RandomSeed { get; private set; }
    public int Arity => _inputs.Length;

    /// <summary>The value of operand <paramref name="k"/>; throws when the memory model does not keep it here.</summary>
    public Tensor Input(int k)
    {
        if (!HasOperand(k)) throw new InvalidOperationException($"'{Node.Name}' ({Node.Op}) has no operand #{k}");
        return _inputs[k] ?? throw new InvalidOperationException(
            $"'{Node.Name}' ({Node.Op}): the value of operand #{k} is not available here; the memory model keeps for this backward only what SavedTensors lists for the operand, and resident tensors");
    }

    /// <summary>True when optional operand <paramref name="k"/> (an ONNX operand position) is present.</summary>
    public bool HasOperand(int k) => k < _inputShapes.Length && _inputShapes[k] is not null;

    public int[] InputShape(int k) => (k < _inputShapes.Length ? _inputShapes[k] : null)
        ?? throw new InvalidOperationException($"'{Node.Name}' ({Node.Op}) has no operand #{k}");

    /// <summary>Values of a small resident operand (shapes, axes, scalars), as integers.</summary>
    public long[] InputLongs(int k)
    {
        var s = Input(k).Span;
        var r = new long[s.Length];
        for (int i = 0; i < s.Length; i++) r[i] = (long)s[i];
        return r;
    }

    public float InputScalar(int k) => Input(k).Span[0];

    /// <summary>A zeroed scratch buffer; dispose it when done.</summary>
    public Tensor Scratch(int length) => Arena.Scratch(length);

    public long Attr(string name, long fallback) => Node.AttributeLong(name, fallback);
    public double Attr(string name, double fallback) => Node.AttributeDouble(name, fallback);
    public long[] Attrs(string name) => Node.AttributeLongs(name);
}

/// <summary>
/// An operator: its forward computation and, side by side, the vector-Jacobian product for each operand.
/// The backward for one operand may read the values <see cref="SavedTensors"/> lists for that operand (plus resident
/// operands): the memory model (<see cref="TrainingGraph"/>) keeps only those, and the executor hands the backward
/// nothing else. Graphs whose nodes give their own per-node needs (older native files) may keep the input where the
/// table reads the output; the backwards of those rows (softmax, sqrt, ...) then recompute the output in scratch.
/// </summary>
internal abstract class Operator
{
    /// <summary>
    /// Computes the node's value (for multi-output ops: output <see cref="Node.OutputIndex"/>) into <paramref
    /// name="output"/>, writing every element whatever the buffer held, unless <see cref="ForwardAccumulates"/> says
    /// it adds into a zeroed buffer. The executor rents buffers without zeroing them on the strength of this contract.
    /// </summary>
    public abstract void Forward(OpCall call, Tensor output);

    /// <summary>True for an op whose <see cref="Forward"/> adds into its output and so needs it zeroed (the reductions);
    /// false for one that overwrites every element.</summary>
    public virtual bool ForwardAccumulates(Node node) => false;

    /// <summary>True when the vector-Jacobian product for <paramref name="operand"/> is the output gradient itself
    /// whenever the operand has the output's shape (Add's operands, Sub's first): the executor then adds the output
    /// gradient into a gradient that already has a contribution, instead of copying it into scratch and adding that.</summary>
    public virtual bool PassesGradient(Node node, int operand) => false;

    /// <summary>False for operands that carry no gradient (indices, shapes, conditions).</summary>
    public virtual bool IsDifferentiable(Node node, int operand) => true;

    /// <summary>
    /// Writes (overwrites) into <paramref name="gradInput"/> the gradient of the loss with respect to operand
    /// <paramref name="operand"/> given the gradient of the node's output: every element, whatever the buffer held (the
    /// executor hands it unzeroed memory).
    /// </summary>
    public abstract void Backward(OpCall call, ReadOnlySpan<float> gradOutput, int operand, Span<float> gradInput);

    protected static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    protected static int Product(ReadOnlySpan<int> shape, int from, int to)
    {
        int p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return p;
    }
}

/// <summary>How the runtime reads a node's operand positions and shape; element sizes are <see
/// cref="Recompute.Planner.Costs.ElementTypes"/>'s.</summary>
internal static class DTypes
{
    /// <summary>
    /// The ONNX operand position of each of the node's inputs: importers drop absent optional operands and record
    /// the positions of the present ones in the attribute <c>input_positions</c>.
    /// </summary>
    public static int[] OperandPositions(Node node)
    {
        var p = node.AttributeLongs("input_positions");
        return p.Length == node.Inputs.Length ? p.Select(v => (int)v).ToArray() : Enumerable.Range(0, node.Inputs.Length).ToArray();
    }

    /// <summary>The node's static shape as ints (empty for a scalar).</summary>
    public static int[] Shape(Node node) => node.Shape.Select(d => checked((int)d)).ToArray();
}
