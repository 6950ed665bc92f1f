using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>
/// A proven lower bound on a plan's recomputation, what proved it, and the gaps it gives: set together or not at
/// all (<see cref="SolverResult.Bound"/>).
/// </summary>
/// <param name="LowerBound">The bound on recompute time (time units).</param>
/// <param name="Source">What proved it, and so which schedules it holds for (<see cref="Covers"/>).</param>
/// <param name="Gap">(total − total bound) / total, where total is one run of every task plus the recomputation
/// (Checkmate's and Moccasin's objective).</param>
/// <param name="RecomputeGap">(recompute − bound) / recompute: relative to the recomputation alone (0 when it is 0).</param>
/// <param name="TotalCost">Total compute of the plan: one run of every task plus the recomputation.</param>
/// <param name="TotalLowerBound">Proven lower bound on <paramref name="TotalCost"/>: one run of every task plus the bound.</param>
public sealed record PlanBound(double LowerBound, BoundSource Source, double Gap, double RecomputeGap, double TotalCost, double TotalLowerBound)
{
    /// <summary>The bound <paramref name="lowerBound"/> on a plan of <paramref name="training"/> that recomputes
    /// <paramref name="recompute"/>, with its gaps.</summary>
    public static PlanBound Of(TrainingGraph training, double recompute, double lowerBound, BoundSource source)
    {
        double once = training.ForwardTime + training.BackwardTime;
        double total = once + recompute;
        return new PlanBound(lowerBound, source,
            Gap: total > 0 ? Math.Max(0, (recompute - lowerBound) / total) : 0,
            RecomputeGap: recompute > 0 ? Math.Max(0, (recompute - lowerBound) / recompute) : 0,
            TotalCost: total,
            TotalLowerBound: once + lowerBound);
    }

    /// <summary>
    /// Which schedules the bound holds for: "every schedule" (the cut relaxation, no recomputation, one run of every
    /// task) or "schedules whose first runs follow the plan's order" (CP-SAT on the stage model and its relaxation).
    /// </summary>
    public string Covers => Source is BoundSource.CpSat or BoundSource.Relaxation ? "schedules whose first runs follow the plan's order" : "every schedule";
}
