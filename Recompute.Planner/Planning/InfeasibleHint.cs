namespace Recompute.Planner.Planning;

/// <summary>What the answer of a plan that does not fit says about budgets (<see cref="SmallestBudget.ForInfeasible"/>).</summary>
/// <param name="SmallestBytes">The smallest budget that plans, when the search ended (null: none found, or cut).</param>
/// <param name="SmallestSolver">The solver that plans at <paramref name="SmallestBytes"/> (the one asked, or auto).</param>
/// <param name="FeasibleBytes">When the deadline cut the search: a budget known to plan by then (not the smallest).</param>
/// <param name="FeasibleSolver">The solver that plans at <paramref name="FeasibleBytes"/>.</param>
/// <param name="Cut">The deadline ended the search before it found the smallest.</param>
public sealed record InfeasibleHint(long? SmallestBytes, string? SmallestSolver, long? FeasibleBytes, string? FeasibleSolver, bool Cut);
