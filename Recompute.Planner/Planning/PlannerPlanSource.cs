using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Planner.Planning;

/// <summary>The planner as the optimal solver's <see cref="IPlanSource"/>: plans are <see cref="RecomputePlanner.Plan"/>'s,
/// least budgets <see cref="SmallestBudget"/>'s.</summary>
internal sealed class PlannerPlanSource : IPlanSource
{
    public static PlannerPlanSource Instance { get; } = new();

    private PlannerPlanSource() { }

    public PlannedSchedule? Plan(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation) =>
        Planned(RecomputePlanner.Plan(problem, solver, options, cancellation));

    public PlannedSchedule? MinMemory(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation) =>
        Planned(SmallestBudget.MinMemory(problem, solver, options, cancellation).Plan);

    public long? SmallestCanonicalDpBudget(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation) =>
        SmallestBudget.OfCanonicalDp(problem, solver, options, cancellation);

    public long? SmallestGreedyBudget(PlanningProblem problem, SolverOptions options, long upper, CancellationToken cancellation) =>
        SmallestBudget.OfGreedy(problem, options, upper, cancellation);

    private static PlannedSchedule? Planned(PlanResult plan) =>
        plan.Schedule is { } schedule && plan.Simulation is { } simulation ? new PlannedSchedule(plan.Feasible, schedule, simulation) : null;
}
