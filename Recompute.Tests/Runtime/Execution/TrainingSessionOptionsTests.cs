using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Data;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Execution;

public class TrainingSessionOptionsTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(1.0)]
    public void TheDefaultAndAFractionOfOne_TrainStoreAll_RecomputingNothing(double? fraction)
    {
        // Before: dp-approx at 100 % recomputed the ReLUs and a Gemm of this MLP. Store-all's schedule has no
        // recompute step, so every step reports 0 recomputations and the store-all peak.
        var graph = TestModels.Mlp(6, batch: 8, width: 16, classes: 4);
        var session = TrainingSession.Create(graph, new TrainingOptions { BudgetFraction = fraction, Optimizer = new Adam(1e-2), Seed = 2 });
        Assert.Equal("store-all", session.Plan!.Solver.Solver);
        Assert.DoesNotContain(session.Schedule.Steps, s => s.Kind == StepKind.Recompute);
        for (int i = 0; i < 3; i++)
        {
            var r = session.Step();
            Assert.Equal(0, r.Recomputations);
            Assert.Equal(session.Plan.StoreAllPeakBytes, r.PredictedPeakBytes);
            Assert.Equal(r.PredictedPeakBytes, r.MeasuredPeakBytes);
        }
    }

    [Theory]
    [InlineData(1.5)]
    [InlineData(0.0)]
    [InlineData(-0.25)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void AFractionOutsideZeroToOne_IsAnError(double fraction)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TrainingSession.Create(TestModels.Mlp(2), new TrainingOptions { BudgetFraction = fraction }));
        Assert.Contains("BudgetFraction", e.Message);
    }

    [Fact]
    public void BothBudgets_OrANonPositiveByteBudget_AreErrors()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingSession.Create(TestModels.Mlp(2), new TrainingOptions { BudgetFraction = 0.5, BudgetBytes = 1000 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingSession.Create(TestModels.Mlp(2), new TrainingOptions { BudgetBytes = 0 }));
    }

    [Fact]
    public void AGraphWithoutALoss_OrWithANonScalarOne_IsAnError()
    {
        var n = new Net("noloss");
        int x = n.Input("x", [2, 3]);
        int w = n.Param("w", 3, 3);
        n.Op("MatMul", [x, w], [2, 3]);
        var e = Assert.Throws<GraphFormatException>(() => TrainingSession.Create(n.Build(), new TrainingOptions()));
        Assert.Contains("no loss", e.Message);

        var m = new Net("vectorloss");
        int x2 = m.Input("x", [2, 3]);
        int w2 = m.Param("w", 3, 3);
        m.Op("MatMul", [x2, w2], [2, 3], loss: true, name: "loss");
        var e2 = Assert.Throws<GraphFormatException>(() => TrainingSession.Create(m.Build(), new TrainingOptions()));
        Assert.Contains("scalar", e2.Message);
        Assert.Contains("'loss'", e2.Message);
    }

    [Fact]
    public void AnInfeasibleBudget_GivesTheSmallestFeasibleBudget_WhichTrains()
    {
        var graph = TestModels.Mlp(4);
        var e = Assert.Throws<InfeasibleBudgetException>(() => TrainingSession.Create(graph, new TrainingOptions { BudgetBytes = 64 }));
        Assert.NotNull(e.SmallestFeasibleBudgetBytes);
        Assert.Contains($"smallest feasible budget is {e.SmallestFeasibleBudgetBytes}", e.Message);
        var session = TrainingSession.Create(graph, new TrainingOptions { BudgetBytes = e.SmallestFeasibleBudgetBytes });
        var r = session.Step();
        Assert.True(r.MeasuredPeakBytes <= e.SmallestFeasibleBudgetBytes);
        Assert.Equal(r.PredictedPeakBytes, r.MeasuredPeakBytes);
    }

    [Fact]
    public void GraphBuilder_MakesAReluWhoseBackwardReadsItsOutput()
    {
        // The runtime's Relu backward reads its output; the executor refuses a graph that does not keep it.
        ComputationGraph Build(bool needsOutput)
        {
            var b = new GraphBuilder("relu");
            int x = b.Input("x", 4 * 8 * 4, [4, 8]);
            int labels = b.Input("labels", 4 * 8, [4], "int64");
            int w = b.Parameter("w", 8 * 3 * 4, [8, 3]);
            int h = b.Activation("h", "MatMul", [x, w], 4 * 3 * 4, 96, [4, 3]);
            int r = b.Activation("r", "Relu", [h], 4 * 3 * 4, 12, [4, 3], backwardNeeds: [], backwardNeedsOutput: needsOutput);
            b.Loss("loss", "SoftmaxCrossEntropyLoss", [r, labels], 4, 12, []);
            return b.Build();
        }
        var good = Build(true);
        Assert.True(good.Find("r").BackwardNeedsOutput);
        var session = TrainingSession.Create(good, new TrainingOptions { Optimizer = new Adam(1e-2) });
        Assert.Equal(session.Step().PredictedPeakBytes, session.Step().MeasuredPeakBytes);
        var e = Assert.Throws<GraphFormatException>(() => TrainingSession.Create(Build(false), new TrainingOptions()));
        Assert.Contains("own output", e.Message);
    }

    [Fact]
    public void ACancelledStep_LeavesWeightsStepCountAndArenaAsTheyWere()
    {
        var graph = TestModels.Mlp(3);
        var session = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Adam(1e-2) });
        session.Step();
        var before = session.Model.ExportWeights().Arrays.Select(a => a.Floats!.ToArray()).ToList();
        long live = session.Arena.PlannedLiveBytes;
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => session.Step(cts.Token));
        Assert.Equal(1, session.StepsRun);
        Assert.Equal(live, session.Arena.PlannedLiveBytes);
        var after = session.Model.ExportWeights().Arrays.Select(a => a.Floats!).ToList();
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i], after[i]);
        Assert.Equal(2, session.Step().Step);
    }

    [Fact]
    public void Train_ReportsEveryStepToProgress_InOrder()
    {
        var session = TrainingSession.Create(TestModels.Mlp(2), new TrainingOptions { Optimizer = new Adam(1e-2) });
        var seen = new List<int>();
        var results = session.Train(4, progress: new SyncProgress(r => seen.Add(r.Step)));
        Assert.Equal([1, 2, 3, 4], seen);
        Assert.Equal(seen, results.Select(r => r.Step));
    }

    private sealed class SyncProgress(Action<TrainingStepResult> report) : IProgress<TrainingStepResult>
    {
        public void Report(TrainingStepResult value) => report(value);
    }

    [Fact]
    public void NamedArrays_TrainLikeTheSameValuesGivenAsAnArenaBatch()
    {
        var graph = TestModels.Mlp(2, batch: 4, width: 8, classes: 5);
        var a = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Adam(1e-2), Seed = 3 });
        var b = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Adam(1e-2), Seed = 3 });
        using var synthetic = TrainingBatch.Synthetic(graph, a.Arena, 3, 1);
        var x = synthetic[graph.Find("x").Id].Span.ToArray();
        var labels = synthetic[graph.Find("labels").Id].Span.ToArray().Select(v => (long)v).ToArray();
        using var named = b.CreateBatch([NamedArray.Of("x", x, 4, 8), NamedArray.Of("labels", labels, 4)]);
        for (int i = 0; i < 3; i++) Assert.Equal(a.Step(synthetic).Loss, b.Step(named).Loss);
    }

    [Fact]
    public void NamedArrays_WithAWrongName_ShapeOrType_SayWhichAndWhatTheGraphNeeds()
    {
        var graph = TestModels.Mlp(2, batch: 4, width: 8, classes: 5);
        var s = TrainingSession.Create(graph, new TrainingOptions());
        var x = NamedArray.Of("x", new float[32], 4, 8);
        var labels = NamedArray.Of("labels", new long[4], 4);
        string Fail(params NamedArray[] arrays) => Assert.Throws<ArgumentException>(() => s.CreateBatch(arrays)).Message;
        Assert.Contains("no array for input 'labels'", Fail(x));
        Assert.Contains("'images' is not an input", Fail(x, labels, NamedArray.Of("images", new float[1], 1)));
        Assert.Contains("input 'x' of graph 'mlp2' needs float32[4,8]", Fail(NamedArray.Of("x", new float[16], 2, 8), labels));
        Assert.Contains("array 'labels' is float32[4], input 'labels' of graph 'mlp2' needs int64[4]", Fail(x, NamedArray.Of("labels", new float[4], 4)));
        Assert.Equal(0, s.Arena.PlannedLiveBytes);
    }
}
