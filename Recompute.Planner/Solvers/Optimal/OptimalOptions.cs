namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// The optimal solver's own settings beyond <see cref="SolverOptions"/>, every one with its default here: the limits
/// that decide which phases run, CP-SAT's settings, and how the run is bounded (<see cref="OptimalSolver.Options"/>).
/// </summary>
internal sealed record OptimalOptions
{
    /// <summary>The defaults, as <c>--solver optimal</c> runs.</summary>
    public static OptimalOptions Default { get; } = new();

    /// <summary>
    /// How the time limit is shared: the exact DP's warm start (within its share the result is never worse than the
    /// exact DP's), CP-SAT with the relaxation first on large models, and the bound for every schedule at the end.
    /// </summary>
    public TimeShares Shares { get; init; } = TimeShares.Optimal;

    /// <summary>The exact DP warm-starts the search only up to this many lower sets (or the caller's lower limit).</summary>
    public long WarmStartLowerSetLimit { get; init; } = 20_000;

    /// <summary>
    /// CP-SAT workers (subsolvers), whatever <see cref="SolverOptions.Threads"/> says (it sets the threads that run
    /// them). They are interleaved deterministically; on two cores eight interleaved workers (a portfolio with
    /// linear-relaxation workers) prove bounds that one or two workers do not reach.
    /// </summary>
    public int Workers { get; init; } = 8;

    /// <summary>
    /// Above this many Boolean decisions the CP-SAT model is not built: on two cores CP-SAT does not get past
    /// loading such models in a minute (the 500-task random layered graph, 249 500 decisions, returned nothing under
    /// a 10 s limit). The greedy search then uses the time instead.
    /// </summary>
    public long MaxDecisions { get; init; } = 150_000;

    /// <summary>
    /// Least time left, per Boolean decision, for the CP-SAT model to be worth building (at least a second):
    /// building and loading take about 1–2 s for ResNet-50's 124 256 decisions on two loaded cores, and a search
    /// that then has no time left only overruns the limit.
    /// </summary>
    public double SecondsPerDecision { get; init; } = 1e-4;

    /// <summary>
    /// The relaxation (<see cref="StageRelaxation"/>) runs only on stage orders with more decisions than this: below
    /// it CP-SAT bounds the exact model itself (up to 77 tasks, under 6 000 decisions).
    /// </summary>
    public long RelaxationMinDecisions { get; init; } = 20_000;

    /// <summary>Above this many decisions the relaxation is not built either.</summary>
    public long MaxRelaxationDecisions { get; init; } = 300_000;

    /// <summary>Seconds of time limit per extra round of the greedy search on graphs too large for the model.</summary>
    public double SecondsPerGreedyRound { get; init; } = 4;

    /// <summary>CP-SAT's linearization level for this solver's searches (see <see cref="CpSatSettings"/>).</summary>
    public int LinearizationLevel { get; init; } = 1;

    /// <summary>Whether CP-SAT presolves the model (see <see cref="CpSatSettings"/>).</summary>
    public bool Presolve { get; init; } = true;

    /// <summary>
    /// Whether the run ends by proving <see cref="GeneralBound"/> for its plan, with <see cref="TimeShares.Bound"/>
    /// of the time limit (the <c>auto</c> portfolio proves it once for its own winner instead).
    /// </summary>
    public bool ProvesGeneralBound { get; init; } = true;

    /// <summary>
    /// When true, the time limit is spent as work, not by the wall clock: the phases get their shares of the limit
    /// whatever time the earlier ones took, the greedy rounds are counted from the limit, the exact DP's share is
    /// <see cref="DpWork"/>, and what a CP-SAT search found counts only when it ended by proof or by its deterministic
    /// limit (<see cref="CpSatSettings.WorkLimited"/>); a search the wall clock ended is set aside. The same input then
    /// gives the same plan and bound on a busy machine too. The <c>auto</c> portfolio runs this way.
    /// </summary>
    public bool WorkLimited { get; init; }
}
