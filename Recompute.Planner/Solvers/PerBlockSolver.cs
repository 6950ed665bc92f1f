namespace Recompute.Planner.Solvers;

/// <summary>
/// Per-block checkpointing as a solver (<c>--solver per-block</c>): the plan most PyTorch users write by hand,
/// <c>torch.utils.checkpoint</c> around each layer (<see cref="BlockCheckpointing"/>). The plan does not depend on
/// the budget; it is feasible when its simulated peak fits (the planner checks). Graphs whose tensor names carry
/// no module hierarchy have no blocks: the solver then says so.
/// </summary>
internal sealed class PerBlockSolver : ISolver
{
    public string Name => SolverName.PerBlock;
    public bool IsCanonical => true;

    /// <summary>Why a graph has no per-block plan, in a user's terms.</summary>
    public const string NoBlocksReason =
        "per-block checkpointing needs module paths in tensor names (\"/layer1/layer1.0/conv1/Conv\"), and this graph has none";

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        var strategy = BlockCheckpointing.Strategy(problem.Forward);
        if (strategy is null) return new SolverResult(Name, PlanStatus.NotApplicable, Reason: NoBlocksReason);
        var cost = PaperCostModel.Evaluate(problem.Forward, strategy);
        return new SolverResult(Name, PlanStatus.Feasible, Strategy: strategy, PaperModel: new(cost.PeakBytes, cost.Overhead));
    }
}
