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
        _b.Add(new NodeSpec(name, "Input", NodeKind.Input) { Shape = shape, DType = dtype, Bytes = Elements(shape) * DTypes.SizeOf(dtype) });

    public int Param(string name, params long[] shape) =>
        _b.Add(new NodeSpec(name, "Parameter", NodeKind.Parameter) { Shape = shape, Bytes = Elements(shape) * 4 });

    public int Const(string name, long[] shape, float[] values, string dtype = "float32") =>
        _b.Add(new NodeSpec(name, "Constant", NodeKind.Constant)
        {
            Shape = shape, DType = dtype, Bytes = Elements(shape) * DTypes.SizeOf(dtype),
            Attributes = new Dictionary<string, object> { ["value"] = values },
        });

    public int Op(string op, int[] inputs, long[] shape, Dictionary<string, object>? attrs = null, string dtype = "float32",
        bool loss = false, int outputIndex = 0, string? name = null) =>
        _b.Add(new NodeSpec(name ?? $"{op.ToLowerInvariant()}{_auto++}", op, loss ? NodeKind.Loss : NodeKind.Activation)
        {
            Inputs = inputs, Shape = shape, DType = dtype, Bytes = Elements(shape) * DTypes.SizeOf(dtype), Time = Elements(shape),
            Attributes = attrs, OutputIndex = outputIndex, BackwardNeeds = OperatorRegistry.BackwardNeeds(op)!.ToArray(),
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
    /// A small CNN: Conv→BatchNorm→Relu→MaxPool, a residual Conv block (Conv→BatchNorm→Relu→Conv, Add), Flatten,
    /// Dropout and a Gemm classifier with a cross-entropy loss.
    /// </summary>
    public static ComputationGraph Cnn(int batch = 2, int channels = 4, int size = 8, int classes = 3)
    {
        var n = new Net("cnn");
        long c = channels, s = size, h = size / 2;
        int x = n.Input("x", [batch, 3, s, s]);
        int labels = n.Input("labels", [batch], "int64");
        var conv = Net.A(("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 1, 1 }));
        int c1 = n.Op("Conv", [x, n.Param("conv1.w", c, 3, 3, 3), n.Param("conv1.b", c)], [batch, c, s, s], conv, name: "conv1");
        int[] bn1In = [c1, n.Param("bn1.scale", c), n.Param("bn1.bias", c), n.Param("bn1.mean", c), n.Param("bn1.var", c)];
        int bn1 = n.Op("BatchNormalization", bn1In, [batch, c, s, s], Net.A(("epsilon", 1e-5), ("momentum", 0.9)), name: "bn1");
        n.Op("BatchNormalization", bn1In, [c], Net.A(("epsilon", 1e-5), ("momentum", 0.9)), outputIndex: 1, name: "bn1.running_mean");
        int r1 = n.Op("Relu", [bn1], [batch, c, s, s], name: "relu1");
        int p1 = n.Op("MaxPool", [r1], [batch, c, h, h], Net.A(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), name: "pool1");
        int c2 = n.Op("Conv", [p1, n.Param("conv2.w", c, c, 3, 3)], [batch, c, h, h], conv, name: "conv2");
        int bn2 = n.Op("BatchNormalization", [c2, n.Param("bn2.scale", c), n.Param("bn2.bias", c), n.Param("bn2.mean", c), n.Param("bn2.var", c)],
            [batch, c, h, h], name: "bn2");
        int r2 = n.Op("Relu", [bn2], [batch, c, h, h], name: "relu2");
        int c3 = n.Op("Conv", [r2, n.Param("conv3.w", c, c, 3, 3), n.Param("conv3.b", c)], [batch, c, h, h], conv, name: "conv3");
        int sum = n.Op("Add", [c3, p1], [batch, c, h, h], name: "residual");
        int ap = n.Op("AveragePool", [sum], [batch, c, h / 2, h / 2], Net.A(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), name: "avgpool");
        int flat = n.Op("Flatten", [ap], [batch, c * (h / 2) * (h / 2)], Net.A(("axis", 1L)), name: "flatten");
        int ratio = n.Const("ratio", [], [0.25f]);
        int drop = n.Op("Dropout", [flat, ratio], [batch, c * (h / 2) * (h / 2)], name: "dropout");
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
    public static ComputationGraph Gpt(int batch = 2, int tokens = 4, int width = 8, int heads = 2, int vocab = 11)
    {
        var n = new Net("gpt");
        long B = batch, T = tokens, C = width, H = heads, D = width / heads;
        int ids = n.Input("ids", [B, T], "int64");
        int labels = n.Input("labels", [B * T], "int64");
        int tok = n.Op("Gather", [n.Param("wte", vocab, C), ids], [B, T, C], name: "tok");
        int x = n.Op("Add", [tok, n.Param("wpe", T, C)], [B, T, C], name: "embed");
        int two = n.Const("two", [], [2f]), eps = n.Const("eps", [], [1e-5f]);
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
        int ln1 = LayerNorm(x, "ln1");
        int qkv = n.Op("MatMul", [ln1, n.Param("attn.w", C, 3 * C)], [B, T, 3 * C], name: "qkv");
        int qkvb = n.Op("Add", [qkv, n.Param("attn.b", 3 * C)], [B, T, 3 * C], name: "qkv_bias");
        int heads4 = n.Const("heads_shape", [4], [B, T, H, D]);
        int Head(int part)
        {
            int s = n.Op("Split", [qkvb], [B, T, C], Net.A(("axis", 2L)), outputIndex: part, name: $"split{part}");
            int r = n.Op("Reshape", [s, heads4], [B, T, H, D], name: $"heads{part}");
            return n.Op("Transpose", [r], part == 1 ? [B, H, D, T] : [B, H, T, D],
                Net.A(("perm", part == 1 ? new long[] { 0, 2, 3, 1 } : new long[] { 0, 2, 1, 3 })), name: $"perm{part}");
        }
        int q = Head(0), k = Head(1), v2 = Head(2);
        int scores = n.Op("MatMul", [q, k], [B, H, T, T], name: "scores");
        int scaled = n.Op("Div", [scores, n.Const("sqrt_d", [], [MathF.Sqrt(D)])], [B, H, T, T], name: "scores_scaled");
        int ones = n.Const("ones", [T, T], Enumerable.Repeat(1f, (int)(T * T)).ToArray());
        int mask = n.Op("Trilu", [ones], [T, T], Net.A(("upper", 0L)), name: "causal_mask");
        int masked = n.Op("Where", [mask, scaled, n.Const("neg", [], [-1e4f])], [B, H, T, T], name: "masked");
        int att = n.Op("Softmax", [masked], [B, H, T, T], Net.A(("axis", -1L)), name: "attention");
        int attd = n.Op("Dropout", [att, n.Const("attn_drop", [], [0.1f])], [B, H, T, T], name: "attention_dropout");
        int ctx = n.Op("MatMul", [attd, v2], [B, H, T, D], name: "context");
        int ctxt = n.Op("Transpose", [ctx], [B, T, H, D], Net.A(("perm", new long[] { 0, 2, 1, 3 })), name: "context_t");
        int merged = n.Op("Reshape", [ctxt, n.Const("merge_shape", [3], [B, T, C])], [B, T, C], name: "merged");
        int proj = n.Op("MatMul", [merged, n.Param("proj.w", C, C)], [B, T, C], name: "proj");
        int res1 = n.Op("Add", [x, proj], [B, T, C], name: "residual1");
        int ln2 = LayerNorm(res1, "ln2");
        int fc = n.Op("MatMul", [ln2, n.Param("fc.w", C, 2 * C)], [B, T, 2 * C], name: "fc");
        int scaledFc = n.Op("Div", [fc, n.Const("sqrt2", [], [MathF.Sqrt(2)])], [B, T, 2 * C], name: "gelu.scaled");
        int erf = n.Op("Erf", [scaledFc], [B, T, 2 * C], name: "gelu.erf");
        int onePlus = n.Op("Add", [erf, n.Const("one", [], [1f])], [B, T, 2 * C], name: "gelu.one_plus");
        int half = n.Op("Mul", [fc, n.Const("half", [], [0.5f])], [B, T, 2 * C], name: "gelu.half");
        int gelu = n.Op("Mul", [half, onePlus], [B, T, 2 * C], name: "gelu");
        int down = n.Op("MatMul", [gelu, n.Param("down.w", 2 * C, C)], [B, T, C], name: "down");
        int res2 = n.Op("Add", [res1, down], [B, T, C], name: "residual2");
        int lnf = LayerNorm(res2, "lnf");
        int logits = n.Op("MatMul", [lnf, n.Param("head.w", C, vocab)], [B, T, vocab], name: "logits");
        int flat = n.Op("Reshape", [logits, n.Const("flat_shape", [2], [B * T, vocab])], [B * T, vocab], name: "logits_flat");
        n.Op("SoftmaxCrossEntropyLoss", [flat, labels], [], loss: true, name: "loss");
        return n.Build();
    }
}
