using Recompute.Planner.Devices;
using Recompute.Planner.Import;
using Recompute.Tests.Support;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Execution;

namespace Recompute.Tests.Runtime.Execution;

public class OffloadExecutionTests
{
    /// <summary>
    /// ResNet-18 at batch 2 priced on the H100 profile, at 55 % of store-all, with a link fast enough that every copy hides
    /// behind compute: the plan offloads instead of recomputing, the device arena measures exactly the predicted peak,
    /// the host arena the predicted host peak, and the loss and gradients are store-all's, bit for bit.
    /// </summary>
    [Fact]
    public void OffloadedValues_CopiedToTheHostAndBack_GiveStoreAllGradients_AndThePredictedPeaks()
    {
        var graph = DeviceProfiles.Find("h100-sxm")!.Apply(GraphLoader.Load(Path.Combine(Paths.Graphs, "resnet18-b32.onnx"), new GraphLoadOptions { Batch = 2 }));
        var options = new TrainingOptions
        {
            BudgetFraction = 0.55, Seed = 3, SyntheticBatches = 1, Optimizer = new Adam(1e-3),
            Offload = new OffloadOptions(new HostLink(1e12, 0)),
        };
        var report = TrainingRun.Run(graph, options, steps: 2, verify: true);
        var plan = report.Plan;
        Assert.True(plan.Feasible);
        Assert.True(plan.Schedule!.HasTransfers);
        Assert.Equal(OffloadPlanner.Name, plan.Solver.WinningSolver);
        Assert.True(plan.Simulation!.OffloadBytes > 0);
        Assert.True(plan.Simulation.StepSeconds <= plan.KeepOrRecompute!.Simulation!.StepSeconds);
        Assert.True(report.PredictedPeakBytes <= 0.55 * plan.StoreAllPeakBytes);
        Assert.All(report.Steps, s => Assert.Equal(s.PredictedPeakBytes, s.MeasuredPeakBytes));
        Assert.All(report.Steps, s => Assert.Equal(plan.Simulation.HostPeakBytes, s.MeasuredHostPeakBytes));
        Assert.Equal(report.StoreAllLoss!, report.Steps.Select(s => s.Loss));
        Assert.Equal(0.0, report.MaxGradientDifference);
        // The live bytes after every step are the simulator's, transfers included.
        var run = report.Session!.LastExecution!;
        var predicted = Simulator.Simulate(plan.Schedule).LiveBytes;
        Assert.Equal(predicted.Length, run.LiveBytes.Length);
        int first = Enumerable.Range(0, predicted.Length).FirstOrDefault(i => predicted[i] != run.LiveBytes[i], -1);
        Assert.True(first < 0, first < 0 ? "" : $"step {first} {plan.Schedule.Steps[first]} {plan.Schedule.Training.Tasks[plan.Schedule.Steps[first].Task].Name}: predicted {predicted[first]}, measured {run.LiveBytes[first]}; previous {plan.Schedule.Steps[first-1]}");
    }
}
