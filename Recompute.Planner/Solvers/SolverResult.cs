using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>The outcome of a solver run.</summary>
/// <param name="Status">What the plan claims (see <see cref="PlanStatus"/>); <see cref="Feasible"/> follows from it.</param>
/// <param name="Strategy">For canonical solvers: the chain to lower.</param>
/// <param name="Schedule">For general solvers: the schedule itself (already lowered).</param>
/// <param name="PaperModel">The strategy's peak and recomputation in the paper's cost model (canonical solvers).</param>
/// <param name="Reason">Why no plan was found, in a user's terms.</param>
public sealed record SolverResult(
    string Solver,
    PlanStatus Status,
    CanonicalStrategy? Strategy = null,
    Schedule? Schedule = null,
    PaperModelCost? PaperModel = null,
    string? Reason = null,
    long? MinFeasibleBudgetBytes = null,
    double? DiscretisationError = null)
{
    /// <summary>
    /// The solver found a plan: its status is <see cref="PlanStatus.Optimal"/>, <see cref="PlanStatus.CanonicalOptimal"/>
    /// or <see cref="PlanStatus.Feasible"/> (derived from <see cref="Status"/>, so the two cannot disagree).
    /// </summary>
    public bool Feasible => Status is PlanStatus.Optimal or PlanStatus.CanonicalOptimal or PlanStatus.Feasible;

    /// <summary>Peak of the strategy in the paper's cost model (<see cref="PaperModelCost.PeakBytes"/>), or null for a general schedule.</summary>
    public long? PaperModelPeakBytes => PaperModel?.PeakBytes;

    /// <summary>The strategy's recomputation in the paper's cost model (<see cref="PaperModelCost.RecomputeTime"/>), or null.</summary>
    public double? PaperModelOverhead => PaperModel?.RecomputeTime;

    /// <summary>The plan's proven lower bound with its source and gaps, when a solver proved one (null: none).</summary>
    public PlanBound? Bound { get; init; }

    /// <summary>Proven lower bound on recompute time (<see cref="PlanBound.LowerBound"/>), or null without a bound.</summary>
    public double? LowerBound => Bound?.LowerBound;

    /// <summary>The gap relative to the plan's total compute (<see cref="PlanBound.Gap"/>), or null without a bound.</summary>
    public double? Gap => Bound?.Gap;

    /// <summary>The gap relative to the recomputation alone (<see cref="PlanBound.RecomputeGap"/>), or null without a bound.</summary>
    public double? RecomputeGap => Bound?.RecomputeGap;

    /// <summary>Total compute of the plan (<see cref="PlanBound.TotalCost"/>), or null without a bound.</summary>
    public double? TotalCost => Bound?.TotalCost;

    /// <summary>Proven lower bound on <see cref="TotalCost"/> (<see cref="PlanBound.TotalLowerBound"/>), or null without a bound.</summary>
    public double? TotalLowerBound => Bound?.TotalLowerBound;

    /// <summary>What proved <see cref="LowerBound"/> (JSON: its <see cref="BoundSourceText.ToText"/>), or null without a bound.</summary>
    public BoundSource? BoundSource => Bound?.Source;

    /// <summary>Which schedules <see cref="LowerBound"/> holds for (<see cref="PlanBound.Covers"/>), or null without a bound.</summary>
    public string? BoundCovers => Bound?.Covers;

    /// <summary>Anything the user should know about how the plan was found (e.g. a warm start cut by the time limit).</summary>
    public string? Note { get; init; }

    /// <summary>
    /// Which schedules <see cref="Status"/> speaks of, in words: for the DPs "optimal among canonical strategies over
    /// ... (replayed model)"; for a bound, the family it covers. Null when the status needs no qualification.
    /// </summary>
    public string? Claim { get; init; }

    /// <summary>A lower bound on the recomputation of every schedule at this budget (<see
    /// cref="Optimal.GeneralBound"/>), when it was computed.</summary>
    public double? GeneralLowerBound { get; init; }

    /// <summary>(recompute − <see cref="GeneralLowerBound"/>) / recompute: how far the plan can be from the best schedule there is.</summary>
    public double? GeneralRecomputeGap { get; init; }

    /// <summary>For the <c>auto</c> portfolio: the solver whose plan won (the plan is that solver's, unchanged).</summary>
    public string? WinningSolver { get; init; }
}
