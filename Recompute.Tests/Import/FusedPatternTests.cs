using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Import;

/// <summary>
/// The importer plans an export's decomposed LayerNorm and GELU as the fused ops (FusedPatterns), and leaves them
/// decomposed when one edge differs or an intermediate is needed elsewhere; Dropout follows ONNX's training_mode.
/// </summary>
public sealed class FusedPatternTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>x = Relu(input) so that x is planned; then the pattern; loss = ReduceSum(y).</summary>
    private static OnnxModelBuilder Around(Func<OnnxModelBuilder, OnnxModelBuilder> body, long width = 8) =>
        body(new OnnxModelBuilder().Input("input", Float, 2, 3, width).Input("other", Float, 2, 3, width)
                .Initializer(Tensor("scale", [width], floats: Enumerable.Repeat(1f, (int)width).ToArray()))
                .Initializer(Tensor("bias", [width], floats: new float[width]))
                .Node("Relu", ["input"], ["x"]).Node("Relu", ["other"], ["x2"]))
            .Node("ReduceSum", ["y"], ["loss"], Int("keepdims", 0)).Output("loss", Float);

    private ComputationGraph Load(OnnxModelBuilder b, bool fuse = true) =>
        OnnxImporter.Load(b.Write(_tmp.File($"g{Guid.NewGuid():N}.onnx")), new OnnxImportOptions { FusePatterns = fuse });

    [Fact]
    public void LayerNorm_AsPyTorchExportsIt_IsOneLayerNormalization_ThatKeepsItsInputAndTwoStatistics()
    {
        var g = Load(Around(b => b.LayerNorm("x", "scale", "bias", "y", "ln")));
        var y = g.Find("y");
        Assert.Equal("LayerNormalization", y.Op);
        Assert.Equal([g.Find("x").Id, g.Find("scale").Id, g.Find("bias").Id], y.Inputs.ToArray());
        Assert.Equal(1e-5, y.AttributeDouble("epsilon", 0), 9);
        // Output 1 is the per-row mean under the ReduceMean's name; output 2 the reciprocal standard deviation.
        var mean = g.Find("ln.mean");
        var inv = g.Find("ln.std_reciprocal");
        Assert.Equal(("LayerNormalization", 1, 2 * 3 * 4L), (mean.Op, mean.OutputIndex, mean.Bytes));
        Assert.Equal(("LayerNormalization", 2, 2 * 3 * 4L), (inv.Op, inv.OutputIndex, inv.Bytes));
        foreach (var gone in new[] { "ln.centered", "ln.square", "ln.variance", "ln.std", "ln.normalized", "ln.scaled" })
            Assert.False(g.TryFind(gone, out _), gone);

        // The gradient of x reads x, the two statistics and grad(y): nothing of the decomposed intermediates.
        var tg = TrainingGraph.Derive(g);
        int F(string name) => tg.ForwardTaskOf(g.Find(name).Id);
        var reads = tg.Tasks[tg.GradTaskOf(g.Find("x").Id)].Inputs;
        Assert.Equal(new[] { F("x"), F("ln.mean"), F("ln.std_reciprocal"), tg.GradTaskOf(y.Id) }.Order(), reads);
    }

    [Fact]
    public void LayerNorm_WhoseSubReadsAnotherTensor_StaysDecomposed()
    {
        var g = Load(Around(b => b.LayerNorm("x", "scale", "bias", "y", "ln", subReads: "x2")));
        Assert.Equal("Add", g.Find("y").Op);
        Assert.Equal("Sub", g.Find("ln.centered").Op);
        Assert.DoesNotContain(g.Nodes, n => n.Op == "LayerNormalization");
    }

    [Theory]
    [InlineData("ln.normalized")]
    [InlineData("ln.centered")]
    [InlineData("ln.mean")]
    public void LayerNorm_WithAnIntermediateReadElsewhere_StaysDecomposed(string intermediate)
    {
        // The intermediate must exist for its other reader, so nothing of the pattern is fused.
        var g = Load(Around(b => b.LayerNorm("x", "scale", "bias", "y", "ln").Node("Neg", [intermediate], ["elsewhere"])));
        Assert.Equal("Add", g.Find("y").Op);
        Assert.DoesNotContain(g.Nodes, n => n.Op == "LayerNormalization");
        Assert.Equal("Div", g.Find("ln.normalized").Op);
    }

    [Fact]
    public void LayerNorm_AsAGraphOutput_OrWithAScaleOfAnotherShape_StaysDecomposed()
    {
        var g = Load(Around(b => b.LayerNorm("x", "scale", "bias", "y", "ln")).Output("ln.std", Float, 2, 3, 1));
        Assert.DoesNotContain(g.Nodes, n => n.Op == "LayerNormalization");
        // A scale of shape [2, 3, 8] broadcasts in the Mul but is not one value per feature.
        g = Load(Around(b => b.Initializer(Tensor("full", [2, 3, 8], floats: new float[48])).LayerNorm("x", "full", "bias", "y", "ln")));
        Assert.DoesNotContain(g.Nodes, n => n.Op == "LayerNormalization");
    }

    [Fact]
    public void LayerNorm_WithFusionOff_IsPlannedAsWritten()
    {
        var g = Load(Around(b => b.LayerNorm("x", "scale", "bias", "y", "ln")), fuse: false);
        Assert.Equal("Add", g.Find("y").Op);
        Assert.Equal("Pow", g.Find("ln.square").Op);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gelu_ErfForm_IsOneGelu_ThatKeepsItsInput(bool halfFirst)
    {
        var g = Load(Around(b => b.GeluErf("x", "y", "gelu", halfFirst: halfFirst)));
        var y = g.Find("y");
        Assert.Equal("Gelu", y.Op);
        Assert.Equal([g.Find("x").Id], y.Inputs.ToArray());
        Assert.Null(y.Attribute<string>("approximate"));
        Assert.DoesNotContain(g.Nodes, n => n.Op is "Erf" or "Mul" or "Div");
        var tg = TrainingGraph.Derive(g);
        Assert.Equal(new[] { tg.ForwardTaskOf(g.Find("x").Id), tg.GradTaskOf(y.Id) }.Order(), tg.Tasks[tg.GradTaskOf(g.Find("x").Id)].Inputs);
    }

    [Fact]
    public void Gelu_TanhForm_IsOneGeluWithTheApproximation()
    {
        var y = Load(Around(b => b.GeluTanh("x", "y", "gelu"))).Find("y");
        Assert.Equal("Gelu", y.Op);
        Assert.Equal("tanh", y.Attribute<string>("approximate"));
    }

    [Fact]
    public void Gelu_WithAnotherConstant_OrAnIntermediateReadElsewhere_StaysDecomposed()
    {
        var g = Load(Around(b => b.GeluErf("x", "y", "gelu", half: 0.6f)));
        Assert.Equal("Mul", g.Find("y").Op);
        Assert.Equal("Erf", g.Find("gelu.erf").Op);
        g = Load(Around(b => b.GeluErf("x", "y", "gelu").Node("Neg", ["gelu.erf"], ["elsewhere"])));
        Assert.Equal("Mul", g.Find("y").Op);
        Assert.DoesNotContain(g.Nodes, n => n.Op == "Gelu");
    }

    [Fact]
    public void ShippedGpt2_HasEveryLayerNormAndGeluFused()
    {
        var g = GraphLoader.Load(OnnxTestFiles.Graph("gpt2-2l-t128.onnx"));
        // Two blocks of two LayerNorms and one GELU each, and the final LayerNorm.
        Assert.Equal(5, g.Nodes.Count(n => n.Op == "LayerNormalization" && n.OutputIndex == 0));
        Assert.Equal(2, g.Nodes.Count(n => n.Op == "Gelu"));
        Assert.DoesNotContain(g.Nodes, n => n.Op is "Erf" or "Pow" or "Sqrt");
    }

    private static OnnxModelBuilder WithDropout(params string[] operands) => new OnnxModelBuilder().Input("input", Float, 4, 10)
        .Node("Relu", ["input"], ["x"])
        .Node("Constant", [], ["ratio"], TensorAttr("value", Tensor("ratio_v", [], floats: [0.1f])))
        .Node("Constant", [], ["on"], TensorAttr("value", BoolScalar("on_v", 1)))
        .Node("Constant", [], ["off"], TensorAttr("value", BoolScalar("off_v", 0)))
        .Node("Dropout", operands, ["d"]).Node("Relu", ["d"], ["y"])
        .Node("ReduceSum", ["y"], ["loss"], Int("keepdims", 0)).Output("loss", Float);

    private static Recompute.Planner.Import.Onnx.Proto.TensorProto BoolScalar(string name, int value)
    {
        var t = new Recompute.Planner.Import.Onnx.Proto.TensorProto { Name = name, DataType = Bool };
        t.Int32Data.Add(value);
        return t;
    }

    [Fact]
    public void Dropout_InTrainingMode_KeepsItsOneByteMask_ForTheBackward()
    {
        var g = Load(WithDropout("x", "ratio", "on"));
        var mask = g.Find("d_mask");
        Assert.Equal(("Dropout", 1, "bool", 40L), (mask.Op, mask.OutputIndex, mask.DType, mask.Bytes));
        var tg = TrainingGraph.Derive(g);
        // grad(x) reads the mask (and Relu's output x for Relu's own backward is grad(input)'s business): not d, not x.
        Assert.Equal(new[] { tg.ForwardTaskOf(mask.Id), tg.GradTaskOf(g.Find("d").Id) }.Order(), tg.Tasks[tg.GradTaskOf(g.Find("x").Id)].Inputs);
    }

    [Theory]
    [InlineData("x", "ratio")]
    [InlineData("x", "ratio", "off")]
    public void Dropout_WithoutTrainingMode_IsTheIdentity_AView(params string[] operands)
    {
        var g = Load(WithDropout(operands));
        Assert.False(g.TryFind("d_mask", out _));
        var tg = TrainingGraph.Derive(g);
        var d = g.Find("d");
        Assert.NotNull(tg.ViewOf(d.Id));
        Assert.Equal(0, tg.Tasks[tg.ForwardTaskOf(d.Id)].Bytes);
    }
}
