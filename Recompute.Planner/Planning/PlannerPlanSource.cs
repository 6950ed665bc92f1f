using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Planner.Planning;

/// <summary>The planner as the optimal solver's <see cref="IPlanSource"/>: each call is the <see
/// cref="RecomputePlanner"/> call of the same name.</summary>
internal sealed class PlannerPlanSource : IPlanSource
{
    public static PlannerPlanSource Instance { get; } = new();

    private PlannerPlanSource() { }

    public PlannedSchedule? Plan(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation) =>
        Planned(RecomputePlanner.Plan(problem, solver, options, cancellation));

    public PlannedSchedule? MinMemory(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation) =>
        Planned(RecomputePlanner.MinMemory(problem, solver, options, cancellation).Plan);

    public long? SmallestFeasibleBudget(PlanningProblem problem, string solver, SolverOptions options, CancellationToken cancellation) =>
        RecomputePlanner.SmallestFeasibleBudget(problem, solver, options, cancellation);

    public long? SmallestGreedyBudget(PlanningProblem problem, SolverOptions options, long upper, CancellationToken cancellation) =>
        RecomputePlanner.SmallestGreedyBudget(problem, options, upper, cancellation);

    private static PlannedSchedule? Planned(PlanResult plan) =>
        plan.Schedule is { } schedule && plan.Simulation is { } simulation ? new PlannedSchedule(plan.Feasible, schedule, simulation) : null;
}
