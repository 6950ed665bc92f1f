using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// A solver's result states what it found once: whether it is a plan follows from its status, and the paper model's
/// figures come together (issue 11, item 5: the result was a union of a flag, a status and loose nullable fields).
/// </summary>
public class SolverResultTests
{
    [Theory]
    [InlineData(PlanStatus.Optimal, true)]
    [InlineData(PlanStatus.CanonicalOptimal, true)]
    [InlineData(PlanStatus.Feasible, true)]
    [InlineData(PlanStatus.Infeasible, false)]
    [InlineData(PlanStatus.NotApplicable, false)]
    [InlineData(PlanStatus.Unknown, false)]
    public void Feasible_FollowsFromTheStatus(PlanStatus status, bool feasible)
    {
        var result = new SolverResult("x", status);
        Assert.Equal(feasible, result.Feasible);
        // A status changed later changes it too: the two cannot disagree.
        Assert.Equal(!feasible, (result with { Status = feasible ? PlanStatus.Infeasible : PlanStatus.Feasible }).Feasible);
    }

    /// <summary>Every solver on random DAGs and budgets: a result that claims a plan has one, and one that does not, none that fits.</summary>
    [Theory]
    [InlineData(51)] [InlineData(52)]
    public void EverySolversResult_HasAPlanExactlyWhenItsStatusSaysSo(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 12));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        foreach (var solver in SolverRegistry.Names)
            foreach (double fraction in new[] { 0.3, 0.6, 1.0 })
            {
                var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = (long)(storeAll * fraction),
                    TimeLimit = TimeSpan.FromSeconds(2) });
                Assert.True(plan.Feasible == plan.Solver.Feasible,
                    $"{solver} at {fraction:P0}: {plan.Solver.Status} with a plan that {(plan.Feasible ? "fits" : "does not fit")}");
                if (!plan.Feasible) Assert.False(string.IsNullOrEmpty(plan.Solver.Reason), $"{solver} at {fraction:P0}: no reason");
                // The paper model's figures belong to canonical strategies, both or neither.
                Assert.Equal(plan.Solver.PaperModel?.PeakBytes, plan.Solver.PaperModelPeakBytes);
                Assert.Equal(plan.Solver.PaperModel?.RecomputeTime, plan.Solver.PaperModelOverhead);
            }
    }
}
