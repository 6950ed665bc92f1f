namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// Everything an optimal-solver run found out, beyond the <see cref="SolverResult"/> every solver returns.
/// </summary>
/// <param name="Result">The solver result (schedule, bound, gap, status, or the infeasibility explanation).</param>
/// <param name="Plan">The plan in stage form, when the returned schedule came from the CP-SAT model.</param>
/// <param name="ModelPeakBytes">The model's own peak of <see cref="Plan"/> (equals the simulated peak).</param>
/// <param name="WarmStart">Solver whose plan warm-started the search ("dp", "dp-approx", "store-all", "given"), or null.</param>
/// <param name="WarmStartRecomputeTime">Simulated recompute time of that plan.</param>
/// <param name="CpStatus">CP-SAT's status word (OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN), or "NOT_RUN".</param>
/// <param name="Decisions">Boolean decisions of the model (R and S variables), 0 when no model was built.</param>
/// <param name="FromWarmStart">True when the returned schedule is the warm-start plan (CP-SAT found nothing better).</param>
internal sealed record OptimalRun(
    SolverResult Result,
    StagePlan? Plan,
    long? ModelPeakBytes,
    string? WarmStart,
    double? WarmStartRecomputeTime,
    string CpStatus,
    int Decisions,
    bool FromWarmStart)
{
    /// <summary>What became of the exact-DP warm start: "finished", "stopped after N s (half the time limit)",
    /// "stopped (cancelled)", "not run (more than N lower sets)", "not applicable" (no backward nodes) or "not needed".</summary>
    public string ExactDp { get; init; } = "not needed";

    /// <summary>The relaxation's run (<see cref="StageRelaxation"/>), when it ran (large stage orders only).</summary>
    public RelaxationRun? Relaxation { get; init; }

    /// <summary>The bound for every schedule (<see cref="GeneralBound"/>), when it ran.</summary>
    public GeneralBoundRun? General { get; init; }

    /// <summary>What proved <see cref="SolverResult.LowerBound"/> in the stage model: <see cref="BoundSource.CpSat"/> (the
    /// exact stage model), <see cref="BoundSource.Relaxation"/> (<see cref="StageRelaxation"/>) or
    /// <see cref="BoundSource.OneRunOfEveryTask"/> (a bound of 0 on recomputation).</summary>
    public BoundSource BoundSource { get; init; } = BoundSource.OneRunOfEveryTask;

    /// <summary>Whether a work-limited CP-SAT search of the run was ended by the wall clock before its work limit (see
    /// <see cref="OptimalOptions.WorkLimited"/>): what it found was set aside.</summary>
    public bool WallClockCut { get; init; }
}

/// <summary>A run of <see cref="StageRelaxation"/>.</summary>
/// <param name="Bound">Proven lower bound on the stage model's recompute time (time units), or null (e.g. INFEASIBLE).</param>
/// <param name="CpStatus">CP-SAT's status on the relaxation.</param>
/// <param name="Decisions">Boolean decisions of the relaxation.</param>
/// <param name="Elapsed">Building plus solving time.</param>
internal sealed record RelaxationRun(double? Bound, string CpStatus, int Decisions, TimeSpan Elapsed)
{
    /// <summary>Whether the search was ended by the wall clock before its work limit.</summary>
    public bool WallClockCut { get; init; }
}
