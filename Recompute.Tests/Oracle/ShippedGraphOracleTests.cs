using Recompute.Planner.Import;
using Recompute.Runtime.Data;
using Recompute.Runtime.Execution;
using Recompute.Tests.Import;

namespace Recompute.Tests.Oracle;

/// <summary>
/// The forward pass of every shipped ONNX graph, with weights from a seed written into the file, through ONNX Runtime
/// and through Recompute's runtime on the same inputs: loss and outputs agree within 1e-4 relative.
/// </summary>
public class ShippedGraphOracleTests
{
    [Trait("Category", "Slow")]
    [Theory]
    [InlineData("resnet18-b32.onnx", 1)]
    [InlineData("resnet18-b32-noshapes.onnx", 2)]
    [InlineData("resnet50-b64.onnx", 1)]
    [InlineData("vgg16-b32.onnx", 1)]
    [InlineData("mobilenetv2-b64.onnx", 1)]
    [InlineData("unet-b8-256.onnx", 1)]
    [InlineData("gpt2-2l-t128.onnx", 1)]
    public void Forward_AgreesWithOnnxRuntime(string file, int batch)
    {
        var graph = GraphLoader.Load(OnnxTestFiles.Graph(file), new GraphLoadOptions { Batch = batch });
        var seeded = TrainingSession.Create(graph, new TrainingOptions { Seed = 5 });
        using var folder = new TempFolder();
        string saved = folder.File("seeded.onnx");
        seeded.SaveOnnx(saved);
        // ONNX Runtime draws its own dropout masks: both sides run with dropout off (training_mode false);
        // BatchNormalization stays in training mode (batch statistics) on both.
        int dropouts = OracleModels.DisableDropout(saved);
        Assert.Equal(graph.Nodes.Count(n => n.Op == "Dropout" && n.OutputIndex == 0), dropouts);

        // The saved file's initializers are the weights of a session that loads it, bit for bit.
        var loaded = GraphLoader.Load(saved);
        var session = TrainingSession.Create(loaded, new TrainingOptions { Seed = 99 });
        var got = session.Model.ExportWeights();
        foreach (var w in seeded.Model.ExportWeights().Arrays)
        {
            Assert.True(got.TryGet(w.Name, out var a), $"no weight '{w.Name}' in the loaded model");
            Assert.True(a.Floats.AsSpan().SequenceEqual(w.Floats), $"weight '{w.Name}' changed in the round trip");
        }

        var inputs = SyntheticArrays(session);
        using var tb = session.CreateBatch(inputs);
        var ours = session.Evaluate(tb);
        var ort = OrtOracle.Run(saved, inputs);
        Assert.NotEmpty(ours.Outputs);
        Assert.True(float.IsFinite(ours.Loss) && ours.Loss > 0, $"loss {ours.Loss}");
        var lossName = session.Graph.Nodes.Single(n => n.Kind == Recompute.Planner.Graph.NodeKind.Loss).Name;
        Assert.True(ort.TryGetValue(lossName, out var ortLoss), $"ONNX Runtime computed no '{lossName}'");
        Assert.True(Math.Abs(ours.Loss - ortLoss[0]) <= 1e-4 * Math.Abs(ortLoss[0]), $"{file}: loss {ours.Loss} here, {ortLoss[0]} in ONNX Runtime");
        foreach (var o in ours.Outputs)
        {
            Assert.True(ort.ContainsKey(o.Name), $"ONNX Runtime has no output '{o.Name}'");
            double d = OrtOracle.RelativeDifference(o.Floats!, ort[o.Name]);
            Assert.True(d <= 1e-4, $"{file}: output '{o.Name}' differs by {d:G3} relative");
        }
    }

    private static List<NamedArray> SyntheticArrays(TrainingSession session)
    {
        using var b = TrainingBatch.Synthetic(session.Graph, session.Arena, 9, 1);
        var arrays = new List<NamedArray>();
        foreach (var n in session.Graph.Nodes.Where(n => n.Kind == Recompute.Planner.Graph.NodeKind.Input))
        {
            var t = b[n.Id];
            arrays.Add(Recompute.Planner.Costs.ElementTypes.IsIntegral(n.DType)
                ? NamedArray.Of(n.Name, t.Span.ToArray().Select(v => (long)v).ToArray(), t.Shape)
                : NamedArray.Of(n.Name, t.Span.ToArray(), t.Shape));
        }
        return arrays;
    }
}
