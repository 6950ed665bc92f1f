using System.Collections.Immutable;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>Options every solver accepts. Fields a solver does not use are ignored by it.</summary>
public sealed record SolverOptions
{
    /// <summary>The budget that limits nothing (the default of <see cref="BudgetBytes"/>): plan as if memory were unbounded.</summary>
    public const long UnlimitedBudget = long.MaxValue;

    /// <summary>Bytes available for activations and their gradients (<see cref="UnlimitedBudget"/>: no limit).</summary>
    public long BudgetBytes { get; init; } = UnlimitedBudget;
    public Objective Objective { get; init; } = Objective.Time;
    /// <summary>Wall-clock limit; a solver that reaches it returns the best plan found so far.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// The limit from which the searches that count their work (greedy's order search and its cut-relaxation guide)
    /// do all of it: <c>auto</c>'s default. Below it they do <see cref="WorkFraction"/> of it, so that a shorter
    /// <see cref="TimeLimit"/> is a shorter search, still the same on any machine.
    /// </summary>
    public static readonly TimeSpan FullWorkLimit = TimeSpan.FromSeconds(5);

    /// <summary>The share of their full work the counted searches do: <see cref="TimeLimit"/> / <see cref="FullWorkLimit"/>, at most 1.</summary>
    internal double WorkFraction => Math.Clamp(TimeLimit / FullWorkLimit, 0, 1);

    /// <summary>Worker threads for solvers that use them (0: all cores).</summary>
    public int Threads { get; init; }
    /// <summary>
    /// CP-SAT's search in the cut relaxations (the bound for every schedule and greedy's guide): always 2 interleaved
    /// subsolvers, run on <see cref="Threads"/> threads, so that the same input gives the same bound and plan on any
    /// machine and with any thread count.
    /// </summary>
    internal Optimal.SearchWorkers RelaxationWorkers => new(2, Threads);
    /// <summary>Random seed for solvers that search (OR-Tools); fixed so that results are reproducible.</summary>
    public int Seed { get; init; }
    /// <summary>The exact DP stops with a clear error when the graph has more lower sets than this.</summary>
    public long MaxLowerSets { get; init; } = 1_000_000;
    /// <summary>
    /// The approximate DP uses every ancestral set up to this many; past it, the ancestral sets of evenly spaced
    /// tensors (in topological order) only, so that planning stays near-linear on very large graphs.
    /// </summary>
    public int MaxApproxSets { get; init; } = 2000;
    /// <summary>Block memory model of the canonical DPs (the planner uses <see cref="BlockCostModel.Liveness"/> first).</summary>
    public BlockCostModel BlockModel { get; init; } = BlockCostModel.Paper;
    /// <summary>Number of time buckets for DPs over real-valued costs (the discretisation error is reported).</summary>
    public int TimeBuckets { get; init; } = 2000;
    /// <summary>Tensors (graph node ids) that must never be recomputed.</summary>
    public ImmutableHashSet<int> Keep { get; init; } = [];
    /// <summary>Tensors (graph node ids) that must never be kept across the forward/backward gap.</summary>
    public ImmutableHashSet<int> ForceRecompute { get; init; } = [];
    /// <summary>A schedule to start from (the OR-Tools solver turns it into hints).</summary>
    public Schedule? WarmStart { get; init; }
    /// <summary>Told the best plan so far while a searching solver runs (the optimal solver); null: nobody listens.</summary>
    public IProgress<SolverProgress>? Progress { get; init; }
    /// <summary>A work limit for the canonical DPs of this call (the <c>auto</c> portfolio's exact DP); null: none.</summary>
    internal DpWork? DpWork { get; init; }
    /// <summary>
    /// The caller asks only whether a plan fits (the smallest-budget searches of <c>SmallestBudget</c>:
    /// <c>Find</c>, <c>Bytes</c>, <c>OfGreedy</c>): greedy stops after its first pass when that fits (no pass guided
    /// by the cut relaxation, no order search), and auto stops at the first member whose plan fits (no greedy after
    /// it, no optimal improvement, no bound). None of them changes whether a plan fits, only what it costs and claims.
    /// </summary>
    internal bool FeasibilityOnly { get; init; }
    /// <summary>
    /// The caller already has the plans of dp-approx, per-block and chen with these options (the <c>auto</c>
    /// portfolio, which runs them before the exact DP): the exact DP does not plan them again to take one of their
    /// chains (<c>RecomputePlanner.WithFamilyChains</c>), since the caller compares them anyway.
    /// </summary>
    internal bool FamilyChainsPlanned { get; init; }

    /// <summary>
    /// The last word on the whole command (<c>plan</c> sets it at the end of <c>--time-limit</c> by the wall clock and
    /// the command's processor time, <see cref="Planning.CommandStop"/>): <c>auto</c> stops whichever member is running
    /// when it fires and answers with the best plan found by then, and its note says what it cut (that plan may then
    /// differ between runs). Counted work decides everything before it. Default: none.
    /// </summary>
    public CancellationToken Stop { get; init; }
}
