using Recompute.Planner.Devices;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Execution;
using Recompute.Tests.Support;

namespace Recompute.Tests.Runtime.Execution;

public class OffloadBelowKeepOrRecomputeExecutionTests
{
    /// <summary>
    /// U-Net at batch 1 priced on the H100 profile, at 88,000,000 B: below the smallest keep-or-recompute budget
    /// (no plan of auto fits), above the smallest with offloading. The session trains by the offload plan; the device
    /// arena measures exactly the predicted peak, within the budget, the host arena the predicted host peak, and the
    /// loss and gradients are store-all's.
    /// </summary>
    [Fact]
    public void ABudgetOnlyOffloadingFits_Trains_WithThePredictedPeaks_AndStoreAllGradients()
    {
        const long Budget = 88_000_000;
        var profile = DeviceProfiles.Find("h100-sxm")!;
        var graph = profile.Apply(GraphLoader.Load(Path.Combine(Paths.Graphs, "unet-b8-256.onnx"), new GraphLoadOptions { Batch = 1 }));
        Assert.False(RecomputePlanner.Plan(new PlanningProblem(graph), AutoPortfolio.Name, new SolverOptions { BudgetBytes = Budget }).Feasible);
        var options = new TrainingOptions
        {
            BudgetBytes = Budget, Seed = 5, SyntheticBatches = 1, Optimizer = new Adam(1e-3),
            Offload = new OffloadOptions(profile.HostLink!),
        };
        var report = TrainingRun.Run(graph, options, steps: 1, verify: true);
        var plan = report.Plan;
        Assert.True(plan.Feasible);
        Assert.Equal(OffloadPlanner.Name, plan.Solver.WinningSolver);
        Assert.False(plan.KeepOrRecompute!.Feasible);
        Assert.True(plan.Simulation!.OffloadBytes > 0);
        Assert.True(report.PredictedPeakBytes <= Budget);
        Assert.All(report.Steps, s => Assert.Equal(s.PredictedPeakBytes, s.MeasuredPeakBytes));
        Assert.All(report.Steps, s => Assert.Equal(plan.Simulation.HostPeakBytes, s.MeasuredHostPeakBytes));
        Assert.Equal(report.StoreAllLoss!, report.Steps.Select(s => s.Loss));
        Assert.Equal(0.0, report.MaxGradientDifference);
    }
}
