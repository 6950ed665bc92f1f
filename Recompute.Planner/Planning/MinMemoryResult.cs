namespace Recompute.Planner.Planning;

/// <summary>The smallest budget a solver finds a plan for.</summary>
/// <param name="MinBudgetBytes">In the solver's own model (the paper model for the canonical DPs).</param>
/// <param name="Plan">The plan at that budget (its simulated peak is at most the budget).</param>
public sealed record MinMemoryResult(long MinBudgetBytes, PlanResult Plan);
