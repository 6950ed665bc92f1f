using Recompute.Planner.Graph;
using Recompute.Runtime.Execution;
using Recompute.Tests.Import;

namespace Recompute.Tests.Runtime.Execution;

public class CheckpointTests
{
    private static List<float[]> Weights(TrainingSession s) => s.Model.ExportWeights().Arrays.Select(a => a.Floats!).ToList();

    [Trait("Category", "Slow")]
    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    [InlineData("adamw")]
    public void Resume_ContinuesBitForBit_AsIfNeverStopped(string optimizer)
    {
        // A GPT with dropout (the mask of each step derives from the seed and the step), planned at 60 %, four synthetic
        // batches cycled: 6 steps straight must equal 3 steps, a checkpoint, a new session loading it, and 3 more.
        IOptimizer Make() => optimizer switch
        {
            "adam" => new Adam(1e-2),
            "sgd" => new Sgd(0.05, 0.9) { Schedule = LearningRateSchedule.Cosine(0.05, 6) },
            _ => new AdamW(1e-2, 0.1) { Schedule = LearningRateSchedule.Constant(1e-2).WithWarmup(2) },
        };
        var graph = TestModels.Gpt(layers: 2);
        // A 1 s limit: auto's counted work, so every session plans the same schedule, in a fifth of the default's time.
        TrainingOptions Options() => new() { BudgetFraction = 0.6, SolverTimeLimit = TimeSpan.FromSeconds(1), Optimizer = Make(), Seed = 8, SyntheticBatches = 4, MaxGradientNorm = 1.0 };
        var straight = TrainingSession.Create(graph, Options());
        var expected = straight.Train(6).Select(r => r.Loss).ToList();

        using var folder = new TempFolder();
        var first = TrainingSession.Create(graph, Options());
        var losses = first.Train(3).Select(r => r.Loss).ToList();
        first.SaveCheckpoint(folder.File("ckpt.npz"));
        var resumed = TrainingSession.Create(graph, Options() with { Seed = 1234 }); // the checkpoint's seed wins
        resumed.LoadCheckpoint(folder.File("ckpt.npz"));
        Assert.Equal(3, resumed.StepsRun);
        foreach (var r in resumed.Train(3))
        {
            losses.Add(r.Loss);
            Assert.Equal(r.PredictedPeakBytes, r.MeasuredPeakBytes);
            Assert.True(r.Recomputations > 0);
        }
        Assert.Equal(expected, losses);
        var a = Weights(straight); var b = Weights(resumed);
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].AsSpan().SequenceEqual(b[i]), $"weight #{i} differs after resuming");
    }

    [Fact]
    public void ACheckpointOfAnotherOptimizerOrGraph_IsRefusedWithAReason()
    {
        using var folder = new TempFolder();
        var adam = TrainingSession.Create(TestModels.Mlp(2), new TrainingOptions { Optimizer = new Adam(1e-2) });
        adam.Train(1);
        adam.SaveCheckpoint(folder.File("adam.npz"));
        var sgd = TrainingSession.Create(TestModels.Mlp(2), new TrainingOptions { Optimizer = new Sgd(0.1) });
        var e = Assert.Throws<GraphFormatException>(() => sgd.LoadCheckpoint(folder.File("adam.npz")));
        Assert.Contains("not SGD's", e.Message);
        var other = TrainingSession.Create(TestModels.Mlp(3), new TrainingOptions { Optimizer = new Adam(1e-2) });
        var e2 = Assert.Throws<GraphFormatException>(() => other.LoadCheckpoint(folder.File("adam.npz")));
        Assert.Contains("no weight for parameter", e2.Message);
    }

    [Fact]
    public void Schedules_GiveTheDocumentedRates()
    {
        // Step decay 0.1 × 0.5 every 2 steps: 0.1, 0.1, 0.05, 0.05, 0.025.
        var step = LearningRateSchedule.StepDecay(0.1, 2, 0.5);
        Assert.Equal([0.1, 0.1, 0.05, 0.05, 0.025], Enumerable.Range(1, 5).Select(step.At));
        // Cosine from 1 to 0 over 3 steps: 1, 0.5 (cos π/2 = 0), 0.
        var cos = LearningRateSchedule.Cosine(1, 3);
        Assert.Equal(1.0, cos.At(1), 12); Assert.Equal(0.5, cos.At(2), 12); Assert.Equal(0.0, cos.At(3), 12);
        // Warm-up over 4 steps to a constant 0.2: 0.05, 0.1, 0.15, 0.2, then 0.2.
        var warm = LearningRateSchedule.Constant(0.2).WithWarmup(4);
        Assert.Equal([0.05, 0.1, 0.15, 0.2, 0.2], Enumerable.Range(1, 5).Select(s => Math.Round(warm.At(s), 12)));
    }

    [Fact]
    public void Clipping_ScalesTheGradientToTheMaximumNorm()
    {
        // With a learning rate of 1, momentum 0 and the gradient clipped to norm 1e-3, the weights move by exactly the
        // clipped gradient: ‖Δw‖ = 1e-3 (to float rounding), far below the unclipped gradient norm.
        var graph = TestModels.Mlp(2);
        var probe = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Sgd(1, 0), Seed = 3 });
        using var b0 = TrainingBatch.Synthetic(graph, probe.Arena, 3, 1);
        probe.ComputeGradients(b0);
        double norm = probe.GradientNorm();
        Assert.True(norm > 1e-2, $"gradient norm {norm}");
        var s = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Sgd(1, 0), Seed = 3, MaxGradientNorm = 1e-3 });
        var before = Weights(s);
        s.Step();
        var after = Weights(s);
        double moved = Math.Sqrt(before.Zip(after).Sum(p => p.First.Zip(p.Second).Sum(q => (double)(q.First - q.Second) * (q.First - q.Second))));
        Assert.InRange(moved, 0.999e-3, 1.001e-3);
    }

    [Fact]
    public void AdamW_DecaysWeightsApartFromTheAdaptiveStep()
    {
        // One step from the same weights and gradient: Adam (no decay) gives w' = w0 − step, AdamW gives
        // (w0 − lr·wd·w0) − step with the same step (the decay does not enter the moments), so
        // w_AdamW = w' − 0.1·0.5·w0 to float rounding. L2 decay in Adam (not decoupled) differs from both.
        var graph = TestModels.Mlp(1);
        TrainingSession Run(IOptimizer o) { var s = TrainingSession.Create(graph, new TrainingOptions { Optimizer = o,
            Seed = 2 }); s.Step(); return s; }
        var w0 = Weights(TrainingSession.Create(graph, new TrainingOptions { Seed = 2 }));
        var adam = Weights(Run(new Adam(0.1)));
        var adamw = Weights(Run(new AdamW(0.1, weightDecay: 0.5)));
        var l2 = Weights(Run(new Adam(0.1) { WeightDecay = 0.5 }));
        double worst = 0, l2Gap = 0;
        for (int i = 0; i < w0.Count; i++)
            for (int j = 0; j < w0[i].Length; j++)
            {
                worst = Math.Max(worst, Math.Abs(adamw[i][j] - (adam[i][j] - 0.05 * w0[i][j])));
                l2Gap = Math.Max(l2Gap, Math.Abs(l2[i][j] - adamw[i][j]));
            }
        Assert.True(worst < 1e-6, $"AdamW differs from Adam − lr·wd·w by {worst}");
        Assert.True(l2Gap > 1e-3, "L2 decay should not equal decoupled decay");
        Assert.True(((Adam)new AdamW(0.1, 0.2).Fresh()).DecoupledWeightDecay);
    }
}
