using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>
/// The core invariants as CsCheck properties over random small DAGs (shrunk to a small failing graph when one
/// breaks): every solver's plan is a valid schedule within its budget, and a bound never exceeds the plan.
/// </summary>
public class PlanPropertyTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(1);

    /// <summary>A graph and a budget between 20 % and 110 % of its store-all peak.</summary>
    private static readonly CsCheck.Gen<(ComputationGraph Graph, int Percent)> GraphAndBudget =
        CsCheck.Gen.Select(RandomGraphs.Small(maxNodes: 9), CsCheck.Gen.Int[20, 110]);

    private static string Print((ComputationGraph Graph, int Percent) c) => $"{c.Percent} % of store-all: {RandomGraphs.Describe(c.Graph)}";

    private static long Budget(PlanningProblem problem, int percent) => RecomputePlanner.StoreAllPeak(problem) * percent / 100;

    [Fact]
    public void EverySolversPlan_IsAValidSchedule_WithinTheBudget() =>
        Property.Check(GraphAndBudget, c =>
        {
            var problem = new PlanningProblem(c.Graph);
            long budget = Budget(problem, c.Percent);
            foreach (var solver in SolverRegistry.Names)
            {
                var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget, TimeLimit = Limit });
                if (!plan.Feasible) continue;
                // Simulated again from the schedule alone: the simulator refuses an invalid step, and the peak is the plan's.
                var again = Simulator.Simulate(plan.Schedule!);
                Assert.True(again.PeakBytes <= budget, $"{solver}: peak {again.PeakBytes} over the budget {budget}");
                Assert.Equal(plan.Simulation!.PeakBytes, again.PeakBytes);
            }
            // Store-all fits its own peak, and every budget at or above it plans.
            if (c.Percent >= 100) Assert.True(RecomputePlanner.Plan(problem, "store-all", new SolverOptions { BudgetBytes = budget }).Feasible);
        }, cases: 12, Print);

    [Fact]
    public void ABound_IsNeverAboveThePlan() =>
        Property.Check(GraphAndBudget, c =>
        {
            var problem = new PlanningProblem(c.Graph);
            long budget = Budget(problem, c.Percent);
            foreach (var solver in new[] { AutoPortfolio.Name, "optimal" })
            {
                var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget, TimeLimit = Limit });
                if (!plan.Feasible) continue;
                double recompute = plan.Simulation!.RecomputeTime;
                if (plan.Solver.LowerBound is { } bound) Assert.True(bound <= recompute + 1e-9,
                    $"{solver}: bound {bound} above the plan's {recompute}");
                if (plan.Solver.Status == PlanStatus.Optimal) Assert.Equal(0, plan.Solver.Gap!.Value, 9);
            }
        }, cases: 8, Print);

    [Fact]
    public void AFailingProperty_IsReportedWithTheGraphThatBreaksIt()
    {
        // "no graph has more than two operations" is false: the report names a graph with at least three (n0, n1, n2).
        var e = Assert.Throws<CsCheck.CsCheckException>(() =>
            Property.Check(RandomGraphs.Small(maxNodes: 9), g => Assert.True(g.Count <= 4), cases: 5, RandomGraphs.Describe));
        Assert.Contains("n2 ", e.Message);
        Assert.Contains("shrinks", e.Message);
    }
}
