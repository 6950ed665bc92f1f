using Google.Protobuf;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Runtime.Data;
using Recompute.Runtime.Execution;
using Recompute.Tests.Import;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Oracle;

public class OnnxWeightsTests
{
    private static float[] Values(int n, float scale) => Enumerable.Range(0, n).Select(i => (float)Math.Sin(i * 0.7 + scale) * scale).ToArray();

    /// <summary>The MLP of <see cref="OnnxModelBuilder.Mlp"/> with its weights as initializers: w1 in raw_data, w2 in
    /// float_data, b2 as external data at offset 8 of <paramref name="location"/>.</summary>
    private static string Model(TempFolder folder, string location = "weights.bin", bool writeData = true)
    {
        var b = new OnnxModelBuilder()
            .Input("x", Float, 4, 8).Input("y", Long, 4)
            .Node("MatMul", ["x", "w1"], ["h"]).Node("Relu", ["h"], ["r"]).Node("Gemm", ["r", "w2", "b2"], ["logits"])
            .Node("SoftmaxCrossEntropyLoss", ["logits", "y"], ["loss"], Str("reduction", "mean"))
            .Output("loss", Float).Output("logits", Float, 4, 5);
        var w1 = new TensorProto { Name = "w1", DataType = Float, RawData = ByteString.CopyFrom(Values(128,
            0.3f).SelectMany(BitConverter.GetBytes).ToArray()) };
        w1.Dims.AddRange([8, 16]);
        b.Initializer(Tensor("w2", [16, 5], floats: Values(80, 0.2f)));
        var b2 = new TensorProto { Name = "b2", DataType = Float, DataLocation = TensorProto.Types.DataLocation.External };
        b2.Dims.Add(5);
        b2.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        b2.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "8" });
        b2.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "20" });
        b.Initializer(w1).Initializer(b2);
        if (writeData) File.WriteAllBytes(folder.File("weights.bin"), [.. new byte[8], .. Values(5, 1f).SelectMany(BitConverter.GetBytes)]);
        return b.Write(folder.File("mlp.onnx"));
    }

    [Fact]
    public void InitializersInlineAndExternal_AreTheInitialWeights_AndTheForwardMatchesOnnxRuntime()
    {
        using var folder = new TempFolder();
        string path = Model(folder);
        var session = TrainingSession.Create(GraphLoader.Load(path), new TrainingOptions { Seed = 1 });
        var w = session.Model.ExportWeights();
        Assert.True(w.TryGet("w1", out var w1) && w1.Floats!.SequenceEqual(Values(128, 0.3f)));
        Assert.True(w.TryGet("w2", out var w2) && w2.Floats!.SequenceEqual(Values(80, 0.2f)));
        Assert.True(w.TryGet("b2", out var b2) && b2.Floats!.SequenceEqual(Values(5, 1f)));

        var inputs = new[] { NamedArray.Of("x", Values(32, 1.5f), 4, 8), NamedArray.Of("y", [0L, 4, 2, 1], 4) };
        using var batch = session.CreateBatch(inputs);
        var ours = session.Evaluate(batch);
        Assert.Equal(["loss", "logits"], ours.Outputs.Select(o => o.Name));
        var ort = OrtOracle.Run(path, inputs);
        Assert.True(Math.Abs(ours.Loss - ort["loss"][0]) <= 1e-4 * Math.Abs(ort["loss"][0]), $"loss {ours.Loss} vs {ort["loss"][0]}");
        Assert.True(OrtOracle.RelativeDifference(ours.Outputs[1].Floats!, ort["logits"]) <= 1e-4);
        // The loss of the first training step is the loss Evaluate gave.
        Assert.Equal(ours.Loss, session.Step(batch).Loss);
    }

    [Fact]
    public void AGraphWithoutWeights_KeepsSeededInitialisation()
    {
        var graph = GraphLoader.Load(OnnxTestFiles.Graph("resnet18-b32.onnx"), new GraphLoadOptions { Batch = 1 });
        Assert.Null(ModelWeights.FromGraphSource(graph));
        var a = TrainingSession.Create(graph, new TrainingOptions { Seed = 4 }).Model.ExportWeights().Arrays.MaxBy(x => x.Length)!;
        var b = TrainingSession.Create(graph, new TrainingOptions { Seed = 4 }).Model.ExportWeights().Arrays.MaxBy(x => x.Length)!;
        Assert.Equal(a.Floats, b.Floats);
        Assert.Contains(a.Floats!, v => v != 0);
    }

    [Theory]
    [InlineData("../weights.bin", "outside the model's folder")]
    [InlineData("/etc/passwd", "outside the model's folder")]
    [InlineData("link.bin", "goes through a link")]
    [InlineData("missing.bin", "not found beside the model")]
    public void ExternalDataOutsideTheModelsFolder_IsRefused(string location, string expected)
    {
        using var folder = new TempFolder();
        string path = Model(folder, location);
        if (location == "link.bin") File.CreateSymbolicLink(folder.File("link.bin"), folder.File("weights.bin"));
        var e = Assert.Throws<GraphFormatException>(() => ModelWeights.FromOnnx(path));
        Assert.Contains("initializer 'b2'", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
