using Recompute.Planner.Graph;
using Recompute.Runtime.Execution;

namespace Recompute.Tests.Runtime.Execution;

public class TrainingSessionTests
{
    [Fact]
    public void DropoutIsReplayedBitwise_WithinAStep_AndDiffersBetweenSteps()
    {
        var graph = TestModels.Cnn();
        var tg = TrainingGraph.Derive(graph);
        var session = TrainingSession.Create(Schedules.RecomputeAll(tg), new TrainingOptions { Seed = 4 });
        using var batch = TrainingBatch.Synthetic(graph, session.Arena, 4, 1);
        var first = session.ComputeGradients(batch, step: 1);   // recomputes dropout, checked bitwise
        var again = session.ComputeGradients(batch, step: 1);
        var other = session.ComputeGradients(batch, step: 2);
        Assert.True(first.Recomputations > 0);
        Assert.Equal(first.Loss, again.Loss);
        Assert.NotEqual(first.Loss, other.Loss);
    }

    [Fact]
    public void TrainingLearns_AndRecomputationTrainsExactlyLikeStoreAll()
    {
        // A 6-layer MLP memorising one fixed batch with Adam: 40 steps must cut the loss at least 5×, and the
        // recompute-everything schedule must produce the same loss as store-all at every step, bit for bit.
        var graph = TestModels.Mlp(6, batch: 8, width: 16, classes: 4);
        var tg = TrainingGraph.Derive(graph);
        var store = TrainingSession.Create(Schedules.StoreAll(tg), new TrainingOptions { Optimizer = new Adam(1e-2), Seed = 2 });
        var recompute = TrainingSession.Create(Schedules.RecomputeAll(tg), new TrainingOptions { Optimizer = new Adam(1e-2), Seed = 2 });
        using var b1 = TrainingBatch.Synthetic(graph, store.Arena, 2, 1);
        using var b2 = TrainingBatch.Synthetic(graph, recompute.Arena, 2, 1);
        var losses = new List<float>();
        for (int i = 0; i < 40; i++)
        {
            var a = store.Step(b1);
            var b = recompute.Step(b2);
            Assert.Equal(a.Loss, b.Loss);
            Assert.Equal(a.PredictedPeakBytes, a.MeasuredPeakBytes);
            Assert.Equal(b.PredictedPeakBytes, b.MeasuredPeakBytes);
            Assert.True(b.MeasuredPeakBytes < a.MeasuredPeakBytes);
            losses.Add(a.Loss);
        }
        Assert.True(losses[^1] * 5 < losses[0], $"loss went from {losses[0]} to {losses[^1]}");
    }

    [Fact]
    public void SgdWithMomentumLowersTheLoss()
    {
        var graph = TestModels.Cnn(batch: 4);
        var session = TrainingSession.Create(Schedules.StoreAll(TrainingGraph.Derive(graph)), new TrainingOptions { Optimizer = new Sgd(0.05, 0.9), Seed = 3 });
        using var batch = TrainingBatch.Synthetic(graph, session.Arena, 3, 1);
        float first = session.Step(batch).Loss, last = first;
        for (int i = 0; i < 30; i++) last = session.Step(batch).Loss;
        Assert.True(last * 2 < first, $"loss went from {first} to {last}");
    }
}
