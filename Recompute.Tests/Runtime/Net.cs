using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Runtime.Ops;

namespace Recompute.Tests.Runtime;

/// <summary>
/// A terse builder of executable test graphs: nodes carry shapes, bytes (elements × dtype size), a time
/// (elements, so that planners see larger tensors as costlier) and the backward needs the runtime's operators declare.
/// </summary>
internal sealed class Net
{
    private readonly GraphBuilder _b;
    private int _auto;

    public Net(string name) { _b = new GraphBuilder(name); }

    private static long Elements(long[] shape) => shape.Aggregate(1L, (a, d) => a * d);

    public int Input(string name, long[] shape, string dtype = "float32") =>
        _b.Add(new NodeSpec(name, "Input", NodeKind.Input) { Shape = shape, DType = dtype, Bytes = Elements(shape) * ElementTypes.BytesOf(dtype) });

    public int Param(string name, params long[] shape) =>
        _b.Add(new NodeSpec(name, "Parameter", NodeKind.Parameter) { Shape = shape, Bytes = Elements(shape) * 4 });

    public int Const(string name, long[] shape, float[] values, string dtype = "float32") =>
        _b.Add(new NodeSpec(name, "Constant", NodeKind.Constant)
        {
            Shape = shape, DType = dtype, Bytes = Elements(shape) * ElementTypes.BytesOf(dtype),
            Attributes = new Dictionary<string, object> { ["value"] = values },
        });

    public int Op(string op, int[] inputs, long[] shape, Dictionary<string, object>? attrs = null, string dtype = "float32",
        bool loss = false, int outputIndex = 0, string? name = null) =>
        _b.Add(new NodeSpec(name ?? $"{op.ToLowerInvariant()}{_auto++}", op, loss ? NodeKind.Loss : NodeKind.Activation)
        {
            Inputs = inputs, Shape = shape, DType = dtype, Bytes = Elements(shape) * ElementTypes.BytesOf(dtype), Time = Elements(shape),
            Attributes = attrs, OutputIndex = outputIndex, BackwardNeeds = [.. OperatorRegistry.BackwardNeeds(op, inputs.Length)!.Value.Operands],
            BackwardNeedsOutput = OperatorRegistry.BackwardNeeds(op, inputs.Length)!.Value.Output, SavedByRule = true,
        });

    public ComputationGraph Build() => _b.Build();

    public static Dictionary<string, object> A(params (string Key, object Value)[] attrs) => attrs.ToDictionary(a => a.Key, a => a.Value);
}

/// <summary>The small models the runtime tests train.</summary>
internal static class TestModels
{
    /// <summary>A multi-layer perceptron: <paramref name="layers"/> × (Gemm + Relu), a classifier Gemm and a cross-entropy loss.</summary>
    public static ComputationGraph Mlp(int layers, int batch = 4, int width = 8, int classes = 5)
    {
        var n = new Net($"mlp{layers}");
        int h = n.Input("x", [batch, width]);
        int labels = n.Input("labels", [batch], "int64");
        for (int i = 0; i < layers; i++)
        {
            int w = n.Param($"w{i}", width, width), b = n.Param($"b{i}", width);
            int z = n.Op("Gemm", [h, w, b], [batch, width], Net.A(("transB", 1L)), name: $"fc{i}");
            h = n.Op("Relu", [z], [batch, width], name: $"relu{i}");
        }
        int wo = n.Param("w_out", width, classes), bo = n.Param("b_out", classes);
        int logits = n.Op("Gemm", [h, wo, bo], [batch, classes], name: "logits");
        n.Op("SoftmaxCrossEntropyLoss", [logits, labels], [], loss: true, name: "loss");
        return n.Build();
    }

    /// <summary>
    /// A small CNN: a stem Conv(stride 2)→BatchNorm→Relu→MaxPool, residual Conv blocks (Conv→BatchNorm→Relu→Conv, Add), AveragePool, Flatten,
    /// Dropout and a Gemm classifier with a cross-entropy loss.
    /// </summary>
    public static ComputationGraph Cnn(int batch = 2, int channels = 4, int size = 8, int classes = 3, int blocks = 1)
    {
        var n = new Net($"cnn{blocks}");
        long c = channels, s = size, h = size / 2;
        int x = n.Input("x", [batch, 3, s, s]);
        int labels = n.Input("labels", [batch], "int64");
        var conv = Net.A(("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 1, 1 }));
        // The stem downsamples at once (strided conv) so that the blocks, not the stem, hold most of the memory.
        int c1 = n.Op("Conv", [x, n.Param("conv1.w", c, 3, 3, 3), n.Param("conv1.b", c)], [batch, c, h, h],
            Net.A(("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 2, 2 })), name: "conv1");
        int[] bn1In = [c1, n.Param("bn1.scale", c), n.Param("bn1.bias", c), n.Param("bn1.mean", c), n.Param("bn1.var", c)];
        int bn1 = n.Op("BatchNormalization", bn1In, [batch, c, h, h], Net.A(("epsilon", 1e-5), ("momentum", 0.9)), name: "bn1");
        n.Op("BatchNormalization", bn1In, [c], Net.A(("epsilon", 1e-5), ("momentum", 0.9)), outputIndex: 1, name: "bn1.running_mean");
        int r1 = n.Op("Relu", [bn1], [batch, c, h, h], name: "relu1");
        int p1 = n.Op("MaxPool", [r1], [batch, c, h, h], Net.A(("kernel_shape", new long[] { 3, 3 }), ("strides", new long[] { 1, 1 }),
            ("pads", new long[] { 1, 1, 1, 1 })), name: "pool1");
        int sum = p1;
        for (int i = 2; i < 2 + blocks; i++)
        {
            int ci = n.Op("Conv", [sum, n.Param($"conv{i}a.w", c, c, 3, 3)], [batch, c, h, h], conv, name: $"conv{i}a");
            int bni = n.Op("BatchNormalization", [ci, n.Param($"bn{i}.scale", c), n.Param($"bn{i}.bias", c), n.Param($"bn{i}.mean", c),
                n.Param($"bn{i}.var", c)],
                [batch, c, h, h], name: $"bn{i}");
            int ri = n.Op("Relu", [bni], [batch, c, h, h], name: $"relu{i}");
            int cj = n.Op("Conv", [ri, n.Param($"conv{i}b.w", c, c, 3, 3), n.Param($"conv{i}b.b", c)], [batch, c, h, h], conv, name: $"conv{i}b");
            sum = n.Op("Add", [cj, sum], [batch, c, h, h], name: $"residual{i}");
        }
        int ap = n.Op("AveragePool", [sum], [batch, c, h / 2, h / 2], Net.A(("kernel_shape", new long[] { 2, 2 }), ("strides",
            new long[] { 2, 2 })), name: "avgpool");
        int flat = n.Op("Flatten", [ap], [batch, c * (h / 2) * (h / 2)], Net.A(("axis", 1L)), name: "flatten");
        int ratio = n.Const("ratio", [], [0.25f]);
        int drop = n.Op("Dropout", [flat, ratio, n.Const("training_mode", [], [1f], "bool")], [batch, c * (h / 2) * (h / 2)], name: "dropout");
        int logits = n.Op("Gemm", [drop, n.Param("fc.w", classes, c * (h / 2) * (h / 2)), n.Param("fc.b", classes)], [batch, classes],
            Net.A(("transB", 1L)), name: "logits");
        n.Op("SoftmaxCrossEntropyLoss", [logits, labels], [], loss: true, name: "loss");
        return n.Build();
    }

    /// <summary>
    /// A one-block GPT: token and position embeddings, LayerNorm written with ReduceMean/Sub/Pow/Sqrt/Div, causal
    /// multi-head attention (MatMul, Split, Reshape, Transpose, Trilu mask, Where, Softmax, Dropout), a GELU MLP
    /// written with Erf, residual Adds, and a cross-entropy loss over the vocabulary.
    /// </summary>
    public static ComputationGraph Gpt(int batch = 2, int tokens = 4, int width = 8, int heads = 2, int vocab = 11, int layers = 1)
    {
        var n = new Net($"gpt{layers}");
        long B = batch, T = tokens, C = width, H = heads, D = width / heads;
        int ids = n.Input("ids", [B, T], "int64");
        int labels = n.Input("labels", [B * T], "int64");
        int tok = n.Op("Gather", [n.Param("wte", vocab, C), ids], [B, T, C], name: "tok");
        int x = n.Op("Add", [tok, n.Param("wpe", T, C)], [B, T, C], name: "embed");
        int two = n.Const("two", [], [2f]), eps = n.Const("eps", [], [1e-5f]);
        int heads4Shape = n.Const("heads_shape", [4], [B, T, H, D]);
        int LayerNorm(int input, string name)
        {
            int mu = n.Op("ReduceMean", [input], [B, T, 1], Net.A(("axes", new long[] { -1 })), name: name + ".mean");
            int d = n.Op("Sub", [input, mu], [B, T, C], name: name + ".centered");
            int sq = n.Op("Pow", [d, two], [B, T, C], name: name + ".square");
            int v = n.Op("ReduceMean", [sq], [B, T, 1], Net.A(("axes", new long[] { -1 })), name: name + ".var");
            int ve = n.Op("Add", [v, eps], [B, T, 1], name: name + ".var_eps");
            int sd = n.Op("Sqrt", [ve], [B, T, 1], name: name + ".std");
            int xn = n.Op("Div", [d, sd], [B, T, C], name: name + ".norm");
            int sc = n.Op("Mul", [xn, n.Param(name + ".gamma", C)], [B, T, C], name: name + ".scaled");
            return n.Op("Add", [sc, n.Param(name + ".beta", C)], [B, T, C], name: name + ".out");
        }
        int ones = n.Const("ones", [T, T], Enumerable.Repeat(1f, (int)(T * T)).ToArray());
        int neg = n.Const("neg", [], [-1e4f]), sqrtD = n.Const("sqrt_d", [], [MathF.Sqrt(D)]), attnDrop = n.Const("attn_drop", [], [0.1f]);
        int training = n.Const("training_mode", [], [1f], "bool");
        int sqrt2 = n.Const("sqrt2", [], [MathF.Sqrt(2)]), one = n.Const("one", [], [1f]), half = n.Const("half", [], [0.5f]);
        int mergeShape = n.Const("merge_shape", [3], [B, T, C]);
        int mask = n.Op("Trilu", [ones], [T, T], Net.A(("upper", 0L)), name: "causal_mask");
        for (int l = 0; l < layers; l++)
        {
            int ln1 = LayerNorm(x, $"h{l}.ln1");
            int qkv = n.Op("MatMul", [ln1, n.Param($"h{l}.attn.w", C, 3 * C)], [B, T, 3 * C], name: $"h{l}.qkv");
            int qkvb = n.Op("Add", [qkv, n.Param($"h{l}.attn.b", 3 * C)], [B, T, 3 * C], name: $"h{l}.qkv_bias");
            int Head(int part)
            {
                int s = n.Op("Split", [qkvb], [B, T, C], Net.A(("axis", 2L)), outputIndex: part, name: $"h{l}.split{part}");
                int r = n.Op("Reshape", [s, heads4Shape], [B, T, H, D], name: $"h{l}.heads{part}");
                return n.Op("Transpose", [r], part == 1 ? [B, H, D, T] : [B, H, T, D],
                    Net.A(("perm", part == 1 ? new long[] { 0, 2, 3, 1 } : new long[] { 0, 2, 1, 3 })), name: $"h{l}.perm{part}");
            }
            int q = Head(0), k = Head(1), v2 = Head(2);
            int scores = n.Op("MatMul", [q, k], [B, H, T, T], name: $"h{l}.scores");
            int scaled = n.Op("Div", [scores, sqrtD], [B, H, T, T], name: $"h{l}.scores_scaled");
            int masked = n.Op("Where", [mask, scaled, neg], [B, H, T, T], name: $"h{l}.masked");
            int att = n.Op("Softmax", [masked], [B, H, T, T], Net.A(("axis", -1L)), name: $"h{l}.attention");
            int attd = n.Op("Dropout", [att, attnDrop, training], [B, H, T, T], name: $"h{l}.attention_dropout");
            int ctx = n.Op("MatMul", [attd, v2], [B, H, T, D], name: $"h{l}.context");
            int ctxt = n.Op("Transpose", [ctx], [B, T, H, D], Net.A(("perm", new long[] { 0, 2, 1, 3 })), name: $"h{l}.context_t");
            int merged = n.Op("Reshape", [ctxt, mergeShape], [B, T, C], name: $"h{l}.merged");
            int proj = n.Op("MatMul", [merged, n.Param($"h{l}.proj.w", C, C)], [B, T, C], name: $"h{l}.proj");
            int res1 = n.Op("Add", [x, proj], [B, T, C], name: $"h{l}.residual1");
            int ln2 = LayerNorm(res1, $"h{l}.ln2");
            int fc = n.Op("MatMul", [ln2, n.Param($"h{l}.fc.w", C, 2 * C)], [B, T, 2 * C], name: $"h{l}.fc");
            int scaledFc = n.Op("Div", [fc, sqrt2], [B, T, 2 * C], name: $"h{l}.gelu.scaled");
            int erf = n.Op("Erf", [scaledFc], [B, T, 2 * C], name: $"h{l}.gelu.erf");
            int onePlus = n.Op("Add", [erf, one], [B, T, 2 * C], name: $"h{l}.gelu.one_plus");
            int halfFc = n.Op("Mul", [fc, half], [B, T, 2 * C], name: $"h{l}.gelu.half");
            int gelu = n.Op("Mul", [halfFc, onePlus], [B, T, 2 * C], name: $"h{l}.gelu");
            int down = n.Op("MatMul", [gelu, n.Param($"h{l}.down.w", 2 * C, C)], [B, T, C], name: $"h{l}.down");
            int res2 = n.Op("Add", [res1, down], [B, T, C], name: $"h{l}.residual2");
            x = res2;
        }
        int lnf = LayerNorm(x, "lnf");
        int logits = n.Op("MatMul", [lnf, n.Param("head.w", C, vocab)], [B, T, vocab], name: "logits");
        int flat = n.Op("Reshape", [logits, n.Const("flat_shape", [2], [B * T, vocab])], [B * T, vocab], name: "logits_flat");
        n.Op("SoftmaxCrossEntropyLoss", [flat, labels], [], loss: true, name: "loss");
        return n.Build();
    }
}
