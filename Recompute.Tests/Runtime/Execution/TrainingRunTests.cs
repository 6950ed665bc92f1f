using Recompute.Runtime.Execution;

namespace Recompute.Tests.Runtime.Execution;

public class TrainingRunTests
{
    [Fact]
    public void AtFortyPercentOfStoreAll_LossFallsFourfold_IdenticallyToStoreAllTraining()
    {
        // A 5-block GPT (dropout on) fitting a fixed batch with Adam, planned by dp-approx at 40% of the store-all
        // peak, trained in lockstep with a store-all twin: same loss at every step, same gradients, loss down 4×.
        var graph = TestModels.Gpt(layers: 5);
        var options = new TrainingOptions { BudgetFraction = 0.4, Solver = "dp-approx", Optimizer = new Adam(1e-2), Seed = 6, SyntheticBatches = 1 };
        var report = TrainingRun.Run(graph, options, steps: 40, verify: true);
        Assert.True(report.Plan.Feasible);
        Assert.True(report.PredictedPeakBytes <= 0.4 * report.Plan.StoreAllPeakBytes);
        Assert.Equal(report.PredictedPeakBytes, report.MeasuredPeakBytes);
        Assert.All(report.Steps, s => Assert.Equal(s.PredictedPeakBytes, s.MeasuredPeakBytes));
        Assert.All(report.Steps, s => Assert.True(s.Recomputations > 0));
        Assert.Equal(report.StoreAllLoss!, report.Steps.Select(s => s.Loss));
        Assert.Equal(0.0, report.MaxGradientDifference);
        float first = report.Steps[0].Loss, last = report.Steps[^1].Loss;
        Assert.True(last * 4 < first, $"loss went from {first} to {last}");
    }

    /// <summary>
    /// The step means leave out the first step when there are several (it warms the kernels up before the store-all
    /// twin's first step, which would charge that to the plan), and they cover the same steps for both.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void StepMeans_LeaveOutTheWarmupStep_WhenThereAreSeveral(int steps)
    {
        var options = new TrainingOptions { BudgetFraction = 0.8, Solver = "dp-approx", Seed = 1, SyntheticBatches = 1 };
        var report = TrainingRun.Run(TestModels.Gpt(layers: 1), options, steps, verify: true);
        int warmup = steps > 1 ? 1 : 0;
        Assert.Equal(warmup, report.WarmupSteps);
        Assert.Equal(report.Steps.Skip(warmup).Average(s => s.Seconds), report.StepSeconds, 12);
        Assert.NotNull(report.StoreAllStepSeconds);
        Assert.True(report.StoreAllStepSeconds > 0);
    }

    [Fact]
    public void AnInfeasibleBudgetSaysWhy()
    {
        var e = Assert.Throws<InfeasibleBudgetException>(() =>
            TrainingSession.Create(TestModels.Mlp(4), new TrainingOptions { BudgetBytes = 64 }));
        Assert.Contains("64", e.Message);
        Assert.False(e.Plan.Feasible);
    }
}
