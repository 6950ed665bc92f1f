using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>
/// No recomputation: every tensor is its own block, so every tensor with a reader is a checkpoint
/// (<c>--solver store-all</c>). Feasible when its simulated peak fits the budget. For a problem taken as given
/// (<see cref="PlanningProblem.AsGiven"/>) it is the file's order run once.
/// </summary>
internal sealed class StoreAllSolver : ISolver
{
    public string Name => SolverName.StoreAll;
    public bool IsCanonical => true;

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        // As given, store-all is the file's order run once (the reference of the Checkmate/Moccasin protocol).
        if (problem.AsGiven)
            return new SolverResult(Name, PlanStatus.Feasible, Schedule: problem.StoreAll.Schedule);
        // The strategy is reported for the paper model; the schedule keeps what the strategy's lowering would
        // recompute (tensors only backward reads), so store-all recomputes nothing. It is the problem's store-all
        // schedule, lowered once for every caller.
        var strategy = CanonicalStrategy.EveryTensor(problem.Forward);
        var cost = PaperCostModel.Evaluate(problem.Forward, strategy);
        return new SolverResult(Name, PlanStatus.Feasible, Strategy: strategy,
            Schedule: problem.StoreAll.Schedule,
            PaperModel: new(cost.PeakBytes, cost.Overhead));
    }
}
