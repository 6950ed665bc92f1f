using System.Collections.Immutable;

namespace Recompute.Planner.Solvers;

/// <summary>
/// No recomputation: every tensor is its own block, so every tensor with a reader is a checkpoint
/// (<c>--solver store-all</c>). Feasible when its simulated peak fits the budget.
/// </summary>
public sealed class StoreAllSolver : ISolver
{
    public string Name => "store-all";
    public bool IsCanonical => true;

    public static CanonicalStrategy Strategy(ForwardDag dag) =>
        new(dag.NodeOf.Select(n => ImmutableArray.Create(n)).ToImmutableArray());

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        var strategy = Strategy(problem.Forward);
        var cost = PaperCostModel.Evaluate(problem.Forward, strategy);
        return new SolverResult(Name, true, "FEASIBLE", Strategy: strategy, PaperModelPeakBytes: cost.PeakBytes, PaperModelOverhead: cost.Overhead);
    }
}
