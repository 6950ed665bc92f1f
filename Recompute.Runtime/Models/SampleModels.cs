using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Runtime.Ops;

namespace Recompute.Runtime.Models;

/// <summary>
/// Executable training graphs defined in code, shipped as native graph files in <c>graphs/</c>
/// (<c>gpt2-2l-t128.json</c>, <c>mlp50.json</c>, <c>unet-b1-64.json</c>): small enough to train on a CPU in seconds, built from the same
/// operator definitions as the ONNX sample graphs. Every node carries its shape, bytes, its forward FLOPs by the
/// planner's <see cref="CostModel"/> (time unit <c>flop</c>) and the backward needs of the runtime's operators.
/// </summary>
public static class SampleModels
{
    /// <summary>Dimensions of <see cref="Gpt2"/>.</summary>
    /// <param name="Layers">Transformer blocks (GPT-2 small: 12).</param>
    /// <param name="Tokens">Sequence length (GPT-2: 1024).</param>
    /// <param name="Width">Embedding width (GPT-2 small: 768).</param>
    /// <param name="Heads">Attention heads (GPT-2 small: 12; head size Width / Heads).</param>
    /// <param name="Vocabulary">Vocabulary size (GPT-2: 50257).</param>
    /// <param name="Batch">Sequences per batch.</param>
    public sealed record Gpt2Size(int Layers = 2, int Tokens = 128, int Width = 768, int Heads = 12, int Vocabulary = 512, int Batch = 1);

    /// <summary>
    /// GPT-2 as in <c>graphs/gpt2-124m-b8-t1024.onnx</c>, op for op: token and position embeddings (Gather), per
    /// block a LayerNorm written with ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add, a fused QKV projection (Transpose of the
    /// weight, MatMul, bias Add), Split into heads (Reshape, Transpose), scaled scores (MatMul, Div), a causal mask
    /// (Trilu of ones, Cast to bool, Where with −∞), Softmax, the context MatMul, the output projection, residual
    /// Adds, and an MLP of width 4·Width with GELU written with Erf; a final LayerNorm, an untied LM head and
    /// SoftmaxCrossEntropyLoss over the flattened tokens. The shipped <c>gpt2-2l-t128.json</c> is
    /// <c>Gpt2(new Gpt2Size())</c>: 2 layers, 128 tokens, GPT-2 small's width 768 and 12 heads, a vocabulary of
    /// 512 (instead of 50257: the LM head would otherwise hold 99% of the activations and of the time) and batch 1.
    /// The ONNX file's causal mask is a stripped initializer; here it is computed (Trilu of ones, Cast to bool).
    /// </summary>
    public static ComputationGraph Gpt2(Gpt2Size size)
    {
        long B = size.Batch, T = size.Tokens, C = size.Width, H = size.Heads, D = size.Width / size.Heads, V = size.Vocabulary;
        if (size.Width % size.Heads != 0) throw new ArgumentException("the width must be a multiple of the number of heads", nameof(size));
        var n = new SampleGraph($"gpt2-{size.Layers}l-t{T}");
        int tokens = n.Input("tokens", [B, T], "int64");
        int target = n.Input("target", [B, T], "int64");
        int tok = n.Op("Gather", "wte", [n.Param("wte.weight", V, C), tokens], [B, T, C]);
        int positions = n.Const("positions", [T], Enumerable.Range(0, (int)T).Select(i => (long)i).ToArray(), "int64");
        int pos = n.Op("Gather", "wpe", [n.Param("wpe.weight", T, C), positions], [T, C]);
        int x = n.Op("Add", "embed", [tok, pos], [B, T, C]);

        int LayerNorm(string name, int input)
        {
            int mu = n.Op("ReduceMean", name + ".mean", [input], [B, T, 1], ("axes", new long[] { -1 }));
            int d = n.Op("Sub", name + ".centered", [input, mu], [B, T, C]);
            int sq = n.Op("Pow", name + ".square", [d, n.Const(name + ".two", [], 2f)], [B, T, C]);
            int v = n.Op("ReduceMean", name + ".variance", [sq], [B, T, 1], ("axes", new long[] { -1 }));
            int ve = n.Op("Add", name + ".variance_eps", [v, n.Const(name + ".eps", [], 1e-5f)], [B, T, 1]);
            int sd = n.Op("Sqrt", name + ".std", [ve], [B, T, 1]);
            int xn = n.Op("Div", name + ".normalized", [d, sd], [B, T, C]);
            int sc = n.Op("Mul", name + ".scaled", [xn, n.Param(name + ".weight", C)], [B, T, C]);
            return n.Op("Add", name + ".out", [sc, n.Param(name + ".bias", C)], [B, T, C]);
        }

        // Linear layer as exported by PyTorch: y = x · Wᵀ + b, with the weight stored [out, in].
        int Linear(string name, int input, long inFeatures, long outFeatures, long[] outShape)
        {
            int wt = n.Op("Transpose", name + ".weight_t", [n.Param(name + ".weight", outFeatures, inFeatures)], [inFeatures, outFeatures],
                ("perm", new long[] { 1, 0 }));
            int mm = n.Op("MatMul", name + ".matmul", [input, wt], outShape);
            return n.Op("Add", name + ".out", [n.Param(name + ".bias", outFeatures), mm], outShape);
        }

        int ones = n.Const("mask.ones", [T, T], 1f);
        int mask = n.Op("Trilu", "mask.upper", [ones, n.Const("mask.k", [1], [1L], "int64")], [T, T], ("upper", 1L));
        int maskBool = n.Op("Cast", "mask", [mask], [T, T], ("to", 9L), dtype: "bool");
        for (int l = 0; l < size.Layers; l++)
        {
            string p = $"blocks.{l}";
            int ln1 = LayerNorm(p + ".ln1", x);
            int qkv = Linear(p + ".qkv", ln1, C, 3 * C, [B, T, 3 * C]);
            int splits = n.Const(p + ".split_sizes", [3], [C, C, C], "int64");
            int headShape = n.Const(p + ".head_shape", [4], [B, T, H, D], "int64");
            int Head(int part)
            {
                int s = n.Op("Split", $"{p}.split{part}", [qkv, splits], [B, T, C], ("axis", 2L), outputIndex: part);
                int r = n.Op("Reshape", $"{p}.heads{part}", [s, headShape], [B, T, H, D]);
                return part == 1
                    ? n.Op("Transpose", $"{p}.keys_t", [r], [B, H, D, T], ("perm", new long[] { 0, 2, 3, 1 }))
                    : n.Op("Transpose", $"{p}.{(part == 0 ? "queries" : "values")}", [r], [B, H, T, D], ("perm", new long[] { 0, 2, 1, 3 }));
            }
            int q = Head(0), k = Head(1), v = Head(2);
            int scores = n.Op("MatMul", p + ".scores", [q, k], [B, H, T, T]);
            int scaled = n.Op("Div", p + ".scores_scaled", [scores, n.Const(p + ".sqrt_d", [], MathF.Sqrt(D))], [B, H, T, T]);
            int masked = n.Op("Where", p + ".masked", [maskBool, n.Const(p + ".minus_inf", [], float.NegativeInfinity), scaled], [B, H, T, T]);
            int attention = n.Op("Softmax", p + ".attention", [masked], [B, H, T, T], ("axis", -1L));
            int context = n.Op("MatMul", p + ".context", [attention, v], [B, H, T, D]);
            int contextT = n.Op("Transpose", p + ".context_t", [context], [B, T, H, D], ("perm", new long[] { 0, 2, 1, 3 }));
            int merged = n.Op("Reshape", p + ".merged", [contextT, n.Const(p + ".merge_shape", [3], [B, T, C], "int64")], [B, T, C]);
            int proj = Linear(p + ".proj", merged, C, C, [B, T, C]);
            int residual1 = n.Op("Add", p + ".residual1", [x, proj], [B, T, C]);
            int ln2 = LayerNorm(p + ".ln2", residual1);
            int fc = Linear(p + ".fc", ln2, C, 4 * C, [B, T, 4 * C]);
            int fcScaled = n.Op("Div", p + ".gelu.scaled", [fc, n.Const(p + ".sqrt2", [], MathF.Sqrt(2))], [B, T, 4 * C]);
            int erf = n.Op("Erf", p + ".gelu.erf", [fcScaled], [B, T, 4 * C]);
            int onePlus = n.Op("Add", p + ".gelu.one_plus", [erf, n.Const(p + ".one", [], 1f)], [B, T, 4 * C]);
            int gated = n.Op("Mul", p + ".gelu.gated", [fc, onePlus], [B, T, 4 * C]);
            int gelu = n.Op("Mul", p + ".gelu", [gated, n.Const(p + ".half", [], 0.5f)], [B, T, 4 * C]);
            int output = Linear(p + ".out", gelu, 4 * C, C, [B, T, C]);
            x = n.Op("Add", p + ".residual2", [residual1, output], [B, T, C]);
        }
        int lnf = LayerNorm("ln", x);
        int headT = n.Op("Transpose", "head.weight_t", [n.Param("head.weight", V, C)], [C, V], ("perm", new long[] { 1, 0 }));
        int logits = n.Op("MatMul", "head", [lnf, headT], [B, T, V]);
        int flat = n.Op("Reshape", "logits", [logits, n.Const("logits_shape", [2], [-1, V], "int64")], [B * T, V]);
        int labels = n.Op("Reshape", "labels", [target, n.Const("labels_shape", [1], [-1L], "int64")], [B * T], dtype: "int64");
        n.Op("SoftmaxCrossEntropyLoss", "loss", [flat, labels], [], ("reduction", "mean"), loss: true);
        return n.Build();
    }

    /// <summary>
    /// A multi-layer perceptron: <paramref name="layers"/> × (Gemm with bias, Relu), a classifier Gemm and
    /// SoftmaxCrossEntropyLoss. The shipped <c>mlp50.json</c> is <c>Mlp(50)</c>: width 256, batch 64, 10 classes.
    /// </summary>
    public static ComputationGraph Mlp(int layers, int width = 256, int batch = 64, int classes = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        var n = new SampleGraph($"mlp{layers}");
        int h = n.Input("x", [batch, width]);
        int labels = n.Input("labels", [batch], "int64");
        for (int i = 0; i < layers; i++)
        {
            int z = n.Op("Gemm", $"fc{i}", [h, n.Param($"fc{i}.weight", width, width), n.Param($"fc{i}.bias", width)], [batch, width],
                ("transB", 1L));
            h = n.Op("Relu", $"relu{i}", [z], [batch, width]);
        }
        int logits = n.Op("Gemm", "classifier", [h, n.Param("classifier.weight", classes, width), n.Param("classifier.bias", classes)],
            [batch, classes], ("transB", 1L));
        n.Op("SoftmaxCrossEntropyLoss", "loss", [logits, labels], [], ("reduction", "mean"), loss: true);
        return n.Build();
    }

    /// <summary>
    /// U-Net as in <c>graphs/unet-b8-256.onnx</c>, op for op: <paramref name="depth"/> down blocks of
    /// (Conv 3×3 with bias, BatchNormalization in training mode with its running-statistics outputs, Relu) × 2, each
    /// followed by MaxPool 2×2; a middle block; up steps of ConvTranspose 2×2 stride 2, Concat with the skip
    /// connection and a double-conv block; a 1×1 Conv head and SoftmaxCrossEntropyLoss per pixel. The shipped
    /// <c>unet-b1-64.json</c> is <c>UNet()</c>: the ONNX file's channels (64 to 1024) and 2 classes at batch 1, with a
    /// 64 × 64 input instead of 256 × 256 so that a training step takes a fraction of a second (16× fewer FLOPs).
    /// </summary>
    public static ComputationGraph UNet(int size = 64, int batch = 1, int channels = 64, int depth = 4, int classes = 2)
    {
        if (size % (1 << depth) != 0) throw new ArgumentException($"the input size must be a multiple of 2^{depth}", nameof(size));
        var n = new SampleGraph($"unet-b{batch}-{size}");
        long N = batch;
        int x = n.Input("input", [N, 3, size, size]);
        int target = n.Input("target", [N, size, size], "int64");
        (string, object) Kernel(long k) => ("kernel_shape", new[] { k, k });

        int ConvBnRelu(string name, int input, long cin, long cout, long h)
        {
            int conv = n.Op("Conv", name + ".conv", [input, n.Param(name + ".conv.weight", cout, cin, 3, 3), n.Param(name + ".conv.bias",
                cout)], [N, cout, h, h],
                Kernel(3), extra: [("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 1, 1 })]);
            int[] bnInputs = [conv, n.Param(name + ".bn.weight", cout), n.Param(name + ".bn.bias", cout),
                n.Param(name + ".bn.running_mean", cout), n.Param(name + ".bn.running_var", cout)];
            (string, object)[] bnAttributes = [("momentum", 0.9), ("training_mode", 1L)];
            int bn = n.Op("BatchNormalization", name + ".bn", bnInputs, [N, cout, h, h], ("epsilon", 1e-5), extra: bnAttributes);
            n.Op("BatchNormalization", name + ".bn.running_mean_out", bnInputs, [cout], ("epsilon", 1e-5), extra: bnAttributes, outputIndex: 1);
            n.Op("BatchNormalization", name + ".bn.running_var_out", bnInputs, [cout], ("epsilon", 1e-5), extra: bnAttributes, outputIndex: 2);
            return n.Op("Relu", name + ".relu", [bn], [N, cout, h, h]);
        }
        int Block(string name, int input, long cin, long cout, long h) => ConvBnRelu(name + ".1", ConvBnRelu(name + ".0", input, cin, cout,
            h), cout, cout, h);

        var skips = new List<(int Tensor, long Channels, long Size)>();
        long c = 3, s = size;
        for (int i = 0; i < depth; i++)
        {
            long cout = (long)channels << i;
            x = Block($"downs.{i}", x, c, cout, s);
            skips.Add((x, cout, s));
            x = n.Op("MaxPool", $"downs.{i}.pool", [x], [N, cout, s / 2, s / 2], Kernel(2), extra: [("strides", new long[] { 2, 2 })]);
            c = cout; s /= 2;
        }
        x = Block("mid", x, c, c * 2, s);
        c *= 2;
        for (int i = 0; i < depth; i++)
        {
            var (skip, sc, ss) = skips[depth - 1 - i];
            int up = n.Op("ConvTranspose", $"ups.{i}", [x, n.Param($"ups.{i}.weight", c, sc, 2, 2), n.Param($"ups.{i}.bias", sc)], [N, sc, ss, ss],
                Kernel(2), extra: [("strides", new long[] { 2, 2 })]);
            int cat = n.Op("Concat", $"ups.{i}.concat", [up, skip], [N, 2 * sc, ss, ss], ("axis", 1L));
            x = Block($"convs.{i}", cat, 2 * sc, sc, ss);
            c = sc; s = ss;
        }
        int logits = n.Op("Conv", "head", [x, n.Param("head.weight", classes, c, 1, 1), n.Param("head.bias", classes)], [N, classes, size,
            size], Kernel(1));
        n.Op("SoftmaxCrossEntropyLoss", "loss", [logits, target], [], ("reduction", "mean"), loss: true);
        return n.Build();
    }

    /// <summary>A graph under construction: shapes give bytes, the cost model gives FLOPs, the runtime gives backward needs.</summary>
    private sealed class SampleGraph(string name)
    {
        private readonly GraphBuilder _b = new(name, CostModel.Unit);

        private static long Elements(IReadOnlyList<long> shape) => shape.Aggregate(1L, (a, d) => checked(a * d));

        public int Input(string name, long[] shape, string dtype = "float32") =>
            _b.Add(new NodeSpec(name, "Input", NodeKind.Input) { Shape = shape, DType = dtype,
                Bytes = Elements(shape) * ElementTypes.BytesOf(dtype) });

        public int Param(string name, params long[] shape) =>
            _b.Add(new NodeSpec(name, "Parameter", NodeKind.Parameter) { Shape = shape, Bytes = Elements(shape) * 4 });

        /// <summary>A float constant; a single value stands for every element.</summary>
        public int Const(string name, long[] shape, float value) => Const(name, shape, new[] { value }, "float32");

        public int Const(string name, long[] shape, long[] values, string dtype) => Const(name, shape, (object)values, dtype);

        private int Const(string name, long[] shape, object value, string dtype) =>
            _b.Add(new NodeSpec(name, "Constant", NodeKind.Constant)
            {
                Shape = shape, DType = dtype, Bytes = Elements(shape) * ElementTypes.BytesOf(dtype),
                Attributes = new Dictionary<string, object> { ["value"] = value },
            });

        public int Op(string op, string name, int[] inputs, long[] shape, (string Key, object Value)? attribute = null,
            string dtype = "float32", int outputIndex = 0, bool loss = false, (string Key, object Value)[]? extra = null)
        {
            var attributes = attribute is { } a ? new Dictionary<string, object> { [a.Key] = a.Value } : new Dictionary<string, object>();
            foreach (var (key, value) in extra ?? []) attributes[key] = value;
            var operands = inputs.Select(i => (TensorInfo?)new TensorInfo(_b[i].DType, _b[i].Shape.ToArray())).ToArray();
            var output = new TensorInfo(dtype, shape);
            // A secondary output (running statistics, split parts) costs its own element count, as in the cost model.
            double flops = outputIndex > 0 ? Elements(shape) : CostModel.ForwardFlops(op, attributes, operands, [output], 0);
            var saved = OperatorRegistry.BackwardNeeds(op,
                inputs.Length) ?? throw new ArgumentException($"no saved-tensor rule for '{op}'", nameof(op));
            return _b.Add(new NodeSpec(name, op, loss ? NodeKind.Loss : NodeKind.Activation)
            {
                Inputs = inputs, Shape = shape, DType = dtype, Bytes = Elements(shape) * ElementTypes.BytesOf(dtype), Time = flops,
                Attributes = attributes, OutputIndex = outputIndex,
                BackwardNeeds = [.. saved.Operands], BackwardNeedsOutput = saved.Output, SavedByRule = true,
            });
        }

        public ComputationGraph Build() => _b.Build();
    }
}
