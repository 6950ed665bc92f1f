using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Planner.Planning;

/// <summary>The auto portfolio's settings, each with its default here (<see cref="AutoPortfolio.Settings"/>).</summary>
public sealed record AutoOptions
{
    /// <summary>The defaults, as <c>plan</c> runs auto.</summary>
    public static AutoOptions Default { get; } = new();

    /// <summary>The command line's time limit for auto when none is given: short enough for interactive use.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The exact DP joins the portfolio on graphs with at most this many lower sets (or the caller's lower limit).</summary>
    public long ExactLowerSetLimit { get; init; } = 20_000;

    /// <summary>The optimal solver runs only when its share of the time limit is at least this much.</summary>
    public TimeSpan MinimumOptimalTime { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Members bounded by their own work stop by the wall clock only at this many times the time limit.</summary>
    public double WallClockSafety { get; init; } = DpWork.WallClockSafety;

    /// <summary>
    /// How the time limit is shared: the exact DP, the optimal solver's improvement (as work: see
    /// <see cref="OptimalOptions.WorkLimited"/>) and the bound for every schedule (<see cref="GeneralBound"/>, as
    /// CP-SAT's deterministic time).
    /// </summary>
    public TimeShares Shares { get; init; } = TimeShares.Auto;

    /// <summary>
    /// Without a plan from any other member, the optimal solver still runs on DAGs of at most this many tasks (its
    /// CP-SAT model can find schedules the heuristics miss there; on larger DAGs it would spend the time on a
    /// smallest-budget search instead).
    /// </summary>
    public int OptimalWithoutPlanTaskLimit { get; init; } = 400;
}
