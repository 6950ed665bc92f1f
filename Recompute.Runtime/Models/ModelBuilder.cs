using System.Collections.ObjectModel;
using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Runtime.Ops;

namespace Recompute.Runtime.Models;

/// <summary>A tensor of a model under construction by a <see cref="ModelBuilder"/>: its name, shape and type.</summary>
public sealed class ModelTensor
{
    internal ModelTensor(ModelBuilder owner, int id, string name, TensorInfo info)
    {
        Owner = owner; Id = id; Name = name; Info = info;
    }

    internal ModelBuilder Owner { get; }
    internal int Id { get; }
    internal TensorInfo Info { get; }

    /// <summary>The tensor's name in the graph.</summary>
    public string Name { get; }
    /// <summary>The static shape (empty for a scalar).</summary>
    public IReadOnlyList<long> Shape => Info.Shape;
    /// <summary>Element type: <c>float32</c>, <c>int64</c> (labels, token ids) or <c>bool</c> (masks).</summary>
    public string DType => Info.DType;
    /// <summary>Bytes of the tensor: elements × element size.</summary>
    public long Bytes => Info.Bytes;

    public override string ToString() => $"{Name} {DType}[{string.Join(",", Shape)}]";
}

/// <summary>What one layer added to the graph, as the planner counts it.</summary>
/// <param name="Name">The layer's name (the prefix of its tensors and parameters, e.g. <c>linear0</c>).</param>
/// <param name="Kind">The builder method that made it (<c>Linear</c>, <c>Conv2d</c>, <c>Attention</c>, ...).</param>
/// <param name="OutputShape">Shape of the layer's output.</param>
/// <param name="Parameters">Elements of the parameter tensors the layer owns (BatchNorm's running statistics included).</param>
/// <param name="ParameterBytes">Their bytes (float32).</param>
/// <param name="ActivationBytes">Bytes of every tensor the layer computes (its output and its intermediates, views included
/// at their logical size), as <c>activationBytes</c> of <c>recompute inspect</c> counts them.</param>
/// <param name="ForwardFlops">Forward FLOPs of the layer by the planner's cost model (the graph's times, unit <c>flop</c>).</param>
public sealed record LayerSummary(string Name, string Kind, IReadOnlyList<long> OutputShape, long Parameters, long ParameterBytes,
    long ActivationBytes, double ForwardFlops);

/// <summary>
/// Builds a trainable graph from layers (Linear, Conv2d, BatchNorm, ReLU, GELU, LayerNorm, multi-head self-attention,
/// embeddings, residual additions) and a loss (cross-entropy, mean squared error), the way one writes a PyTorch module.
/// Every layer is lowered to the ONNX operators the runtime executes (LayerNorm and GELU in the decomposed form
/// exporters write); shapes are inferred by the planner's shape inference (a mismatch throws naming the layer), bytes
/// follow from the shapes, forward FLOPs from the planner's <see cref="CostModel"/>, and what each backward reads from
/// <see cref="SavedTensors"/>. <see cref="Build"/> gives a <see cref="ComputationGraph"/> that the planner plans and
/// <see cref="Execution.TrainingSession"/> trains; <see cref="GraphBuilder"/> stays the tool for graphs at the level of tensors.
/// </summary>
/// <remarks>
/// Weights follow PyTorch's layouts where the runtime's operators allow: a Conv2d kernel is [out, in, kh, kw]; a
/// Linear weight is stored [in, out] (so that no transpose is computed), and its bias is [out]. Parameters are
/// initialised from the session's seed (He or LeCun normal by use, ones for scales, zeros for biases).
/// </remarks>
/// <example>
/// <code>
/// var m = new ModelBuilder("mlp");
/// var x = m.Input("x", 32, 784);
/// var labels = m.Labels("labels", 32);
/// var h = m.Relu(m.Linear(x, 256));
/// m.CrossEntropy(m.Linear(h, 10), labels);
/// ComputationGraph graph = m.Build();
/// </code>
/// </example>
public sealed class ModelBuilder
{
    private readonly GraphBuilder _b;
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
    private readonly List<LayerSummary> _layers = [];
    private readonly Dictionary<long, ModelTensor> _causalMasks = [];
    private bool _hasLoss;
    // The layer being built: its name and the sums of what its nodes add.
    private string? _layer;
    private long _layerParams, _layerActivationBytes;
    private double _layerFlops;

    public ModelBuilder(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _b = new GraphBuilder(name, CostModel.Unit);
    }

    /// <summary>The layers added so far, in order, with their shapes, bytes and FLOPs.</summary>
    public IReadOnlyList<LayerSummary> Layers => new ReadOnlyCollection<LayerSummary>(_layers);

    /// <summary>A float32 data input (the batch dimension first).</summary>
    public ModelTensor Input(string name, params long[] shape) => Leaf(name, NodeKind.Input, "float32", shape);

    /// <summary>An int64 input: class labels of a loss, or token ids of an <see cref="Embedding"/>.</summary>
    public ModelTensor Labels(string name, params long[] shape) => Leaf(name, NodeKind.Input, "int64", shape);

    /// <summary>y = x·W + b over the last axis of <paramref name="x"/> (any rank ≥ 2), W of shape [in, out].</summary>
    public ModelTensor Linear(ModelTensor x, long outFeatures, bool bias = true, string? name = null) => Layer("Linear", name, "linear", l =>
    {
        Check(x);
        Positive(outFeatures, nameof(outFeatures));
        long inFeatures = x.Shape.Count >= 2 ? x.Shape[^1] : throw new ArgumentException($"layer '{l}' (Linear): the input {x} needs a rank of at least 2", nameof(x));
        var w = Param(l + ".weight", inFeatures, outFeatures);
        if (x.Shape.Count == 2)
            return bias ? Op("Gemm", l, [x, w, Param(l + ".bias", outFeatures)]) : Op("Gemm", l, [x, w]);
        var y = Op("MatMul", bias ? l + ".matmul" : l, [x, w]);
        return bias ? Op("Add", l, [y, Param(l + ".bias", outFeatures)]) : y;
    });

    /// <summary>A 2-D convolution of an NCHW input: square kernel, stride, zero padding on every side, groups of one.</summary>
    public ModelTensor Conv2d(ModelTensor x, long outChannels, int kernel, int stride = 1, int padding = 0, bool bias = true, string? name = null) =>
        Layer("Conv2d", name, "conv", l =>
        {
            Check(x);
            Positive(outChannels, nameof(outChannels)); Positive(kernel, nameof(kernel)); Positive(stride, nameof(stride));
            ArgumentOutOfRangeException.ThrowIfNegative(padding);
            if (x.Shape.Count != 4) throw new ArgumentException($"layer '{l}' (Conv2d): the input {x} must be NCHW", nameof(x));
            var attrs = new Dictionary<string, object>
            {
                ["kernel_shape"] = new long[] { kernel, kernel }, ["strides"] = new long[] { stride, stride },
                ["pads"] = new long[] { padding, padding, padding, padding },
            };
            var w = Param(l + ".weight", outChannels, x.Shape[1], kernel, kernel);
            return Op("Conv", l, bias ? [x, w, Param(l + ".bias", outChannels)] : [x, w], attrs);
        });

    /// <summary>
    /// BatchNormalization in training mode over N and the spatial axes (axis 1 is the channel): normalised by the batch's
    /// statistics, scaled and shifted per channel; the running mean and variance (parameters <c>.running_mean</c>,
    /// <c>.running_var</c>) are updated by each training step with <paramref name="momentum"/> as in ONNX
    /// (running·momentum + batch·(1 − momentum)).
    /// </summary>
    public ModelTensor BatchNorm(ModelTensor x, double momentum = 0.9, double epsilon = 1e-5, string? name = null) => Layer("BatchNorm",
        name, "bn", l =>
    {
        Check(x);
        if (x.Shape.Count < 2) throw new ArgumentException($"layer '{l}' (BatchNorm): the input {x} needs a channel axis", nameof(x));
        long c = x.Shape[1];
        ModelTensor[] inputs = [x, Param(l + ".weight", c), Param(l + ".bias", c), Param(l + ".running_mean", c), Param(l + ".running_var", c)];
        var attrs = new Dictionary<string, object> { ["epsilon"] = epsilon, ["momentum"] = momentum, ["training_mode"] = 1L };
        var y = Op("BatchNormalization", l, inputs, attrs, outputCount: 3);
        Op("BatchNormalization", l + ".running_mean_out", inputs, attrs, outputIndex: 1, outputCount: 3);
        Op("BatchNormalization", l + ".running_var_out", inputs, attrs, outputIndex: 2, outputCount: 3);
        return y;
    });

    /// <summary>max(x, 0).</summary>
    public ModelTensor Relu(ModelTensor x, string? name = null) => Layer("Relu", name, "relu", l => { Check(x); return Op("Relu", l, [x]); });

    /// <summary>GELU, exactly: x·(1 + erf(x/√2))/2, written as exporters write it (Div, Erf, Add, Mul, Mul).</summary>
    public ModelTensor Gelu(ModelTensor x, string? name = null) => Layer("Gelu", name, "gelu", l =>
    {
        Check(x);
        var scaled = Op("Div", l + ".scaled", [x, Scalar(l + ".sqrt2", MathF.Sqrt(2))]);
        var erf = Op("Erf", l + ".erf", [scaled]);
        var onePlus = Op("Add", l + ".one_plus", [erf, Scalar(l + ".one", 1f)]);
        var gated = Op("Mul", l + ".gated", [x, onePlus]);
        return Op("Mul", l, [gated, Scalar(l + ".half", 0.5f)]);
    });

    /// <summary>
    /// LayerNorm over the last axis with a scale and a shift of that width, in the decomposed form exporters write
    /// (ReduceMean, Sub, Pow, ReduceMean, Add ε, Sqrt, Div, Mul, Add).
    /// </summary>
    public ModelTensor LayerNorm(ModelTensor x, double epsilon = 1e-5, string? name = null) => Layer("LayerNorm", name, "ln", l =>
    {
        Check(x);
        if (x.Shape.Count == 0) throw new ArgumentException($"layer '{l}' (LayerNorm): the input is a scalar", nameof(x));
        long c = x.Shape[^1];
        var lastAxis = new Dictionary<string, object> { ["axes"] = new long[] { -1 } };
        var mean = Op("ReduceMean", l + ".mean", [x], lastAxis);
        var centered = Op("Sub", l + ".centered", [x, mean]);
        var square = Op("Pow", l + ".square", [centered, Scalar(l + ".two", 2f)]);
        var variance = Op("ReduceMean", l + ".variance", [square], new Dictionary<string, object>(lastAxis));
        var shifted = Op("Add", l + ".variance_eps", [variance, Scalar(l + ".eps", (float)epsilon)]);
        var std = Op("Sqrt", l + ".std", [shifted]);
        var normalized = Op("Div", l + ".normalized", [centered, std]);
        var scaledByWeight = Op("Mul", l + ".scaled", [normalized, Param(l + ".weight", c)]);
        return Op("Add", l, [scaledByWeight, Param(l + ".bias", c)]);
    });

    /// <summary>
    /// Multi-head self-attention over a [batch, tokens, width] input: query, key and value projections (Linear, width →
    /// width), scores Q·Kᵀ/√d per head (d = width / heads), with <paramref name="causal"/> a mask that lets each token see
    /// only itself and earlier tokens, Softmax, the weighted sum of the values, the heads merged and an output projection.
    /// </summary>
    public ModelTensor Attention(ModelTensor x, int heads, bool causal = false, string? name = null) => Layer("Attention", name, "attention", l =>
    {
        Check(x);
        Positive(heads, nameof(heads));
        if (x.Shape.Count != 3) throw new ArgumentException($"layer '{l}' (Attention): the input {x} must be [batch, tokens, width]", nameof(x));
        long b = x.Shape[0], t = x.Shape[1], c = x.Shape[2];
        if (c % heads != 0) throw new ArgumentException($"layer '{l}' (Attention): width {c} is not a multiple of {heads} heads", nameof(heads));
        long d = c / heads;
        var headShape = Ints(l + ".head_shape", b, t, heads, d);
        ModelTensor Project(string part, long[] perm)
        {
            var w = Param($"{l}.{part}.weight", c, c);
            var y = Op("Add", $"{l}.{part}", [Op("MatMul", $"{l}.{part}.matmul", [x, w]), Param($"{l}.{part}.bias", c)]);
            var split = Op("Reshape", $"{l}.{part}.heads", [y, headShape]);
            return Op("Transpose", $"{l}.{part}.heads_t", [split], new Dictionary<string, object> { ["perm"] = perm });
        }
        var q = Project("query", [0, 2, 1, 3]);
        var k = Project("key", [0, 2, 3, 1]);
        var v = Project("value", [0, 2, 1, 3]);
        var scores = Op("MatMul", l + ".scores", [q, k]);
        var scaled = Op("Div", l + ".scores_scaled", [scores, Scalar(l + ".sqrt_d", MathF.Sqrt(d))]);
        if (causal) scaled = Op("Where", l + ".masked", [CausalMask(t), Scalar(l + ".minus_inf", float.NegativeInfinity), scaled]);
        var weights = Op("Softmax", l + ".weights", [scaled], new Dictionary<string, object> { ["axis"] = -1L });
        var context = Op("MatMul", l + ".context", [weights, v]);
        var contextT = Op("Transpose", l + ".context_t", [context], new Dictionary<string, object> { ["perm"] = new long[] { 0, 2, 1, 3 } });
        var merged = Op("Reshape", l + ".merged", [contextT, Ints(l + ".merge_shape", b, t, c)]);
        var wo = Param(l + ".out.weight", c, c);
        return Op("Add", l, [Op("MatMul", l + ".out.matmul", [merged, wo]), Param(l + ".out.bias", c)]);
    });

    /// <summary>A lookup table of <paramref name="count"/> vectors of <paramref name="width"/>: int64 ids → float32 [..., width].</summary>
    public ModelTensor Embedding(ModelTensor ids, long count, long width, string? name = null) => Layer("Embedding", name, "embedding", l =>
    {
        Check(ids);
        Positive(count, nameof(count)); Positive(width, nameof(width));
        if (ids.DType != "int64") throw new ArgumentException($"layer '{l}' (Embedding): the ids {ids} must be int64 (see Labels)", nameof(ids));
        return Op("Gather", l, [Param(l + ".weight", count, width), ids]);
    });

    /// <summary>a + b with broadcasting (a residual connection).</summary>
    public ModelTensor Add(ModelTensor a, ModelTensor b, string? name = null) => Layer("Add", name, "add",
        l => { Check(a); Check(b); return Op("Add", l, [a, b]); });

    /// <summary>MaxPool of an NCHW input with a square window (stride = the window unless given).</summary>
    public ModelTensor MaxPool(ModelTensor x, int kernel, int? stride = null, string? name = null) => Layer("MaxPool", name, "pool", l =>
    {
        Check(x);
        Positive(kernel, nameof(kernel));
        int s = stride ?? kernel;
        Positive(s, nameof(stride));
        return Op("MaxPool", l, [x], new Dictionary<string, object> { ["kernel_shape"] = new long[] { kernel, kernel },
            ["strides"] = new long[] { s, s } });
    });

    /// <summary>The mean over the spatial axes of an NCHW input, flattened to [N, C] (what a classifier head reads).</summary>
    public ModelTensor GlobalAveragePool(ModelTensor x, string? name = null) => Layer("GlobalAveragePool", name, "gap", l =>
    {
        Check(x);
        var pooled = Op("GlobalAveragePool", l + ".pool", [x]);
        return Op("Flatten", l, [pooled], new Dictionary<string, object> { ["axis"] = 1L });
    });

    /// <summary>
    /// The loss: softmax cross-entropy of <paramref name="logits"/> [N, classes] (or [batch, tokens, classes], flattened)
    /// against int64 <paramref name="labels"/> [N] (or [batch, tokens]), averaged over the labels.
    /// </summary>
    public ModelTensor CrossEntropy(ModelTensor logits, ModelTensor labels, string? name = null) => Layer("CrossEntropy", name, "loss", l =>
    {
        Check(logits); Check(labels);
        if (labels.DType != "int64") throw new ArgumentException($"layer '{l}' (CrossEntropy): the labels {labels} must be int64 (see Labels)", nameof(labels));
        if (logits.Shape.Count == 3)
        {
            logits = Op("Reshape", l + ".logits", [logits, Ints(l + ".logits_shape", -1, logits.Shape[2])]);
            labels = Op("Reshape", l + ".labels", [labels, Ints(l + ".labels_shape", -1)]);
        }
        if (logits.Shape.Count != 2 || labels.Shape.Count != 1 || labels.Shape[0] != logits.Shape[0])
            throw new ArgumentException($"layer '{l}' (CrossEntropy): logits {logits} and labels {labels} do not match ([N, classes] and [N])", nameof(labels));
        return Loss(Op("SoftmaxCrossEntropyLoss", l, [logits, labels], new Dictionary<string, object> { ["reduction"] = "mean" }, loss: true));
    });

    /// <summary>The loss: the mean over every element of (prediction − target)², the target a float32 input of the same shape.</summary>
    public ModelTensor MseLoss(ModelTensor prediction, ModelTensor target, string? name = null) => Layer("MseLoss", name, "loss", l =>
    {
        Check(prediction); Check(target);
        if (!prediction.Shape.SequenceEqual(target.Shape) || target.DType != "float32")
            throw new ArgumentException($"layer '{l}' (MseLoss): the target {target} must be float32 of the prediction's shape [{string.Join(",", prediction.Shape)}]", nameof(target));
        var difference = Op("Sub", l + ".difference", [prediction, target]);
        var square = Op("Pow", l + ".square", [difference, Scalar(l + ".two", 2f)]);
        return Loss(Op("ReduceMean", l, [square], new Dictionary<string, object> { ["keepdims"] = 0L }, loss: true));
    });

    /// <summary>The graph: validated, in the time unit <c>flop</c>, ready for <see
    /// cref="Execution.TrainingSession.Create(ComputationGraph, Execution.TrainingOptions,
    /// CancellationToken)"/>.</summary>
    /// <exception cref="InvalidOperationException">No loss was added.</exception>
    /// <summary>
    /// Any operator the runtime executes, as a layer of its own: every output of <paramref name="op"/> (shape inference,
    /// FLOPs and saved tensors as for the other layers); the first is returned. For graphs that the layers above cannot
    /// write (the micro-benchmarks of the device profile).
    /// </summary>
    internal ModelTensor Operator(string op, ModelTensor[] inputs, Dictionary<string, object>? attributes = null, int outputCount = 1,
        string? name = null) =>
        Layer(op, name, op.ToLowerInvariant(), l =>
        {
            foreach (var t in inputs) Check(t);
            var first = Op(op, l, inputs, attributes, outputIndex: 0, outputCount: outputCount);
            for (int i = 1; i < outputCount; i++) Op(op, $"{l}.out{i}", inputs, attributes, outputIndex: i, outputCount: outputCount);
            return first;
        });

    /// <summary>A float32 parameter of the given shape, initialised as the session initialises weights.</summary>
    internal ModelTensor Parameter(string name, params long[] shape) => Param(name, shape);

    /// <summary>An int64 constant vector (a Reshape target).</summary>
    internal ModelTensor IntConstant(string name, params long[] values) => Ints(name, values);

    public ComputationGraph Build()
    {
        if (!_hasLoss) throw new InvalidOperationException($"model '{_b.Name}' has no loss: add CrossEntropy or MseLoss before Build");
        return _b.Build();
    }

    private ModelTensor Loss(ModelTensor loss)
    {
        if (_hasLoss) throw new InvalidOperationException($"model '{_b.Name}' already has a loss; training needs exactly one");
        _hasLoss = true;
        return loss;
    }

    // --- Layers and the nodes they add ---

    private ModelTensor Layer(string kind, string? name, string prefix, Func<string, ModelTensor> build)
    {
        if (_layer is not null) throw new InvalidOperationException("layers do not nest");
        if (name is null)
        {
            int k = _counts.GetValueOrDefault(prefix);
            // The first loss is "loss"; other layers are numbered from 0 by kind (linear0, linear1, ...).
            do { name = prefix == "loss" && k == 0 ? "loss" : $"{prefix}{k}"; k++; } while (_b.TryGetId(name, out _));
            _counts[prefix] = k;
        }
        else if (name.Length == 0) throw new ArgumentException("a layer name cannot be empty", nameof(name));
        if (_b.TryGetId(name, out _)) throw new ArgumentException($"a tensor named '{name}' already exists", nameof(name));
        _layer = name; _layerParams = 0; _layerActivationBytes = 0; _layerFlops = 0;
        try
        {
            var y = build(name);
            _layers.Add(new LayerSummary(name, kind, y.Shape, _layerParams, _layerParams * 4, _layerActivationBytes, _layerFlops));
            return y;
        }
        catch (ShapeInferenceException e) { throw new ArgumentException($"layer '{name}' ({kind}): {e.Message}", e); }
        finally { _layer = null; }
    }

    private void Check(ModelTensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (!ReferenceEquals(t.Owner, this)) throw new ArgumentException($"{t} belongs to another model", nameof(t));
    }

    private static void Positive(long value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, value, "must be positive");
    }

    private ModelTensor Leaf(string name, NodeKind kind, string dtype, long[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (shape.Length == 0
            || shape.Any(d => d <= 0)) throw new ArgumentException($"input '{name}': shape [{string.Join(",", shape)}] must have positive dimensions", nameof(shape));
        if (_b.TryGetId(name, out _)) throw new ArgumentException($"a tensor named '{name}' already exists", nameof(name));
        var info = new TensorInfo(dtype, shape);
        int id = _b.Add(new NodeSpec(name, kind == NodeKind.Input ? "Input" : "Parameter", kind) { Shape = shape, DType = dtype,
            Bytes = info.Bytes });
        return new ModelTensor(this, id, name, info);
    }

    private ModelTensor Param(string name, params long[] shape)
    {
        var p = Leaf(name, NodeKind.Parameter, "float32", shape);
        _layerParams += ShapeMath.Elements(shape);
        return p;
    }

    private ModelTensor Scalar(string name, float value) => Constant(name, [], new[] { value }, "float32", ConstantValue.FromReals([value]));

    private ModelTensor Ints(string name, params long[] values) => Constant(name, [values.Length], values, "int64", ConstantValue.FromInts(values));

    private ModelTensor Constant(string name, long[] shape, object value, string dtype, ConstantValue? known)
    {
        var info = new TensorInfo(dtype, shape, known);
        int id = _b.Add(new NodeSpec(name, "Constant", NodeKind.Constant)
        {
            Shape = shape, DType = dtype, Bytes = info.Bytes, Attributes = new Dictionary<string, object> { ["value"] = value },
        });
        return new ModelTensor(this, id, name, info);
    }

    /// <summary>The [tokens, tokens] mask of the positions after each token (true = hidden), made once per length.</summary>
    private ModelTensor CausalMask(long tokens)
    {
        if (_causalMasks.TryGetValue(tokens, out var mask)) return mask;
        string name = $"causal_mask{tokens}";
        var ones = Constant(name + ".ones", [tokens, tokens], new[] { 1f }, "float32", null);
        var upper = Op("Trilu", name + ".upper", [ones, Ints(name + ".k", 1)], new Dictionary<string, object> { ["upper"] = 1L });
        mask = Op("Cast", name, [upper], new Dictionary<string, object> { ["to"] = 9L });
        _causalMasks[tokens] = mask;
        return mask;
    }

    /// <summary>Adds one output of an operator: shape and type by shape inference, FLOPs by the cost model, saved
    /// tensors by the rule table.</summary>
    private ModelTensor Op(string op, string name, ModelTensor[] inputs, Dictionary<string, object>? attributes = null,
        int outputIndex = 0, int outputCount = 1, bool loss = false)
    {
        attributes ??= [];
        var operands = inputs.Select(t => (TensorInfo?)t.Info).ToArray();
        var outputs = ShapeInference.Infer(new OpContext { OpType = op, Attributes = attributes, Inputs = operands, OutputCount = outputCount });
        var y = outputs[outputIndex];
        double flops = CostModel.ForwardFlops(op, attributes, operands, outputs, outputIndex);
        var saved = OperatorRegistry.BackwardNeeds(op, inputs.Length) ?? throw new InvalidOperationException($"no saved-tensor rule for '{op}'");
        int id = _b.Add(new NodeSpec(name, op, loss ? NodeKind.Loss : NodeKind.Activation)
        {
            Inputs = inputs.Select(t => t.Id).ToArray(), Shape = y.Shape, DType = y.DType, Bytes = y.Bytes, Time = flops,
            Attributes = attributes, OutputIndex = outputIndex,
            BackwardNeeds = [.. saved.Operands], BackwardNeedsOutput = saved.Output, SavedByRule = true,
        });
        _layerActivationBytes += y.Bytes;
        _layerFlops += flops;
        return new ModelTensor(this, id, name, y);
    }
}
