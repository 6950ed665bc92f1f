using Google.Protobuf;
using Recompute.Planner.Import;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Models;
using Recompute.Tests.Import;
using Recompute.Tests.Runtime.Models;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>
/// BatchNormalization in training mode computes the updated running mean and variance (its outputs 1 and 2); each
/// training step writes them into the running-statistics parameters, so <c>--save</c> and checkpoints hold them.
/// </summary>
public class RunningStatisticsTests
{
    private static readonly string[] Statistics = ["bn0.running_mean", "bn0.running_var", "bn1.running_mean", "bn1.running_var"];

    private static float[] Weight(ModelWeights weights, string name) => Assert.IsType<float[]>(weights.Arrays.Single(a => a.Name == name).Floats);

    [Fact]
    public void EachStep_WritesTheRunningStatisticsItsForwardPassComputed()
    {
        var session = TrainingSession.Create(ModelBuilderTests.ConvNet(), new TrainingOptions { Optimizer = new Adam(1e-2), Seed = 4 });
        for (int step = 0; step < 2; step++)
        {
            // What the next step's forward pass computes for outputs 1 and 2 is what the parameters hold after it.
            var expected = session.Evaluate(outputs: [.. Statistics.Select(s => s + "_out")]).Outputs;
            var before = session.Model.ExportWeights();
            session.Step();
            var after = session.Model.ExportWeights();
            for (int i = 0; i < Statistics.Length; i++)
            {
                Assert.Equal(expected[i].Floats, Weight(after, Statistics[i]));
                Assert.NotEqual(Weight(before, Statistics[i]), Weight(after, Statistics[i]));
            }
        }
        // Momentum 0.9 from a mean of 0 and a variance of 1: after one step mean = 0.1·batch mean, variance = 0.9 + 0.1·batch variance.
        var fresh = TrainingSession.Create(ModelBuilderTests.ConvNet(), new TrainingOptions { Seed = 4 });
        fresh.Step();
        Assert.All(Weight(fresh.Model.ExportWeights(), "bn0.running_var"), v => Assert.True(v > 0.9f, $"running variance {v}"));
    }

    [Fact]
    public void SaveOnnx_WritesTheUpdatedRunningStatistics()
    {
        using var dir = new TempFolder();
        string file = dir.File("convnet.onnx"), saved = dir.File("trained.onnx");
        File.WriteAllBytes(file, SampleOnnx.ToModel(ModelBuilderTests.ConvNet()).ToByteArray());
        var session = TrainingSession.Create(GraphLoader.Load(file), new TrainingOptions { Seed = 4 });
        session.Train(2);
        session.SaveOnnx(saved);
        var reloaded = ModelWeights.FromOnnx(saved)!;
        var trained = session.Model.ExportWeights();
        foreach (var name in Statistics) Assert.Equal(Weight(trained, name), Weight(reloaded, name));
        Assert.NotEqual(0f, Weight(reloaded, "bn0.running_mean").Select(Math.Abs).Max());
    }
}
