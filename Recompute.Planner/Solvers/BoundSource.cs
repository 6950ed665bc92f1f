namespace Recompute.Planner.Solvers;

/// <summary>What proved a plan's lower bound on recomputation (<see cref="SolverResult.BoundSource"/>).</summary>
public enum BoundSource
{
    /// <summary>The plan recomputes nothing: a bound of its own recomputation, 0, over every schedule.</summary>
    NoRecomputation,
    /// <summary>The cut relaxation (<c>GeneralBound</c>): holds for every schedule.</summary>
    CutRelaxation,
    /// <summary>CP-SAT on the stage model over one first-run order: holds for schedules whose first runs follow it.</summary>
    CpSat,
    /// <summary>A relaxation of that stage model: holds for the same family.</summary>
    Relaxation,
    /// <summary>One run of every task: a bound of 0 on recomputation, valid for every schedule.</summary>
    OneRunOfEveryTask,
}
