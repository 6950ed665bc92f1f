using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Issue 11, item 5: the optimal solver takes its canonical warm starts and smallest budgets from the planner through
/// <see cref="IPlanSource"/> instead of calling the planner: what the source gives is what it uses.
/// </summary>
public class PlanSourceTests
{
    /// <summary>Answers every request with nothing, and counts the requests.</summary>
    private sealed class EmptySource : IPlanSource
    {
        public List<string> Asked { get; } = [];
        public PlannedSchedule? Plan(PlanningProblem problem, string solver, SolverOptions options,
            CancellationToken cancellation) { Asked.Add($"plan {solver}"); return null; }
        public PlannedSchedule? MinMemory(PlanningProblem problem, string solver, SolverOptions options,
            CancellationToken cancellation) { Asked.Add($"min {solver}"); return null; }
        public long? SmallestCanonicalDpBudget(PlanningProblem problem, string solver, SolverOptions options,
            CancellationToken cancellation) { Asked.Add($"smallest {solver}"); return null; }
        public long? SmallestGreedyBudget(PlanningProblem problem, SolverOptions options, long upper,
            CancellationToken cancellation) { Asked.Add("smallest greedy"); return null; }
    }

    private static SolverOptions Quick(long budget) => new() { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(3), Threads = 2, Seed = 7 };

    [Fact]
    public void OptimalSolver_AsksItsSource_ForTheCanonicalWarmStarts()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(4, 14));
        long budget = RecomputePlanner.StoreAllPeak(problem) * 6 / 10;
        var empty = new EmptySource();
        var withoutDps = new OptimalSolver(empty).Run(problem, Quick(budget));
        Assert.Contains("plan dp-approx", empty.Asked);
        Assert.Contains("plan dp", empty.Asked);
        // With no DP plans it still plans (greedy's warm start, then CP-SAT), and never above the greedy plan alone.
        Assert.True(withoutDps.Result.Feasible, withoutDps.Result.Reason);
        var greedy = RecomputePlanner.Plan(problem, SolverName.Greedy, Quick(budget));
        var plan = Simulator.Simulate(withoutDps.Result.Schedule!);
        Assert.True(plan.PeakBytes <= budget);
        Assert.True(plan.RecomputeTime <= greedy.Simulation!.RecomputeTime + 1e-9);
        // Through the planner (the registry's optimal solver), the same problem is planned no worse than dp-approx.
        var viaPlanner = RecomputePlanner.Plan(problem, SolverName.Optimal, Quick(budget));
        var approx = RecomputePlanner.Plan(problem, SolverName.DpApprox, Quick(budget));
        if (approx.Feasible) Assert.True(viaPlanner.Simulation!.RecomputeTime <= approx.Simulation!.RecomputeTime + 1e-9);
    }

    [Fact]
    public void OptimalSolver_WithAnEmptySource_StillQuotesASmallestBudgetThatPlans()
    {
        // Below every task's footprint nothing fits; the smallest budget quoted comes from the source's searches and
        // the solver's own (store-all, the order search, CP-SAT on the peak): with an empty source it is still a
        // budget at which the problem plans.
        var problem = new PlanningProblem(RandomGraphs.Forward(5, 10));
        var empty = new EmptySource();
        var result = new OptimalSolver(empty).Solve(problem, Quick(1));
        Assert.False(result.Feasible);
        Assert.Contains("smallest greedy", empty.Asked);
        Assert.NotNull(result.MinFeasibleBudgetBytes);
        Assert.True(RecomputePlanner.Plan(problem, SolverName.Auto, Quick(result.MinFeasibleBudgetBytes!.Value)).Feasible);
    }
}
