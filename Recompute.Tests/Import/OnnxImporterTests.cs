using Google.Protobuf;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx;
using Recompute.Planner.Import.Onnx.Proto;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Import;

/// <summary>Import of small models built in the test, and every kind of bad file.</summary>
public sealed class OnnxImporterTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void Mlp_ShapesBytesFlopsAndKinds()
    {
        var g = OnnxImporter.Load(Mlp().Write(_tmp.File("mlp.onnx")));
        // Weights stripped to inputs: the first input and the int64 labels are data, the other float inputs are weights.
        Assert.Equal(NodeKind.Input, g.Find("x").Kind);
        Assert.Equal(NodeKind.Input, g.Find("y").Kind);
        Assert.Equal(NodeKind.Parameter, g.Find("w1").Kind);
        Assert.Equal((8 * 16 + 16 * 5 + 5) * 4, g.ParameterBytes);
        var h = g.Find("h");
        Assert.Equal([4L, 16], h.Shape.ToArray());
        Assert.Equal(4 * 16 * 4, h.Bytes);
        Assert.Equal(2.0 * 4 * 16 * 8, h.Time);                     // MatMul: 2·M·N·K
        Assert.Equal(4.0 * 16, g.Find("r").Time);                   // Relu: elements
        Assert.Equal(2.0 * 4 * 5 * 16 + 4 * 5, g.Find("logits").Time); // Gemm: 2·M·N·K + M·N for the bias
        var loss = g.Find("loss");
        Assert.Equal(NodeKind.Loss, loss.Kind);
        Assert.Empty(loss.Shape);
        Assert.Equal(4, loss.Bytes);
        Assert.Equal((4 * 16 + 4 * 16 + 4 * 5) * 4 + 4, g.ActivationBytes);
    }

    [Fact]
    public void WeightsAsInitializers_AreParameters_AndOtherInputsAreData()
    {
        var m = new OnnxModelBuilder().Input("x", Float, 2, 3).Input("mask", Float, 2, 4)
            .Initializer(Tensor("w", [3, 4], floats: new float[12]))
            .Node("MatMul", ["x", "w"], ["h"]).Node("Mul", ["h", "mask"], ["z"]).Node("ReduceMean", ["z"], ["loss"], Int("keepdims",
                0)).Output("loss", Float);
        var g = OnnxImporter.Load(m.Write(_tmp.File("init.onnx")));
        Assert.Equal(NodeKind.Parameter, g.Find("w").Kind);
        Assert.Equal(NodeKind.Input, g.Find("mask").Kind);
        Assert.Equal(NodeKind.Loss, g.Find("loss").Kind); // the single scalar graph output
        Assert.Equal([0, 1], g.Find("z").BackwardNeeds.ToArray());
    }

    [Fact]
    public void LossWithReductionNone_FollowedByMean_MarksTheScalarOutput()
    {
        var m = new OnnxModelBuilder().Input("x", Float, 4, 3).Input("y", Long, 4)
            .Node("SoftmaxCrossEntropyLoss", ["x", "y"], ["per_sample"], Str("reduction", "none"))
            .Node("ReduceMean", ["per_sample"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        var g = OnnxImporter.Load(m.Write(_tmp.File("none.onnx")));
        Assert.Equal(NodeKind.Loss, g.Find("loss").Kind);
        Assert.Equal(NodeKind.Activation, g.Find("per_sample").Kind);
        Assert.Equal([4L], g.Find("per_sample").Shape.ToArray());
    }

    [Fact]
    public void InferenceGraph_HasNoLoss()
    {
        var m = new OnnxModelBuilder().Input("x", Float, 4, 3).Node("Softmax", ["x"], ["p"], Int("axis", -1)).Output("p", Float, 4, 3);
        var g = OnnxImporter.Load(m.Write(_tmp.File("infer.onnx")));
        Assert.DoesNotContain(g.Nodes, n => n.Kind == NodeKind.Loss);
    }

    [Fact]
    public void ExternalData_IsSizedFromDims_NeverRead()
    {
        var w = Tensor("w", [3, 1000]);
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights-that-do-not-exist.bin" });
        w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "0" });
        w.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "12000" });
        var m = new OnnxModelBuilder().Input("x", Float, 2, 3).Initializer(w)
            .Node("MatMul", ["x", "w"], ["h"]).Node("ReduceSum", ["h"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        var g = OnnxImporter.Load(m.Write(_tmp.File("ext.onnx")));
        Assert.Equal(12000, g.Find("w").Bytes);
        Assert.Equal(NodeKind.Parameter, g.Find("w").Kind);
    }

    [Fact]
    public void ShapeArithmetic_IsPropagated_SoComputedReshapeTargetsAreStatic()
    {
        // flatten x[N,C,H,W] to [N, C·H·W] through Shape → Gather → Unsqueeze → Concat → Reshape, as exporters write it.
        var m = new OnnxModelBuilder(opset: 13).Input("x", Float, 6, 2, 3, 4)
            .Node("Relu", ["x"], ["r"])
            .Node("Shape", ["r"], ["s"])
            .Node("Constant", [], ["zero"], TensorAttr("value", Tensor("", [], ints: [0])))
            .Node("Gather", ["s", "zero"], ["n"], Int("axis", 0))
            .Node("Constant", [], ["axes"], TensorAttr("value", Tensor("", [1], ints: [0])))
            .Node("Unsqueeze", ["n", "axes"], ["n1"])
            .Node("Constant", [], ["minus1"], TensorAttr("value", Tensor("", [1], ints: [-1])))
            .Node("Concat", ["n1", "minus1"], ["target"], Int("axis", 0))
            .Node("Reshape", ["r", "target"], ["flat"])
            .Node("ReduceMean", ["flat"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        string path = m.Write(_tmp.File("shape.onnx"));
        var g = OnnxImporter.Load(path);
        Assert.Equal([6L, 24], g.Find("flat").Shape.ToArray());
        Assert.Equal([6L, -1], g.Find("target").Attribute<long[]>("value")!);
        Assert.Equal(NodeKind.Constant, g.Find("s").Kind);
        Assert.Equal(NodeKind.Constant, g.Find("target").Kind);
        Assert.Equal(0, g.Find("target").Time);
        Assert.Equal(NodeKind.Activation, g.Find("flat").Kind);
        // With another batch the computed target follows by itself.
        Assert.Equal([10L, 24], OnnxImporter.Load(path, new OnnxImportOptions { Batch = 10 }).Find("flat").Shape.ToArray());
    }

    [Fact]
    public void TransformerStyleExport_WithComputedShapesExpandAndSlices_FollowsTheBatch()
    {
        // A ViT/HF-style fragment: class token expanded to the batch through Shape → Gather → Unsqueeze → Concat → Expand,
        // prepended to the patch tokens, layer-normalized, heads split by a reshape whose target is computed from Shape,
        // scores, softmax, and a Slice to INT64_MAX taking all but the class token.
        const long big = long.MaxValue;
        var m = new OnnxModelBuilder(opset: 18).SymbolicInput("x", Float, "batch", 16, 32)
            .Initializer(Tensor("cls", [1, 1, 32], floats: new float[32]))
            .Initializer(Tensor("ln_w", [32], floats: new float[32])).Initializer(Tensor("ln_b", [32], floats: new float[32]))
            .Initializer(Tensor("wq", [32, 32], floats: new float[1024]))
            .Node("Shape", ["x"], ["xs"])
            .Node("Constant", [], ["i0"], TensorAttr("value", Tensor("", [], ints: [0])))
            .Node("Gather", ["xs", "i0"], ["b"], Int("axis", 0))
            .Node("Constant", [], ["ax0"], TensorAttr("value", Tensor("", [1], ints: [0])))
            .Node("Unsqueeze", ["b", "ax0"], ["b1"])
            .Node("Constant", [], ["rest"], TensorAttr("value", Tensor("", [2], ints: [1, 32])))
            .Node("Concat", ["b1", "rest"], ["clsShape"], Int("axis", 0))
            .Node("Expand", ["cls", "clsShape"], ["clsB"])
            .Node("Concat", ["clsB", "x"], ["tokens"], Int("axis", 1))
            .Node("LayerNormalization", ["tokens", "ln_w", "ln_b"], ["ln"], Int("axis", -1))
            .Node("MatMul", ["ln", "wq"], ["q"])
            .Node("Shape", ["q"], ["qs"])
            .Node("Constant", [], ["s0"], TensorAttr("value", Tensor("", [1], ints: [0])))
            .Node("Constant", [], ["s2"], TensorAttr("value", Tensor("", [1], ints: [2])))
            .Node("Slice", ["qs", "s0", "s2"], ["bt"])
            .Node("Constant", [], ["heads"], TensorAttr("value", Tensor("", [2], ints: [4, 8])))
            .Node("Concat", ["bt", "heads"], ["qShape"], Int("axis", 0))
            .Node("Reshape", ["q", "qShape"], ["qh"])
            .Node("Transpose", ["qh"], ["qt"], Ints("perm", 0, 2, 1, 3))
            .Node("Transpose", ["qh"], ["kt"], Ints("perm", 0, 2, 3, 1))
            .Node("MatMul", ["qt", "kt"], ["scores"])
            .Node("Softmax", ["scores"], ["p"], Int("axis", -1))
            .Node("Constant", [], ["one"], TensorAttr("value", Tensor("", [1], ints: [1])))
            .Node("Constant", [], ["end"], TensorAttr("value", Tensor("", [1], ints: [big])))
            .Node("Constant", [], ["axis3"], TensorAttr("value", Tensor("", [1], ints: [3])))
            .Node("Slice", ["p", "one", "end", "axis3"], ["patches"])
            .Node("ReduceMean", ["patches"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        string path = m.Write(_tmp.File("vit.onnx"));
        foreach (int batch in new[] { 2, 5 })
        {
            var g = OnnxImporter.Load(path, new OnnxImportOptions { Batch = batch });
            Assert.Equal([batch, 1L, 32], g.Find("clsB").Shape.ToArray());
            Assert.Equal([batch, 17L, 32], g.Find("tokens").Shape.ToArray());
            Assert.Equal([batch, 4L, 17, 17], g.Find("scores").Shape.ToArray());
            Assert.Equal([batch, 4L, 17, 16], g.Find("patches").Shape.ToArray());
            Assert.Equal(NodeKind.Parameter, g.Find("cls").Kind);
            Assert.Equal(NodeKind.Constant, g.Find("qShape").Kind);
            Assert.Equal(NodeKind.Loss, g.Find("loss").Kind);
            Assert.Equal(2.0 * batch * 4 * 17 * 17 * 8, g.Find("scores").Time);
        }
    }

    [Fact]
    public void WindowPadding_ComputedAsPyTorchWritesFPad_IsStatic()
    {
        // Swin's shifted windows pad H and W up to a multiple of the window (7): F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        // with pad = (7 - dim % 7) % 7 from the traced shape. PyTorch 1.13 writes the pads as a [-1, 2] table in
        // reverse axis order (C, W, H, B), read backwards by a Slice with step -1, transposed and flattened into ONNX's
        // begins-then-ends: the Slice of a rank-2 constant and the Transpose must carry their values.
        const long min = long.MinValue + 1;
        var m = new OnnxModelBuilder(opset: 15).Input("x", Float, 2, 9, 12, 4)
            .Node("Shape", ["x"], ["xs"])
            .Node("Constant", [], ["seven"], TensorAttr("value", Tensor("", [], ints: [7])))
            .Node("Constant", [], ["i1"], TensorAttr("value", Tensor("", [], ints: [1])))
            .Node("Constant", [], ["i2"], TensorAttr("value", Tensor("", [], ints: [2])))
            .Node("Gather", ["xs", "i1"], ["h"], Int("axis", 0))
            .Node("Gather", ["xs", "i2"], ["w"], Int("axis", 0))
            .Node("Mod", ["h", "seven"], ["hm"]).Node("Sub", ["seven", "hm"], ["hs"]).Node("Mod", ["hs", "seven"], ["padB"])
            .Node("Mod", ["w", "seven"], ["wm"]).Node("Sub", ["seven", "wm"], ["ws"]).Node("Mod", ["ws", "seven"], ["padR"])
            .Node("Constant", [], ["zero"], TensorAttr("value", Tensor("", [1], ints: [0])))
            .Node("Constant", [], ["ax0"], TensorAttr("value", Tensor("", [1], ints: [0])))
            .Node("Unsqueeze", ["padR", "ax0"], ["padR1"]).Node("Unsqueeze", ["padB", "ax0"], ["padB1"])
            .Node("Concat", ["zero", "zero", "zero", "padR1", "zero", "padB1"], ["given"], Int("axis", 0))
            .Node("Constant", [], ["two"], TensorAttr("value", Tensor("", [1], ints: [2])))
            .Node("ConstantOfShape", ["two"], ["rest"], TensorAttr("value", Tensor("", [1], ints: [0])))
            .Node("Concat", ["given", "rest"], ["torchPads"], Int("axis", 0))
            .Node("Constant", [], ["pairs"], TensorAttr("value", Tensor("", [2], ints: [-1, 2])))
            .Node("Reshape", ["torchPads", "pairs"], ["table"])
            .Node("Constant", [], ["start"], TensorAttr("value", Tensor("", [1], ints: [-1])))
            .Node("Constant", [], ["end"], TensorAttr("value", Tensor("", [1], ints: [min])))
            .Node("Constant", [], ["back"], TensorAttr("value", Tensor("", [1], ints: [-1])))
            .Node("Slice", ["table", "start", "end", "ax0", "back"], ["reversed"])
            .Node("Transpose", ["reversed"], ["byEnd"], Ints("perm", 1, 0))
            .Node("Constant", [], ["flat"], TensorAttr("value", Tensor("", [1], ints: [-1])))
            .Node("Reshape", ["byEnd", "flat"], ["pads"])
            .Node("Pad", ["x", "pads"], ["padded"], Str("mode", "constant"))
            .Node("ReduceMean", ["padded"], ["loss"], Int("keepdims", 0)).Output("loss", Float)
            .ValueInfo("padded", Float, 2, 14, 14, 4);
        var g = OnnxImporter.Load(m.Write(_tmp.File("window-pad.onnx")));
        Assert.Equal([0L, 0, 0, 2, 0, 5, 0, 0], g.Find("torchPads").Attribute<long[]>("value")!);
        Assert.Equal([0L, 0, 0, 5, 0, 2, 0, 0], g.Find("reversed").Attribute<long[]>("value")!);
        Assert.Equal([0L, 0, 0, 0, 0, 5, 2, 0], g.Find("pads").Attribute<long[]>("value")!);
        Assert.Equal([2L, 14, 14, 4], g.Find("padded").Shape.ToArray());
        Assert.Equal(NodeKind.Activation, g.Find("padded").Kind);
    }

    [Fact]
    public void ConstantSlicesAndTransposes_OfAnyRank_KeepTheirValues()
    {
        // [2,3,4] = 0..23: Transpose perm [2,0,1], then a Slice of the [4,2,3] result over axes 0 and 2 with steps 2 and -1.
        var m = new OnnxModelBuilder().Input("x", Float, 1)
            .Node("Constant", [], ["c"], TensorAttr("value", Tensor("", [2, 3, 4], ints: Enumerable.Range(0, 24).Select(i => (long)i).ToArray())))
            .Node("Transpose", ["c"], ["t"], Ints("perm", 2, 0, 1))
            .Node("Constant", [], ["starts"], TensorAttr("value", Tensor("", [2], ints: [1, -1])))
            .Node("Constant", [], ["ends"], TensorAttr("value", Tensor("", [2], ints: [long.MaxValue, 0])))
            .Node("Constant", [], ["axes"], TensorAttr("value", Tensor("", [2], ints: [0, 2])))
            .Node("Constant", [], ["steps"], TensorAttr("value", Tensor("", [2], ints: [2, -1])))
            .Node("Slice", ["t", "starts", "ends", "axes", "steps"], ["s"])
            .Node("ReduceSum", ["x"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        var g = OnnxImporter.Load(m.Write(_tmp.File("const-slices.onnx")));
        // t[k, i, j] = c[i, j, k] = 12 i + 4 j + k.
        var t = g.Find("t").Attribute<long[]>("value")!;
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++)
                    Assert.Equal(12 * i + 4 * j + k, t[k * 6 + i * 3 + j]);
        // s = t[1::2, :, 2:0:-1]: k in {1, 3}, i in {0, 1}, j in {2, 1}.
        Assert.Equal([2L, 2, 2], g.Find("s").Shape.ToArray());
        Assert.Equal([9L, 5, 21, 17, 11, 7, 23, 19], g.Find("s").Attribute<long[]>("value")!);
    }

    [Fact]
    public void SymbolicBatch_NeedsBatchOption()
    {
        var m = new OnnxModelBuilder().SymbolicInput("x", Float, "batch", 5).Node("ReduceSum", ["x"], ["loss"], Int("keepdims",
            0)).Output("loss", Float);
        string path = m.Write(_tmp.File("sym.onnx"));
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path));
        Assert.Contains("sym.onnx", e.Message);
        Assert.Contains("'batch'", e.Message);
        Assert.Contains("--batch", e.Message);
        Assert.Equal([3L, 5], OnnxImporter.Load(path, new OnnxImportOptions { Batch = 3 }).Find("x").Shape.ToArray());
    }

    [Fact]
    public void MultiOutputOps_GiveOneNodePerOutput()
    {
        var m = new OnnxModelBuilder(opset: 18).Input("x", Float, 4, 6)
            .Node("Split", ["x"], ["a", "b", "c"], Int("axis", 1), Int("num_outputs", 3))
            .Node("Dropout", ["a"], ["d", "mask"])
            .Node("Concat", ["d", "b", "c"], ["cat"], Int("axis", 1))
            .Node("ReduceSum", ["cat"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        var g = OnnxImporter.Load(m.Write(_tmp.File("multi.onnx")));
        Assert.Equal([0, 1, 2], new[] { "a", "b", "c" }.Select(n => g.Find(n).OutputIndex));
        Assert.All(new[] { "a", "b", "c" }, n => Assert.Equal([4L, 2], g.Find(n).Shape.ToArray()));
        Assert.Equal("bool", g.Find("mask").DType);
        Assert.Equal(1, g.Find("mask").OutputIndex);
        Assert.Equal(8, g.Find("mask").Bytes);
        Assert.Equal([4L, 6], g.Find("cat").Shape.ToArray());
    }

    [Fact]
    public void ValueInfoDisagreement_NamesNodeAndFile()
    {
        var m = Mlp().ValueInfo("h", Float, 4, 17);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(m.Write(_tmp.File("disagree.onnx"))));
        Assert.Contains("disagree.onnx", e.Message);
        Assert.Contains("MatMul", e.Message);
        Assert.Contains("'h'", e.Message);
        Assert.Contains("[4,16]", e.Message);
        Assert.Contains("[4,17]", e.Message);
    }

    [Fact]
    public void ValueInfoDisagreementInASampleGraph_IsReported()
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(OnnxTestFiles.Graph("resnet18-b32.onnx")));
        var vi = model.Graph.ValueInfo.First(v => v.Name == "/net/maxpool/MaxPool_output_0");
        vi.Type.TensorType.Shape.Dim[2].DimValue = 57;
        string path = _tmp.File("resnet18-bad-valueinfo.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path));
        Assert.Contains("resnet18-bad-valueinfo.onnx", e.Message);
        Assert.Contains("/net/maxpool/MaxPool", e.Message);
        Assert.Contains("[32,64,56,56]", e.Message);
    }

    [Fact]
    public void UnsupportedOperator_NamesOpNodeAndFile()
    {
        var m = new OnnxModelBuilder().Input("x", Float, 4).Node("NonZero", ["x"], ["nz"]).Output("nz", Long);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(m.Write(_tmp.File("nonzero.onnx"))));
        Assert.Contains("nonzero.onnx", e.Message);
        Assert.Contains("unsupported operator 'NonZero'", e.Message);
        Assert.Contains("/NonZero_0", e.Message);

        var custom = new OnnxModelBuilder().Input("x", Float, 4).Node("Relu", ["x"], ["y"]);
        custom.Graph.Node[0].Domain = "com.microsoft";
        e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(custom.Write(_tmp.File("custom.onnx"))));
        Assert.Contains("com.microsoft.Relu", e.Message);
    }

    [Fact]
    public void HostileNames_GiveOneShortLine()
    {
        string longName = new('n', 10_000);
        var m = new OnnxModelBuilder().Input("x", Float, 4).Node("Add", ["x", "line1\nline2\u0007"], ["y"]).Node("Relu", [longName], ["z"]);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(m.Write(_tmp.File("names.onnx"))));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("line1\\x0Aline2\\x07", e.Message);
        var m2 = new OnnxModelBuilder().Input("x", Float, 4).Node("Relu", [longName], ["z"]);
        e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(m2.Write(_tmp.File("long.onnx"))));
        Assert.True(e.Message.Length < 1000, $"message of {e.Message.Length} characters");
        Assert.Contains("long.onnx", e.Message);
    }

    [Fact]
    public void NodeReadingAMissingTensor_IsReported()
    {
        var m = new OnnxModelBuilder().Input("x", Float, 4).Node("Add", ["x", "ghost"], ["y"]).Output("y", Float, 4);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(m.Write(_tmp.File("dangling.onnx"))));
        Assert.Contains("dangling.onnx", e.Message);
        Assert.Contains("'ghost'", e.Message);
        Assert.Contains("/Add_0", e.Message);
    }

    [Theory]
    [InlineData(-3L, "negative dimension -3")]
    [InlineData(1L << 40, "dimension 1099511627776")]
    public void BadInputDimension_IsReported(long dim, string expected)
    {
        var m = new OnnxModelBuilder().Input("x", Float, 2, dim).Node("Relu", ["x"], ["y"]).Output("y", Float);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(m.Write(_tmp.File("baddim.onnx"))));
        Assert.Contains("baddim.onnx", e.Message);
        Assert.Contains("'x'", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void HugeInitializerAndReshapeDimensions_AreReported()
    {
        var m = new OnnxModelBuilder().Input("x", Float, 2).Initializer(Tensor("w", [1L << 40, 2]))
            .Node("Add", ["x", "w"], ["y"]).Output("y", Float);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(m.Write(_tmp.File("hugeinit.onnx"))));
        Assert.Contains("hugeinit.onnx", e.Message);
        Assert.Contains("initializer 'w'", e.Message);

        var r = new OnnxModelBuilder().Input("x", Float, 4).Initializer(Tensor("t", [2], ints: [-2, -2]))
            .Node("Reshape", ["x", "t"], ["y"]).Output("y", Float);
        e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(r.Write(_tmp.File("negreshape.onnx"))));
        Assert.Contains("negreshape.onnx", e.Message);
        Assert.Contains("Reshape", e.Message);
    }

    [Fact]
    public void TruncatedFile_IsReported()
    {
        var bytes = File.ReadAllBytes(OnnxTestFiles.Graph("resnet18-b32.onnx"));
        foreach (int length in new[] { bytes.Length / 2, bytes.Length - 7, 10 })
        {
            string path = _tmp.File($"truncated-{length}.onnx");
            File.WriteAllBytes(path, bytes[..length]);
            var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path));
            Assert.Contains($"truncated-{length}.onnx", e.Message);
        }
    }

    [Fact]
    public void RandomBytes_AreReported()
    {
        var random = new Random(12345);
        for (int i = 0; i < 20; i++)
        {
            var bytes = new byte[random.Next(1, 5000)];
            random.NextBytes(bytes);
            string path = _tmp.File($"random-{i}.onnx");
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path));
            Assert.Contains($"random-{i}.onnx", e.Message);
        }
    }

    [Fact]
    public void MutatedSampleGraphs_FailOnlyWithGraphFormatErrorsNamingTheFile()
    {
        // Seeded structural mutations of a real export (op types swapped, attribute values set to extremes,
        // operands dropped or rewired, outputs added) and byte corruption: every outcome is a graph or a
        // GraphFormatException naming the file, never another exception.
        var ops = Recompute.Planner.Costs.ShapeInference.SupportedOps.ToArray();
        long[] extremes = [-1, 0, 1, 3, -7, 1L << 40, long.MaxValue, long.MinValue];
        var original = File.ReadAllBytes(OnnxTestFiles.Graph("resnet18-b32-noshapes.onnx"));
        var random = new Random(2024);
        int errors = 0;
        for (int i = 0; i < 100; i++)
        {
            byte[] bytes;
            if (i % 3 == 0)
            {
                bytes = (byte[])original.Clone();
                for (int k = random.Next(1, 6); k > 0; k--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }
            else
            {
                var model = ModelProto.Parser.ParseFrom(original);
                var node = model.Graph.Node[random.Next(model.Graph.Node.Count)];
                switch (random.Next(5))
                {
                    case 0: node.OpType = ops[random.Next(ops.Length)]; break;
                    case 1:
                        if (node.Attribute.Count == 0) goto case 0;
                        var a = node.Attribute[random.Next(node.Attribute.Count)];
                        if (a.Ints.Count > 0) a.Ints[random.Next(a.Ints.Count)] = extremes[random.Next(extremes.Length)];
                        else a.I = extremes[random.Next(extremes.Length)];
                        break;
                    case 2: if (node.Input.Count > 0) node.Input.RemoveAt(random.Next(node.Input.Count)); break;
                    case 3: node.Output.Add("extra"); break;
                    default: if (node.Input.Count > 0) node.Input[random.Next(node.Input.Count)] = model.Graph.Input[random.Next(model.Graph.Input.Count)].Name; break;
                }
                bytes = model.ToByteArray();
            }
            string path = _tmp.File($"mutant-{i}.onnx");
            File.WriteAllBytes(path, bytes);
            try { OnnxImporter.Load(path); }
            catch (GraphFormatException e) { Assert.Contains($"mutant-{i}.onnx", e.Message); errors++; }
        }
        Assert.True(errors > 35, $"most mutants are invalid ({errors} of 100 were rejected)");
    }

    [Theory]
    [InlineData("zip", new byte[] { 0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00 })]
    [InlineData("png", new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52 })]
    [InlineData("json", new byte[] { (byte)'{', (byte)'"', (byte)'n', (byte)'o', (byte)'d', (byte)'e', (byte)'s', (byte)'"', (byte)':',
        (byte)'[', (byte)']', (byte)'}' })]
    public void OtherFormats_AreReported(string kind, byte[] bytes)
    {
        string path = _tmp.File($"wrong-magic-{kind}.onnx");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path));
        Assert.Contains($"wrong-magic-{kind}.onnx", e.Message);
    }

    [Fact]
    public void MissingOrEmptyFile_IsReported()
    {
        var e = Assert.Throws<GraphFormatException>(() => GraphLoader.Load(_tmp.File("absent.onnx")));
        Assert.Contains("absent.onnx", e.Message);
        Assert.Contains("no such file", e.Message);
        string empty = _tmp.File("empty.onnx");
        File.WriteAllBytes(empty, []);
        e = Assert.Throws<GraphFormatException>(() => GraphLoader.Load(empty));
        Assert.Contains("empty.onnx", e.Message);
        string other = _tmp.File("graph.xyz");
        File.WriteAllText(other, "x");
        e = Assert.Throws<GraphFormatException>(() => GraphLoader.Load(other));
        Assert.Contains("graph.xyz", e.Message);
    }

    [Fact]
    public void ModelWithoutOpsetOrGraph_IsReported()
    {
        var noOpset = Mlp();
        noOpset.Model.OpsetImport.Clear();
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(noOpset.Write(_tmp.File("noopset.onnx"))));
        Assert.Contains("noopset.onnx", e.Message);
        Assert.Contains("opset", e.Message);

        var noGraph = new ModelProto { IrVersion = 8 };
        string path = _tmp.File("nograph.onnx");
        File.WriteAllBytes(path, noGraph.ToByteArray());
        e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path));
        Assert.Contains("no graph", e.Message);
    }

    [Fact]
    public void CycleAndDuplicateOutputs_AreReported()
    {
        var cyc = new OnnxModelBuilder().Input("x", Float, 4).Node("Add", ["x", "b"], ["a"]).Node("Relu", ["a"], ["b"]);
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(cyc.Write(_tmp.File("cycle.onnx"))));
        Assert.Contains("cycle", e.Message);
        var dup = new OnnxModelBuilder().Input("x", Float, 4).Node("Relu", ["x"], ["a"]).Node("Neg", ["x"], ["a"]);
        e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(dup.Write(_tmp.File("dup.onnx"))));
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void UnsortedNodes_AreSortedTopologically()
    {
        var m = new OnnxModelBuilder().Input("x", Float, 4).Node("Neg", ["r"], ["n"]).Node("Relu", ["x"], ["r"])
            .Node("ReduceSum", ["n"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        var g = OnnxImporter.Load(m.Write(_tmp.File("unsorted.onnx")));
        Assert.True(g.Find("r").Id < g.Find("n").Id);
    }

    [Fact]
    public void TimeFile_OverridesTheCostModel()
    {
        string path = Mlp().Write(_tmp.File("mlp.onnx"));
        string times = _tmp.File("times.json");
        File.WriteAllText(times, """{ "unit": "ms", "times": { "h": 1.5, "r": 0.25, "/Gemm_2": 2, "loss": 0.125 } }""");
        var g = OnnxImporter.Load(path, new OnnxImportOptions { TimeFile = times });
        Assert.Equal("ms", g.TimeUnit);
        Assert.Equal(1.5, g.Find("h").Time);
        Assert.Equal(2, g.Find("logits").Time); // keyed by the ONNX node name
        Assert.Equal(0.125, g.Find("loss").Time);

        File.WriteAllText(times, """{ "unit": "s", "times": { "h": 1, "r": 1, "logits": 1 } }""");
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path, new OnnxImportOptions { TimeFile = times }));
        Assert.Contains("times.json", e.Message);
        Assert.Contains("'loss'", e.Message);

        File.WriteAllText(times, """{ "times": { "h": 1, "r": 1, "logits": 1, "loss": 1, "hh": 2 } }""");
        e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path, new OnnxImportOptions { TimeFile = times }));
        Assert.Contains("\"hh\"", e.Message);

        File.WriteAllText(times, """{ "times": { "h": -1 } }""");
        e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path, new OnnxImportOptions { TimeFile = times }));
        Assert.Contains("non-negative", e.Message);
    }

    [Fact]
    public void NonPositiveBatch_IsRejected()
    {
        string path = Mlp().Write(_tmp.File("mlp.onnx"));
        var e = Assert.Throws<GraphFormatException>(() => OnnxImporter.Load(path, new OnnxImportOptions { Batch = 0 }));
        Assert.Contains("batch", e.Message);
    }
}
