using System.Collections.Frozen;
using System.Collections.Immutable;

namespace Recompute.Planner.Graph;

/// <summary>
/// The forward values one operand's vector-Jacobian product reads: operands by ONNX position (resident operands such
/// as weights and constants are always available and cost the budget nothing) and whether the op's own output is read.
/// </summary>
/// <param name="Operands">ONNX operand positions whose values are read.</param>
/// <param name="Output">True when the op's own output (output 0, or the node's own output of a multi-output op) is read.</param>
/// <param name="OtherOutputs">Indexes of other outputs of the same operation that are read when the graph has them
/// (LayerNormalization's Mean and InvStdDev, Dropout's mask); an operation whose graph lacks one recomputes it.</param>
public readonly record struct SavedValues(ImmutableArray<int> Operands, bool Output, ImmutableArray<int> OtherOutputs)
{
    public SavedValues(ImmutableArray<int> operands, bool output) : this(operands, output, []) { }

    /// <summary>Nothing: the gradient is a function of the output gradient and shapes alone.</summary>
    public static SavedValues None { get; } = new([], false);

    /// <summary>The op's own output only.</summary>
    public static SavedValues OwnOutput { get; } = new([], true);

    /// <summary>The given operands.</summary>
    public static SavedValues Of(params int[] operands) => new([.. operands], false);

    /// <summary>These operands and these other outputs of the operation.</summary>
    public static SavedValues Of(int[] operands, int[] otherOutputs) => new([.. operands], false, [.. otherOutputs]);
}

/// <summary>
/// The one table of what the backward of each operator reads, per operand that takes a gradient: the memory model
/// (<see cref="TrainingGraph"/>, hence lowering, the simulator and every solver) keeps exactly these values for the
/// backward, and the runtime's backward kernels read exactly these (the executor hands them nothing else).
/// </summary>
/// <remarks>
/// Each row follows the derivative of the operator as the ONNX operator specification defines the forward function and
/// as PyTorch's derivative formulas (tools/autograd/derivatives.yaml) write its backward; the comment on each row says
/// which fact it uses. Where a derivative can be written from the input or from the output (tanh' = 1 − tanh²), the
/// row follows the framework: PyTorch saves the output for Tanh, Sigmoid, Exp, Sqrt, Softmax and ReLU. Ops with no row
/// read every operand (the conservative default for operators only the planner knows).
/// </remarks>
public static class SavedTensors
{
    private delegate SavedValues Rule(int operand);

    private static readonly Rule Nothing = _ => SavedValues.None;
    private static readonly Rule Output = _ => SavedValues.OwnOutput;
    private static readonly Rule Input = _ => SavedValues.Of(0);
    private static Rule Fixed(params int[] operands) => _ => SavedValues.Of(operands);

    /// <summary>A product of two operands: each operand's gradient is the output gradient times the other operand.</summary>
    private static readonly Rule OtherOperand = k => k switch { 0 => SavedValues.Of(1), 1 => SavedValues.Of(0), _ => SavedValues.None };

    private static readonly FrozenDictionary<string, Rule> Rows = Build();

    private static FrozenDictionary<string, Rule> Build()
    {
        var rows = new Dictionary<string, Rule>(StringComparer.Ordinal);
        void Row(Rule rule, params string[] ops) { foreach (var op in ops) rows.Add(op, rule); }

        // Linear in their operands, or a copy/rearrangement of them: d(a±b) = da ± db; a reshape, transpose, slice,
        // concatenation, pad, expand or tile moves or sums gradient elements by shape alone (derivatives.yaml: add, sub,
        // view, permute, cat, slice, expand, constant_pad_nd use only sizes). Sum and Mean are n-ary additions.
        Row(Nothing, "Add", "Sub", "Sum", "Mean", "Neg", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose",
            "Split", "Slice", "Concat", "Expand", "Tile", "Pad", "Cast", "CastLike", "Trilu", "Resize", "Upsample", "CumSum",
            "DepthToSpace", "SpaceToDepth");
        // ReduceSum/ReduceMean: the gradient is the output gradient broadcast back (divided by the count for the mean);
        // AveragePool and GlobalAveragePool spread it evenly over each window (derivatives.yaml: sum, mean, avg_pool2d
        // backward read only sizes).
        Row(Nothing, "ReduceSum", "ReduceMean", "AveragePool", "GlobalAveragePool");
        // No gradient flows through comparisons, logic, shapes and constants (their outputs are boolean or integer).
        Row(Nothing, "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Shape", "Size",
            "Constant", "ConstantOfShape", "Range", "IsNaN", "IsInf");
        // Dropout: dx = g ⊙ mask / (1 − ratio) reads the keep mask, output 1, a bool tensor of 1 byte an element
        // (derivatives.yaml: native_dropout_backward(grad, result1, scale); the ONNX importer gives every Dropout in
        // training mode its mask output). Without a mask output (graphs built in code) the runtime regenerates it.
        Row(_ => SavedValues.Of([], [1]), "Dropout");

        // d relu(x) = 1[x > 0] = 1[relu(x) > 0]: PyTorch's threshold_backward reads the result.
        Row(Output, "Relu");
        // d sqrt(x) = 1 / (2 sqrt x); d exp(x) = exp x; d tanh(x) = 1 − tanh² x; d σ(x) = σ(x)(1 − σ(x)); softmax's
        // Jacobian-vector product is y ⊙ (g − Σ g ⊙ y) and log-softmax's g − exp(y) Σ g; d(1/x) = −(1/x)²:
        // derivatives.yaml writes every one of them from `result`.
        Row(Output, "Sqrt", "Exp", "Tanh", "Sigmoid", "Softmax", "LogSoftmax", "Reciprocal");
        // Functions whose derivative is written from the input: erf' = 2/√π·exp(−x²), gelu' from x (derivatives.yaml:
        // erf, gelu_backward(grad, self)), log' = 1/x, |x|' = sign x, clip's pass-through mask x ∈ [min, max], and the
        // remaining pointwise activations and trigonometric functions, whose formulas PyTorch writes from `self`.
        Row(Input, "Erf", "Gelu", "Log", "Abs", "Clip", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "HardSigmoid",
            "HardSwish", "Mish", "ThresholdedRelu", "Shrink", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
            "Asinh", "Acosh", "Atanh", "LRN");
        // MaxPool routes each output gradient to the arg-max of its window, found here from the input (PyTorch keeps the
        // indices instead).
        Row(Input, "MaxPool", "GlobalMaxPool", "LpPool", "GlobalLpPool", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
            "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare");
        // Normalisations: the gradient needs the input (through its mean and variance, recomputed here) and the scale
        // (operand 1): derivatives.yaml's native_batch_norm/layer_norm backward read input, weight and the saved
        // statistics.
        Row(Fixed(0, 1), "BatchNormalization", "InstanceNormalization", "GroupNormalization");
        // LayerNormalization: native_layer_norm_backward(grad, input, normalized_shape, mean, rstd, weight, bias) reads the
        // input, the weight and the per-row mean and reciprocal standard deviation, ONNX's outputs 1 (Mean) and 2
        // (InvStdDev), a few bytes a row. The bias's gradient is the output gradient summed over rows and reads nothing.
        Row(k => k switch { 0 => SavedValues.Of([0, 1], [1, 2]), 1 => SavedValues.Of([0], [1, 2]), _ => SavedValues.None }, "LayerNormalization");
        Row(Input, "MeanVarianceNormalization");

        // Mul: d(a·b) = b·da + a·db; each operand's gradient reads the other (derivatives.yaml: mul: grad * other, grad * self).
        Row(OtherOperand, "Mul");
        // MatMul: dA = G·Bᵀ, dB = Aᵀ·G; Gemm the same for A and B, and C's gradient is β·G summed over broadcasting.
        // Conv/ConvTranspose: dX needs W, dW needs X, the bias none (derivatives.yaml: mm, convolution_backward).
        Row(OtherOperand, "MatMul", "Gemm", "Conv", "ConvTranspose");
        // Div: d(a/b)/da = 1/b; d(a/b)/db = −a/b² (derivatives.yaml: div: grad / other, -grad * self / (other * other)).
        // Division by a constant therefore keeps only the constant, which is resident.
        Row(k => k == 0 ? SavedValues.Of(1) : SavedValues.Of(0, 1), "Div");
        // Pow: d(a^b)/da = b·a^(b−1); d(a^b)/db = a^b·ln a (derivatives.yaml: pow_backward_self, pow_backward_exponent
        // read self and exponent).
        Row(Fixed(0, 1), "Pow");
        // Gather/GatherElements scatter the gradient to the gathered indices (operand 1).
        Row(Fixed(1), "Gather", "GatherElements");
        // Where(c, x, y): dx = g where c, dy = g where not c; only the condition (1 byte an element as bool) is read.
        Row(Fixed(0), "Where");
        // Losses: softmax cross-entropy's gradient is softmax(scores) − onehot(labels), weighted; it reads scores,
        // labels and the optional class weights.
        Row(Fixed(0, 1, 2), "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss");
        return rows.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>Op types the table has a row for, sorted.</summary>
    public static IReadOnlyList<string> Ops { get; } = Rows.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>True when the table has a row for the op type.</summary>
    public static bool Knows(string op) => Rows.ContainsKey(op);

    /// <summary>
    /// What the gradient of operand <paramref name="operand"/> (ONNX position) of an <paramref name="op"/> reads, or
    /// null for an op without a row (callers then keep every operand).
    /// </summary>
    public static SavedValues? ForGradientOf(string op, int operand) => Rows.TryGetValue(op, out var rule) ? rule(operand) : null;

    /// <summary>
    /// The union over the given operand positions of what their gradients read (what a per-node list must keep when
    /// it cannot say which operand is being differentiated); null for an op without a row.
    /// </summary>
    public static SavedValues? Union(string op, IEnumerable<int> operands)
    {
        if (!Rows.TryGetValue(op, out var rule)) return null;
        var set = new SortedSet<int>();
        var others = new SortedSet<int>();
        bool output = false;
        foreach (int k in operands)
        {
            var s = rule(k);
            set.UnionWith(s.Operands);
            others.UnionWith(s.OtherOutputs);
            output |= s.Output;
        }
        return new SavedValues([.. set], output, [.. others]);
    }
}
