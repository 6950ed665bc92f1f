using Google.OrTools.Sat;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

public class StageRelaxationTests
{
    private static SolverOptions Quick(long budget) => new() { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(3), Threads = 2, Seed = 7 };

    /// <summary>The relaxation's optimum in time units (it is tiny on these graphs: solved to optimality), or null when infeasible.</summary>
    private static double? RelaxedOptimum(StageOrder order, long budget, int decisionTarget)
    {
        var relaxation = new StageRelaxation(order, budget, new HashSet<int>(), decisionTarget);
        var solver = new CpSolver { StringParameters = new CpSatSettings(TimeSpan.FromSeconds(20), 1, 1).ToParameterText() };
        var status = solver.Solve(relaxation.Model);
        if (status == CpSolverStatus.Infeasible) return null;
        Assert.Equal(CpSolverStatus.Optimal, status);
        return relaxation.ToTime(solver.ObjectiveValue);
    }

    [Fact]
    public void RelaxationOptimum_IsAtMostTheProvenOptimum_OnSmallGraphs()
    {
        int proven = 0, positive = 0;
        for (int seed = 1; seed <= 6; seed++)
        {
            var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 7));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (var fraction in new[] { 0.85, 0.7 })
            {
                long budget = (long)(storeAll * fraction);
                var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, Quick(budget));
                if (run.Result.Status != PlanStatus.Optimal || run.Plan is null) continue;
                proven++;
                double optimum = Simulator.Simulate(run.Result.Schedule!).RecomputeTime;
                // Every binding stage, and only the two that bind most.
                foreach (int target in new[] { int.MaxValue, 2 })
                {
                    var bound = RelaxedOptimum(run.Plan.Order, budget, target);
                    Assert.NotNull(bound);
                    Assert.True(bound <= optimum + 1e-9, $"seed {seed} at {fraction}: relaxation {bound} above the proven optimum {optimum}");
                    if (bound > 0) positive++;
                }
            }
        }
        Assert.True(proven >= 4, $"only {proven} proven optima");
        Assert.True(positive > 0, "the relaxation never gave a positive bound");
    }

    [Theory]
    [InlineData(11)] [InlineData(12)] [InlineData(13)]
    public void RelaxationOptimum_IsAtMostEveryPlanFound_OverItsFirstRunOrder(int seed)
    {
        // Any schedule whose first runs follow the order maps to a point of the relaxation of no greater cost.
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 9));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        int plans = 0;
        foreach (var fraction in new[] { 0.9, 0.75, 0.6 })
        {
            long budget = (long)(storeAll * fraction);
            foreach (var name in new[] { "chen", "dp-approx", "dp", "greedy" })
            {
                PlanResult plan;
                try { plan = RecomputePlanner.Plan(problem, name, Quick(budget)); }
                catch (LowerSetLimitException) { continue; }
                if (!plan.Feasible) continue;
                var sim = Simulator.Measure(plan.Schedule!);
                if (sim.PeakBytes > budget) continue;
                plans++;
                var order = StageOrder.FirstRuns(plan.Schedule!);
                foreach (int target in new[] { int.MaxValue, 3 })
                {
                    var bound = RelaxedOptimum(order, budget, target);
                    Assert.NotNull(bound);
                    Assert.True(bound <= sim.RecomputeTime + 1e-9, $"{name} at {fraction}: relaxation {bound} above the plan's {sim.RecomputeTime}");
                }
            }
        }
        Assert.True(plans > 0);
    }

    [Fact]
    public void OptimalSolver_ReportsTheRelaxationsBound_WhenItRuns()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(3, nodes: 8));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        bool ran = false;
        foreach (var fraction in new[] { 0.85, 0.7 })
        {
            long budget = (long)(storeAll * fraction);
            var options = Quick(budget) with { TimeLimit = TimeSpan.FromSeconds(8) };
            var run = new OptimalSolver(PlannerPlanSource.Instance) { Options = OptimalOptions.Default with { RelaxationMinDecisions = 0 } }.Run(problem, options);
            if (!run.Result.Feasible) continue;
            var sim = Simulator.Simulate(run.Result.Schedule!);
            Assert.True(sim.PeakBytes <= budget);
            double lb = run.Result.LowerBound!.Value;
            Assert.True(lb <= sim.RecomputeTime + 1e-9);
            if (run.Result.Status == PlanStatus.Optimal && run.Plan is null || run.Relaxation is not { } relaxation) continue;
            ran = true;
            Assert.True(relaxation.Decisions > 0);
            // The returned plan's first runs follow the relaxation's order, so its bound is at most the plan's cost.
            if (relaxation.Bound is { } rb) Assert.True(rb <= sim.RecomputeTime + 1e-9,
                $"relaxation bound {rb} above the plan's {sim.RecomputeTime}");
            Assert.Contains(run.BoundSource, new[] { BoundSource.CpSat, BoundSource.Relaxation, BoundSource.OneRunOfEveryTask });
            if (run.BoundSource == BoundSource.Relaxation) Assert.Equal(Math.Min(relaxation.Bound!.Value, sim.RecomputeTime), lb, 9);
        }
        Assert.True(ran, "the relaxation never ran");
    }
}
