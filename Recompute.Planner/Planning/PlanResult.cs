using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>The result of planning: what the solver said, the schedule, and its simulation (the proof).</summary>
/// <param name="StoreAllPeakBytes">Simulated peak of the store-all schedule: the reference for percentages and savings.</param>
public sealed record PlanResult(
    SolverResult Solver,
    Schedule? Schedule,
    SimulationResult? Simulation,
    long BudgetBytes,
    long StoreAllPeakBytes,
    double SolveSeconds)
{
    /// <summary>A schedule exists and the simulator says it fits the budget (<see cref="SimulationResult.Fits"/>).</summary>
    public bool Feasible => Schedule is not null && Simulation is not null && Simulation.Fits(BudgetBytes);

    /// <summary>The budget the solver was run with in its own model (the DPs search it; see <see cref="RecomputePlanner.Plan"/>).</summary>
    public long SolverBudgetBytes { get; init; } = BudgetBytes;

    /// <summary>With offloading (<see cref="OffloadPlanner"/>): the plan without it that this one was compared with; null otherwise.</summary>
    public PlanResult? KeepOrRecompute { get; init; }
}
