namespace Recompute.Planner.Planning;

/// <summary>What a smallest-budget search found before its deadline (<see cref="SmallestBudget.Within"/>).</summary>
/// <param name="BudgetBytes">A budget that plans, or null when none was found: the smallest when <paramref name="Complete"/>,
/// otherwise the least one a member had planned at when the deadline came (a larger budget than the search would end with).</param>
/// <param name="Solver">The member whose search found it (null with no budget).</param>
/// <param name="Complete">The search ran to its end, so <paramref name="BudgetBytes"/> is the smallest (or none exists).</param>
public sealed record BudgetSearchResult(long? BudgetBytes, string? Solver, bool Complete);
