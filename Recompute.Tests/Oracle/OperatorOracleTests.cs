using Recompute.Planner.Import;
using Recompute.Runtime.Data;
using Recompute.Runtime.Execution;
using Recompute.Tests.Import;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Oracle;

/// <summary>
/// One small crafted ONNX graph per operator the runtime supports: the op's output <c>y</c> and a loss
/// <c>ReduceSum(y)</c> from ONNX Runtime and from Recompute's runtime on the same inputs agree within 1e-4 relative.
/// Float weights are initializers (so the weights-in path is exercised too); shape operands are Constant nodes.
/// </summary>
public class OperatorOracleTests
{
    private static float[] Normal(int n, int seed, float shift = 0, float scale = 1)
    {
        var rng = new DeterministicRandom((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => (float)rng.NextNormal() * scale + shift).ToArray();
    }

    private static float[] Positive(int n, int seed) => Normal(n, seed).Select(v => Math.Abs(v) + 0.5f).ToArray();

    private static Recompute.Planner.Import.Onnx.Proto.TensorProto Init(string name, long[] dims, float[] values) => Tensor(name, dims,
        floats: values);



    private static OnnxModelBuilder Constant(OnnxModelBuilder b, string name, long[] dims, long[] values) =>
        b.Node("Constant", [], [name], TensorAttr("value", Tensor(name + "_value", dims, ints: values)));

    private sealed record Case(Func<OnnxModelBuilder> Build, NamedArray[] Inputs);

    private static Case Unary(string op, bool positive = false) => new(
        () => new OnnxModelBuilder().Input("x", Float, 2, 3).Node(op, ["x"], ["y"]),
        [NamedArray.Of("x", positive ? Positive(6, 1) : Normal(6, 1), 2, 3)]);

    // The second operand is an initializer: a file whose only float tensors are graph inputs reads as weights stripped
    // to inputs (see OnnxImporter), and a data batch names only data inputs.
    private static Case Binary(string op, bool positive = false) => new(
        () => new OnnxModelBuilder().Input("a", Float, 2, 3).Initializer(Init("b", [3], positive ? Positive(3, 3) : Normal(3, 3,
            0.1f))).Node(op, ["a", "b"], ["y"]),
        [NamedArray.Of("a", positive ? Positive(6, 2) : Normal(6, 2), 2, 3)]);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["Add"] = Binary("Add"), ["Sub"] = Binary("Sub"), ["Mul"] = Binary("Mul"), ["Div"] = Binary("Div", positive: true),
        ["Pow"] = Binary("Pow", positive: true),
        ["Relu"] = Unary("Relu"), ["Sqrt"] = Unary("Sqrt", positive: true), ["Erf"] = Unary("Erf"), ["Tanh"] = Unary("Tanh"),
        ["Sigmoid"] = Unary("Sigmoid"), ["Exp"] = Unary("Exp"), ["Neg"] = Unary("Neg"), ["Identity"] = Unary("Identity"),
        ["Clip"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3)
            .Node("Constant", [], ["lo"], TensorAttr("value", Tensor("lo_v", [], floats: [-0.5f])))
            .Node("Constant", [], ["hi"], TensorAttr("value", Tensor("hi_v", [], floats: [0.7f])))
            .Node("Clip", ["x", "lo", "hi"], ["y"]), [NamedArray.Of("x", Normal(6, 4), 2, 3)]),
        ["Cast"] = new(() => new OnnxModelBuilder().Input("i", Long, 2, 3).Node("Cast", ["i"], ["y"], Int("to", Float)),
            [NamedArray.Of("i", [3L, -1, 0, 7, 2, 5], 2, 3)]),
        ["Reshape"] = new(() => Constant(new OnnxModelBuilder().Input("x", Float, 2, 6), "s", [3], [3, -1, 2]).Node("Reshape", ["x", "s"], ["y"]),
            [NamedArray.Of("x", Normal(12, 5), 2, 6)]),
        ["Flatten"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3, 2).Node("Flatten", ["x"], ["y"], Int("axis", 1)),
            [NamedArray.Of("x", Normal(12, 6), 2, 3, 2)]),
        ["Squeeze"] = new(() => Constant(new OnnxModelBuilder().Input("x", Float, 2, 1, 3), "ax", [1], [1]).Node("Squeeze", ["x", "ax"], ["y"]),
            [NamedArray.Of("x", Normal(6, 7), 2, 1, 3)]),
        ["Unsqueeze"] = new(() => Constant(new OnnxModelBuilder().Input("x", Float, 2, 3), "ax", [1], [0]).Node("Unsqueeze", ["x", "ax"], ["y"]),
            [NamedArray.Of("x", Normal(6, 8), 2, 3)]),
        ["Transpose"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3, 4).Node("Transpose", ["x"], ["y"], Ints("perm", 2, 0, 1)),
            [NamedArray.Of("x", Normal(24, 9), 2, 3, 4)]),
        ["Split"] = new(() => Constant(new OnnxModelBuilder().Input("x", Float, 2, 6), "parts", [2], [2, 4]).Node("Split", ["x", "parts"],
            ["y", "y2"], Int("axis", 1)),
            [NamedArray.Of("x", Normal(12, 10), 2, 6)]),
        ["Concat"] = new(() => new OnnxModelBuilder().Input("a", Float, 2, 3).Initializer(Init("b", [2, 2], Normal(4, 12))).Node("Concat",
            ["a", "b"], ["y"], Int("axis", 1)),
            [NamedArray.Of("a", Normal(6, 11), 2, 3)]),
        ["Gather"] = new(() => new OnnxModelBuilder().Input("i", Long, 2, 2).Initializer(Init("table", [5, 3], Normal(15, 13)))
            .Node("Gather", ["table", "i"], ["y"], Int("axis", 0)), [NamedArray.Of("i", [4L, 0, 2, 4], 2, 2)]),
        ["Where"] = new(() => new OnnxModelBuilder().Input("a", Float, 2, 3).Initializer(Init("b", [2, 3], Normal(6, 15)))
            .Node("Constant", [], ["c"], TensorAttr("value", BoolTensor("c_v", [2, 3], [1, 0, 0, 1, 1, 0])))
            .Node("Where", ["c", "a", "b"], ["y"]), [NamedArray.Of("a", Normal(6, 14), 2, 3)]),
        ["Trilu"] = new(() => new OnnxModelBuilder().Input("x", Float, 3, 3).Node("Trilu", ["x"], ["y"], Int("upper", 0)),
            [NamedArray.Of("x", Normal(9, 16), 3, 3)]),
        ["MatMul"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3, 4).Initializer(Init("w", [4, 5], Normal(20, 17)))
            .Node("MatMul", ["x", "w"], ["y"]), [NamedArray.Of("x", Normal(24, 18), 2, 3, 4)]),
        ["Gemm"] = new(() => new OnnxModelBuilder().Input("x", Float, 3, 4).Initializer(Init("w", [5, 4], Normal(20,
            19))).Initializer(Init("c", [5], Normal(5, 20)))
            .Node("Gemm", ["x", "w", "c"], ["y"], Int("transB", 1), Real("alpha", 0.5f), Real("beta", 2f)), [NamedArray.Of("x", Normal(12,
                21), 3, 4)]),
        ["Conv"] = new(() => new OnnxModelBuilder().Input("x", Float, 1, 2, 6, 6).Initializer(Init("w", [4, 1, 3, 3], Normal(36,
            22))).Initializer(Init("b", [4], Normal(4, 23)))
            .Node("Conv", ["x", "w", "b"], ["y"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 0, 1, 2), Ints("strides", 2, 1), Int("group", 2)),
            [NamedArray.Of("x", Normal(72, 24), 1, 2, 6, 6)]),
        ["ConvTranspose"] = new(() => new OnnxModelBuilder().Input("x", Float, 1, 2, 4, 4).Initializer(Init("w", [2, 3, 2, 2], Normal(24, 25)))
            .Node("ConvTranspose", ["x", "w"], ["y"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)), [NamedArray.Of("x", Normal(32,
                26), 1, 2, 4, 4)]),
        ["MaxPool"] = new(() => new OnnxModelBuilder().Input("x", Float, 1, 2, 5, 5)
            .Node("MaxPool", ["x"], ["y"], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1,
                1)), [NamedArray.Of("x", Normal(50, 27), 1, 2, 5, 5)]),
        ["AveragePool"] = new(() => new OnnxModelBuilder().Input("x", Float, 1, 2, 4, 4)
            .Node("AveragePool", ["x"], ["y"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)), [NamedArray.Of("x", Normal(32, 28), 1, 2, 4, 4)]),
        ["GlobalAveragePool"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3, 4, 4).Node("GlobalAveragePool", ["x"], ["y"]),
            [NamedArray.Of("x", Normal(96, 29), 2, 3, 4, 4)]),
        ["BatchNormalization"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3, 2, 2)
            .Initializer(Init("s", [3], [1f, 0.5f, 2f])).Initializer(Init("o", [3], [0f, 0.1f, -0.2f])).Initializer(Init("m", [3], [0, 0,
                0])).Initializer(Init("v", [3], [1, 1, 1]))
            .Node("BatchNormalization", ["x", "s", "o", "m", "v"], ["y", "rm", "rv"], Real("epsilon", 1e-5f), Int("training_mode", 1)),
            [NamedArray.Of("x", Normal(24, 30, 0.3f, 2), 2, 3, 2, 2)]),
        ["ReduceMean"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3, 4).Node("ReduceMean", ["x"], ["y"], Ints("axes", -1),
            Int("keepdims", 1)),
            [NamedArray.Of("x", Normal(24, 31), 2, 3, 4)]),
        ["ReduceSum"] = new(() => Constant(new OnnxModelBuilder().Input("x", Float, 2, 3, 4), "ax", [1], [1]).Node("ReduceSum", ["x",
            "ax"], ["y"], Int("keepdims", 0)),
            [NamedArray.Of("x", Normal(24, 32), 2, 3, 4)]),
        ["Softmax"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 5).Node("Softmax", ["x"], ["y"], Int("axis", -1)),
            [NamedArray.Of("x", Normal(10, 33, 0, 3), 2, 5)]),
        ["Dropout"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3)
            .Node("Constant", [], ["r"], TensorAttr("value", Tensor("r_v", [], floats: [0.3f])))
            .Node("Constant", [], ["t"], TensorAttr("value", BoolTensor("t_v", [], [0])))
            .Node("Dropout", ["x", "r", "t"], ["y"]), [NamedArray.Of("x", Normal(6, 34), 2, 3)]),
        // The fused ops: the decomposed forms an exporter writes, which the importer plans as LayerNormalization and Gelu
        // and ONNX Runtime runs node by node.
        ["LayerNormalization"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 3, 4)
            .Initializer(Init("g", [4], Normal(4, 35, 1f, 0.3f))).Initializer(Init("be", [4], Normal(4, 36)))
            .LayerNorm("x", "g", "be", "y", "ln"), [NamedArray.Of("x", Normal(24, 37, 0.5f, 2), 2, 3, 4)]),
        ["Gelu"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 5).GeluErf("x", "y", "gelu"), [NamedArray.Of("x", Normal(10, 38,
            0, 2), 2, 5)]),
        ["Gelu (tanh)"] = new(() => new OnnxModelBuilder().Input("x", Float, 2, 5).GeluTanh("x", "y", "gelu"), [NamedArray.Of("x",
            Normal(10, 39, 0, 2), 2, 5)]),
    };

    private static Recompute.Planner.Import.Onnx.Proto.TensorProto BoolTensor(string name, long[] dims, int[] values)
    {
        var t = new Recompute.Planner.Import.Onnx.Proto.TensorProto { Name = name, DataType = Bool };
        t.Dims.AddRange(dims);
        t.Int32Data.AddRange(values);
        return t;
    }

    public static TheoryData<string> Ops() => [.. Cases.Keys.Order(StringComparer.Ordinal)];

    [Fact]
    public void EveryRuntimeOperatorWithAForwardOfItsOwn_HasACase()
    {
        // Constant, ConstantOfShape and Shape are folded at import (their values are constants, not computed);
        // SoftmaxCrossEntropyLoss is the loss of every shipped graph (ShippedGraphOracleTests) and of the MLP case.
        var folded = new[] { "Constant", "ConstantOfShape", "Shape", "SoftmaxCrossEntropyLoss" };
        var missing = Recompute.Runtime.Ops.OperatorRegistry.SupportedOps.Except(folded).Except(Cases.Keys).ToList();
        Assert.True(missing.Count == 0, "no oracle case for " + string.Join(", ", missing));
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void Operator_AgreesWithOnnxRuntime(string op)
    {
        var c = Cases[op];
        var b = c.Build().Node("ReduceSum", ["y"], ["loss"], Int("keepdims", 0));
        // y's shape is left to inference (an empty dims list would declare a scalar).
        b.Graph.Output.Add(new Recompute.Planner.Import.Onnx.Proto.ValueInfoProto
        {
            Name = "y", Type = new Recompute.Planner.Import.Onnx.Proto.TypeProto { TensorType = new Recompute.Planner.Import.Onnx.Proto.TypeProto.Types.Tensor { ElemType = Float } },
        });
        b.Output("loss", Float);
        using var folder = new TempFolder();
        string path = b.Write(folder.File(op + ".onnx"));
        var graph = GraphLoader.Load(path);
        Assert.Equal(op.Split(' ')[0], graph.Find("y").Op);
        var session = TrainingSession.Create(graph, new TrainingOptions { Seed = 3 });
        using var batch = session.CreateBatch(c.Inputs);
        var ours = session.Evaluate(batch);
        var ort = OrtOracle.Run(path, c.Inputs);
        foreach (var o in ours.Outputs)
        {
            double d = OrtOracle.RelativeDifference(o.Floats!, ort[o.Name]);
            Assert.True(d <= 1e-4,
                $"{op}: '{o.Name}' differs from ONNX Runtime by {d:G3} relative: [{string.Join(", ", o.Floats!.Take(6))}] vs [{string.Join(", ", ort[o.Name].Take(6))}]");
        }
        Assert.Equal(["y", "loss"], ours.Outputs.Select(o => o.Name));
    }
}
