using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>A schedule that a solver planned through the planner, with its simulation and whether it fit the budget asked for.</summary>
internal sealed record PlannedSchedule(bool Feasible, Schedule Schedule, SimulationResult Simulation);

/// <summary>
/// What the optimal solver asks of the planning layer above it: the canonical plans it warm-starts from (with the
/// planner's replayed block sizes and fallbacks) and the smallest budgets it quotes when nothing fits. The planner
/// passes itself in (<c>Planning.PlannerPlanSource</c>), so that no solver calls up into planning; a test can pass
/// anything else.
/// </summary>
internal interface IPlanSource
{
    /// <summary>The named solver's plan at <see cref="SolverOptions.BudgetBytes"/>, or null when it produced no schedule.</summary>
    /// <exception cref="LowerSetLimitException">The exact DP met <see cref="SolverOptions.MaxLowerSets"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> stopped it.</exception>
    PlannedSchedule? Plan(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation);

    /// <summary>The named canonical solver's least-memory plan in its own model, or null when it produced no schedule.</summary>
    /// <remarks>Throws as <c>SmallestBudget.MinMemory</c> does when the forward graph has no chain of lower sets.</remarks>
    PlannedSchedule? MinMemory(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation);

    /// <summary>The smallest budget at which the named canonical DP plans, by simulation
    /// (<c>SmallestBudget.OfCanonicalDp</c>); null when none was found.</summary>
    long? SmallestCanonicalDpBudget(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation);

    /// <summary>The smallest budget at which greedy plans, searched below <paramref name="upper"/>
    /// (<c>SmallestBudget.OfGreedy</c>); null when none was found.</summary>
    long? SmallestGreedyBudget(PlanningProblem problem, SolverOptions options, long upper, CancellationToken cancellation);
}
