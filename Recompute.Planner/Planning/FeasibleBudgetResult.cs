namespace Recompute.Planner.Planning;

/// <summary>The smallest budget a solver plans at, in the simulated model, with the plan there.</summary>
/// <param name="BudgetBytes">The budget (bytes of activations and their gradients); planning at it succeeds.</param>
/// <param name="Solver">The member whose search found it (for <c>auto</c>: dp-approx, dp, greedy, ...).</param>
/// <param name="Plan">The plan of the solver asked for at <paramref name="BudgetBytes"/> (feasible).</param>
public sealed record FeasibleBudgetResult(long BudgetBytes, string Solver, PlanResult Plan);
