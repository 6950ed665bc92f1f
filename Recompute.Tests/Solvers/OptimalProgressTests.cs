using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>The optimal solver tells a listener its best plan so far and the gap (the live status of issue 15, item 2).</summary>
public class OptimalProgressTests
{
    private sealed class Collect : IProgress<SolverProgress>
    {
        public List<SolverProgress> Reports { get; } = [];
        public void Report(SolverProgress value) { lock (Reports) Reports.Add(value); }
    }

    [Fact]
    public void Progress_ReportsTheWarmStartThenEachCpSatSolution_NeverWorse()
    {
        // Small enough that CP-SAT proves the optimum in well under a second.
        var problem = new PlanningProblem(RandomGraphs.Forward(3, nodes: 6));
        long budget = RecomputePlanner.StoreAllPeak(problem) * 7 / 10;
        var listener = new Collect();
        var options = new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(60), Threads = 1, Seed = 7, Progress = listener };
        var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, options);
        Assert.True(run.Result.Feasible);
        Assert.Equal(PlanStatus.Optimal, run.Result.Status);

        var reports = listener.Reports;
        Assert.NotEmpty(reports);
        Assert.EndsWith("'s plan", reports[0].Source);           // the best warm start, before any bound
        Assert.Null(reports[0].Gap);
        var solutions = reports.Where(r => r.Source.StartsWith("CP-SAT solution", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(solutions);
        Assert.All(solutions, r => Assert.InRange(r.Gap!.Value, 0, 1));
        // The best so far never gets worse, and the last one is the plan returned.
        for (int i = 1; i < reports.Count; i++) Assert.True(reports[i].RecomputeTime <= reports[i - 1].RecomputeTime + 1e-9);
        Assert.Equal(Simulator.Simulate(run.Result.Schedule!).RecomputeTime, reports[^1].RecomputeTime, 9);

        // Without a listener the search proves the same optimum (CP-SAT may reach it through another schedule of
        // equal cost when a callback listens: the command line listens only on a terminal, never for JSON or a pipe).
        var quiet = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, options with { Progress = null });
        Assert.Equal(PlanStatus.Optimal, quiet.Result.Status);
        Assert.Equal(Simulator.Simulate(quiet.Result.Schedule!).RecomputeTime, reports[^1].RecomputeTime, 9);
    }
}
