using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>Greedy choosing at each eviction between offloading the victim and dropping it (<see
/// cref="GreedyRematerializer.PlanWithOffload"/>).</summary>
public class GreedyOffloadTests
{
    private static int[] StoreAllOrder(PlanningProblem problem) =>
        [.. RecomputePlanner.StoreAll(problem).Schedule.Steps.Where(s => s.Allocates).Select(s => s.Task)];

    /// <summary>
    /// On random DAGs at budgets from the largest step to store-all, with a link where some copies hide and some do
    /// not: wherever greedy with the link plans, its schedule (transfers placed eagerly, as greedy counted them, or by
    /// the clock) is accepted by the simulator, each value it offloads goes out and comes back once, and the eager
    /// schedule fits the budget greedy planned for.
    /// </summary>
    [Fact]
    public void GreedyWithALink_GivesValidSchedules_ThatFit()
    {
        // Not every DAG has a victim whose copies cost less than its recomputation; these seeds together do.
        int offloading = 0;
        foreach (int seed in new[] { 51, 52, 53, 54, 55 }) offloading += Check(seed);
        Assert.True(offloading > 0, "greedy offloaded nothing at any budget");
    }

    private static int Check(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 14, seconds: true));
        var tg = problem.Training;
        var link = new HostLink(20_000, 10e-6);
        var lowering = new OffloadLowering(tg, RecomputePlanner.StoreAll(problem).Schedule, link);
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(tg).Bytes;
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        int offloading = 0;
        foreach (var order in new[] { StoreAllOrder(problem), GreedyRematerializer.MemoryAwareOrder(tg) })
            foreach (var score in Enum.GetValues<EvictionScore>())
                for (long budget = floor; budget <= storeAll; budget += Math.Max(1, (storeAll - floor) / 12))
                {
                    var steps = GreedyRematerializer.PlanWithOffload(tg, order, budget, score, new bool[tg.Count], link, out _);
                    if (steps is null) continue;
                    int marks = steps.Count(s => s.Kind == StepKind.Prefetch);
                    if (marks > 0) offloading++;
                    foreach (bool eager in new[] { true, false })
                    {
                        var schedule = lowering.LowerMarked(steps, "test", budget, null, eager);
                        var sim = Simulator.Simulate(schedule with { BudgetBytes = null });
                        Assert.Equal(marks, schedule.Steps.Count(s => s.Kind == StepKind.Offload));
                        Assert.Equal(marks, schedule.Steps.Count(s => s.Kind == StepKind.Prefetch));
                        if (eager) Assert.True(sim.PeakBytes <= budget, $"seed {seed}, {score}, budget {budget}: peak {sim.PeakBytes}");
                    }
                }
        return offloading;
    }

    /// <summary>With a link too slow for any copy to pay, greedy with the link is greedy: the same runs, step for step.</summary>
    [Theory]
    [InlineData(61)] [InlineData(62)]
    public void ASlowLink_ChangesNothing(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 14, seconds: true));
        var tg = problem.Training;
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(tg).Bytes;
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        foreach (var score in Enum.GetValues<EvictionScore>())
            for (long budget = floor; budget <= storeAll; budget += Math.Max(1, (storeAll - floor) / 8))
            {
                var plain = GreedyRematerializer.Plan(tg, StoreAllOrder(problem), budget, score, new bool[tg.Count], null, out _);
                var linked = GreedyRematerializer.PlanWithOffload(tg, StoreAllOrder(problem), budget, score, new bool[tg.Count], new HostLink(1e-3, 1), out _);
                Assert.Equal(plain is null, linked is null);
                if (plain is not null) Assert.True(plain.SequenceEqual(linked!), $"{score} at {budget}");
            }
    }

    /// <summary>
    /// On U-Net (b1, 64²) with the H100's link, between the smallest budget with offloading and the smallest
    /// keep-or-recompute one, the offload planner's answer (which greedy with the link is a member of) fits, and
    /// greedy with the link, wherever it plans there, gives a schedule the simulator accepts within the budget.
    /// </summary>
    [Fact]
    public void GreedyWithALink_PlansBelowKeepOrRecompute_OnUNet()
    {
        var profile = DeviceProfiles.Find("h100-sxm")!;
        var problem = new PlanningProblem(profile.Apply(GraphLoader.Load(Path.Combine(Paths.Graphs, "unet-b1-64.json"))));
        var tg = problem.Training;
        long keepOrRecompute = SmallestBudget.Find(problem, SolverName.DpApprox, new SolverOptions())!.BudgetBytes;
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(tg).Bytes;
        var lowering = new OffloadLowering(tg, RecomputePlanner.StoreAll(problem).Schedule, profile.HostLink!);
        int planned = 0;
        for (long budget = floor; budget < keepOrRecompute; budget += (keepOrRecompute - floor) / 6)
            foreach (var score in Enum.GetValues<EvictionScore>())
            {
                var steps = GreedyRematerializer.PlanWithOffload(tg, GreedyRematerializer.MemoryAwareOrder(tg), budget, score, new bool[tg.Count], profile.HostLink!, out _);
                if (steps is null) continue;
                planned++;
                var sim = Simulator.Simulate(lowering.LowerMarked(steps, "test", budget, null, eager: true));
                Assert.True(sim.PeakBytes <= budget);
            }
        var plan = OffloadPlanner.Plan(problem, SolverName.DpApprox, new SolverOptions { BudgetBytes = (floor + keepOrRecompute) / 2 }, new OffloadOptions(profile.HostLink!));
        Assert.True(plan.Feasible, plan.Solver.Reason);
        Assert.True(plan.Schedule!.HasTransfers);
        Assert.True(planned > 0, "greedy with the link planned at no budget below keep-or-recompute");
    }
}
