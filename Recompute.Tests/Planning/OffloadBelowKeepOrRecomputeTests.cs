using Recompute.Planner.Devices;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>Budgets below the smallest keep-or-recompute budget that only offloading makes feasible.</summary>
public class OffloadBelowKeepOrRecomputeTests
{
    private static PlanningProblem UNet() =>
        new(DeviceProfiles.Find("h100-sxm")!.Apply(GraphLoader.Load(Path.Combine(Paths.Graphs, "unet-b1-64.json"))));

    private static OffloadOptions Offload => new(DeviceProfiles.Find("h100-sxm")!.HostLink!);

    /// <summary>
    /// On U-Net (skip connections: recomputing a skip tensor in backward needs its inputs beside the decoder's
    /// gradients) the smallest budget with offloading is below the smallest keep-or-recompute budget and not below the
    /// largest step; the plan there moves values to the host, the simulator accepts it within the budget, and a budget
    /// between the two plans with offloading alone. dp-approx keeps the test short.
    /// </summary>
    [Fact]
    public void SmallestBudgetWithOffload_IsBelowKeepOrRecompute_AndPlans()
    {
        var problem = UNet();
        var options = new SolverOptions();
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes;
        var found = OffloadPlanner.MinMemory(problem, SolverName.DpApprox, options, Offload);
        Assert.NotNull(found);
        var (min, keepOrRecompute) = found.Value;
        Assert.Equal(SmallestBudget.Find(problem, SolverName.DpApprox, options)!.BudgetBytes, keepOrRecompute);
        Assert.True(min.MinBudgetBytes < keepOrRecompute, $"offload {min.MinBudgetBytes} vs keep-or-recompute {keepOrRecompute}");
        Assert.True(min.MinBudgetBytes >= floor);
        var plan = min.Plan;
        Assert.True(plan.Feasible);
        Assert.Equal(OffloadPlanner.Name, plan.Solver.WinningSolver);
        Assert.True(plan.Schedule!.HasTransfers);
        // The simulator is the judge: it replays the schedule under the budget and rejects any broken rule.
        var sim = Simulator.Simulate(plan.Schedule with { BudgetBytes = min.MinBudgetBytes });
        Assert.True(sim.PeakBytes <= min.MinBudgetBytes);
        Assert.True(sim.OffloadBytes > 0 && sim.HostPeakBytes > 0);

        // No keep-or-recompute plan fits between the two; with offloading one does.
        long between = (min.MinBudgetBytes + keepOrRecompute) / 2;
        var at = OffloadPlanner.Plan(problem, SolverName.DpApprox, options with { BudgetBytes = between }, Offload);
        Assert.True(at.Feasible, at.Solver.Reason);
        Assert.False(at.KeepOrRecompute!.Feasible);
        Assert.True(at.Schedule!.HasTransfers);
        Assert.True(Simulator.Simulate(at.Schedule).PeakBytes <= between);

        // Below the largest step nothing plans, offloading or not.
        Assert.False(OffloadPlanner.Plan(problem, SolverName.DpApprox, options with { BudgetBytes = floor - 1 }, Offload).Feasible);
    }

    /// <summary>The search is counted work: the same input gives the same smallest budget and the same schedule, step for step.</summary>
    [Fact]
    public void SmallestBudgetWithOffload_IsDeterministic()
    {
        var problem = UNet();
        var options = new SolverOptions();
        var a = OffloadPlanner.MinMemory(problem, SolverName.DpApprox, options, Offload)!.Value.Found;
        var b = OffloadPlanner.MinMemory(UNet(), SolverName.DpApprox, options, Offload)!.Value.Found;
        Assert.Equal(a.MinBudgetBytes, b.MinBudgetBytes);
        var (x, y) = (a.Plan.Schedule!.Steps, b.Plan.Schedule!.Steps);
        int first = Enumerable.Range(0, Math.Min(x.Length, y.Length)).FirstOrDefault(i => x[i] != y[i], -1);
        Assert.True(first < 0 && x.Length == y.Length, $"{x.Length} vs {y.Length} steps; first difference at {first}: {(first >= 0 ? $"{x[first]} vs {y[first]}" : "")}");
    }

    /// <summary>With a host budget too small for any offload, the smallest budget is the keep-or-recompute one.</summary>
    [Fact]
    public void NoHostMemory_NoBudgetBelowKeepOrRecompute()
    {
        var problem = UNet();
        var found = OffloadPlanner.MinMemory(problem, SolverName.DpApprox, new SolverOptions(), Offload with { HostBudgetBytes = 0 })!.Value;
        Assert.Equal(found.KeepOrRecomputeBytes, found.Found.MinBudgetBytes);
        Assert.False(found.Found.Plan.Schedule!.HasTransfers);
    }
}
