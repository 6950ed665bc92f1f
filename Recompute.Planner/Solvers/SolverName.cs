namespace Recompute.Planner.Solvers;

/// <summary>
/// The names of the registered solvers, as <c>--solver</c>, <c>--solvers</c>, the JSON's <c>solver</c> field and the
/// library take them. The planner's code names a solver only through these constants.
/// </summary>
public static class SolverName
{
    /// <summary>Keep every activation until backward reads it.</summary>
    public const string StoreAll = "store-all";

    /// <summary>Keep each module block's output, recompute inside the block.</summary>
    public const string PerBlock = "per-block";

    /// <summary>Chen et al.'s √n checkpoints (or their greedy variant).</summary>
    public const string Chen = "chen";

    /// <summary>The paper's approximate DP over the |V|+1 ancestor-closed lower sets.</summary>
    public const string DpApprox = "dp-approx";

    /// <summary>The paper's exact DP over every lower set.</summary>
    public const string Dp = "dp";

    /// <summary>General rematerialization by a greedy pass over first-run orders.</summary>
    public const string Greedy = "greedy";

    /// <summary>CP-SAT over general schedules, warm-started by the others, with a lower bound.</summary>
    public const string Optimal = "optimal";

    /// <summary>The portfolio that is the default of every command: the best simulated plan of the others.</summary>
    public const string Auto = "auto";
}
