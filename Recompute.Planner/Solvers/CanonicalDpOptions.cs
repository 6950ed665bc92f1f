namespace Recompute.Planner.Solvers;

/// <summary>The canonical DPs' settings (dp-approx and dp), each with its default here (<see cref="CanonicalDpSolver.Options"/>).</summary>
internal sealed record CanonicalDpOptions
{
    /// <summary>The defaults, as <c>--solver dp</c> and <c>--solver dp-approx</c> run.</summary>
    public static CanonicalDpOptions Default { get; } = new();

    /// <summary>
    /// Largest forward graph whose DP blocks the planner sizes by replay (<see cref="BlockCostModel.Liveness"/>): a
    /// replay costs O(|V'|) per transition.
    /// </summary>
    public int ReplayNodeLimit { get; init; } = 600;

    /// <summary>
    /// Largest lower-set family whose DP blocks the planner sizes by replay: the exact DP has about |family|²/7
    /// transitions, and on GoogLeNet's 27,358 lower sets the replayed DP needs minutes where the paper's bound needs seconds.
    /// </summary>
    public int ReplaySetLimit { get; init; } = 5000;
}
