using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>The smallest budget a solver plans at, in the simulated model, with the plan there.</summary>
/// <param name="BudgetBytes">The budget (bytes of activations and their gradients); planning at it succeeds.</param>
/// <param name="Solver">The member whose search found it (for <c>auto</c>: dp-approx, dp, greedy, ...).</param>
/// <param name="Plan">The plan of the solver asked for at <paramref name="BudgetBytes"/> (feasible).</param>
public sealed record FeasibleBudgetResult(long BudgetBytes, string Solver, PlanResult Plan);

/// <summary>What a smallest-budget search found before its deadline (<see cref="FeasibleBudget.SmallestBudgetWithin"/>).</summary>
/// <param name="BudgetBytes">A budget that plans, or null when none was found: the smallest when <paramref name="Complete"/>,
/// otherwise the least one a member had planned at when the deadline came (a larger budget than the search would end with).</param>
/// <param name="Solver">The member whose search found it (null with no budget).</param>
/// <param name="Complete">The search ran to its end, so <paramref name="BudgetBytes"/> is the smallest (or none exists).</param>
public sealed record BudgetSearchResult(long? BudgetBytes, string? Solver, bool Complete);

/// <summary>
/// The one answer to "the smallest budget this graph can be planned at": by simulation, for a solver or (for
/// <c>auto</c>) its whole portfolio. <c>plan --min-memory</c>, the infeasible hint, the report's range, maxbatch and
/// the library all ask it. Each candidate comes from one member's own search (the DPs' least budgets in their
/// replayed and paper models, greedy's bisection, chen's and store-all's peaks), and the answer is the least
/// candidate at which the solver asked for then plans: every budget it returns has been planned.
/// </summary>
public static class FeasibleBudget
{
    /// <summary>
    /// The smallest budget at which <paramref name="solverName"/> plans (by simulation), or null when none of the
    /// searches finds one. The budget in <paramref name="options"/> is ignored; pins and other options are kept.
    /// </summary>
    public static FeasibleBudgetResult? Smallest(PlanningProblem problem, string solverName, SolverOptions options, CancellationToken cancellation = default) =>
        Search(problem, solverName, options, feasibilityOnly: false, cancellation, CancellationToken.None).Found;

    /// <summary>
    /// The budget of <see cref="Smallest"/> without its plan (the infeasible hint, the report's range, the runtime's
    /// error): the candidates are tried only for whether a plan fits (<see cref="SolverOptions.FeasibilityOnly"/>), so
    /// the bound and the optimal solver's improvement, which cost most of a plan on wide graphs, are not computed.
    /// </summary>
    public static long? SmallestBudget(PlanningProblem problem, string solverName, SolverOptions options, CancellationToken cancellation = default) =>
        Search(problem, solverName, options, feasibilityOnly: true, cancellation, CancellationToken.None).Found?.BudgetBytes;

    /// <summary>
    /// <see cref="SmallestBudget"/> within a deadline (the infeasible hint under <c>--time-limit</c>). When
    /// <paramref name="deadline"/> fires first, the answer is the least budget a member had already planned at: one at
    /// which the solver asked for plans too (its portfolio, or its family for the exact DP, holds that member's plan),
    /// marked incomplete. <paramref name="cancellation"/> (Ctrl-C) still throws.
    /// </summary>
    public static BudgetSearchResult SmallestBudgetWithin(PlanningProblem problem, string solverName, SolverOptions options,
        CancellationToken deadline, CancellationToken cancellation = default)
    {
        var (found, partial) = Search(problem, solverName, options, feasibilityOnly: true, cancellation, deadline);
        if (found is not null) return new BudgetSearchResult(found.BudgetBytes, found.Solver, Complete: true);
        // A budget that plans at the largest step is the smallest, however early the search was cut: no schedule needs less.
        if (partial is { } atFloor && problem.Training.Count > 0 && atFloor.Budget == Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes)
            return new BudgetSearchResult(atFloor.Budget, atFloor.Solver, Complete: true);
        return partial is { } p ? new BudgetSearchResult(p.Budget, p.Solver, Complete: false) : new BudgetSearchResult(null, null, Complete: !deadline.IsCancellationRequested);
    }

    /// <summary>
    /// The least candidate at which the solver plans, the member whose search found it, and the plan there; or, when
    /// <paramref name="deadline"/> cut the search, no plan and the least candidate gathered so far that the solver is
    /// known to plan at without trying it (<see cref="Vouched"/>).
    /// </summary>
    /// <param name="feasibilityOnly">Try the candidates only for whether a plan fits (the plan returned then lacks the
    /// bound and the improvements of <see cref="SolverOptions.FeasibilityOnly"/>).</param>
    private static (FeasibleBudgetResult? Found, (long Budget, string Solver)? Partial) Search(PlanningProblem problem, string solverName,
        SolverOptions options, bool feasibilityOnly, CancellationToken cancellation, CancellationToken deadline)
    {
        cancellation.ThrowIfCancellationRequested(); // a caller out of time (plan's hint under --time-limit) gets no search at all
        var plain = options with { WarmStart = null, BudgetBytes = SolverOptions.UnlimitedBudget };
        bool auto = solverName == AutoPortfolio.Name;
        // The exact DP also plans the chains of dp-approx, per-block and chen (its family holds them): their least
        // budgets are its candidates too.
        bool Member(string s) => auto ? s != SolverName.Optimal : s == solverName || InExactFamily(solverName, s);
        var candidates = new List<(long Budget, string Solver)>();
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellation, deadline);
        var ct = either.Token;
        long? greedyFound = null;
        try
        {
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            if (Member(SolverName.StoreAll) && options.ForceRecompute.IsEmpty) candidates.Add((storeAll, SolverName.StoreAll));
            if (problem.CanonicalApplies)
            {
                if (Member(SolverName.Chen) && RecomputePlanner.Plan(problem, SolverName.Chen, plain, ct) is { Feasible: true } chen)
                    candidates.Add((chen.Simulation!.PeakBytes, SolverName.Chen));
                if (Member(SolverName.PerBlock) && RecomputePlanner.Plan(problem, SolverName.PerBlock, plain, ct) is { Feasible: true } block)
                    candidates.Add((block.Simulation!.PeakBytes, SolverName.PerBlock));
                if (Member(SolverName.DpApprox) && RecomputePlanner.SmallestFeasibleBudget(problem, SolverName.DpApprox, plain, ct) is { } approx)
                    candidates.Add((approx, SolverName.DpApprox));
                // Auto runs the exact DP only on graphs with few enough lower sets: so does its least budget.
                bool exact = Member(SolverName.Dp) && (!auto || LowerSetFamily.CountAll(problem.Forward, Math.Min(options.MaxLowerSets, AutoPortfolio.ExactLowerSetLimit)) is not null);
                if (exact && RecomputePlanner.SmallestFeasibleBudget(problem, SolverName.Dp, plain, ct) is { } dp)
                    candidates.Add((dp, SolverName.Dp));
            }
            if (Member(SolverName.Greedy))
            {
                long upper = candidates.Count > 0 ? candidates.Min(c => c.Budget) : storeAll;
                if (RecomputePlanner.SmallestGreedyBudget(problem, plain, upper, ct, planned: b => greedyFound = b) is { } greedy) candidates.Add((greedy, SolverName.Greedy));
            }
            if (solverName == SolverName.Optimal &&
                RecomputePlanner.Plan(problem, SolverName.Optimal, options with { BudgetBytes = 1, WarmStart = null }, ct).Solver.MinFeasibleBudgetBytes is { } own)
                candidates.Add((own, SolverName.Optimal));
            foreach (var (budget, solver) in candidates.Distinct().OrderBy(c => c.Budget).ThenBy(c => c.Solver, StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var plan = RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = budget, FeasibilityOnly = feasibilityOnly }, ct);
                if (!plan.Feasible) continue;
                // A search ends within its own precision (greedy's bisection), above the peak of the plan it found:
                // that peak is a smaller budget when the solver plans there too (VGG-16: 1,237,942,271 B down to
                // 1,233,125,376 B, its largest step, so no schedule needs less).
                long peak = plan.Simulation!.PeakBytes;
                if (peak < budget && RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = peak, FeasibilityOnly = feasibilityOnly }, ct) is { Feasible: true } tighter)
                    return (new FeasibleBudgetResult(peak, solver, tighter), null);
                return (new FeasibleBudgetResult(budget, solver, plan), null);
            }
            return (null, null);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellation.IsCancellationRequested)
        {
            if (greedyFound is { } g) candidates.Add((g, SolverName.Greedy));
            var vouched = candidates.Where(c => Vouched(solverName, c.Solver)).ToList();
            return (null, vouched.Count == 0 ? null : vouched.OrderBy(c => c.Budget).ThenBy(c => c.Solver, StringComparer.Ordinal).First());
        }
    }

    /// <summary>
    /// Whether <paramref name="solverName"/> plans wherever <paramref name="member"/>'s own search planned, without
    /// being tried there: a solver at its own budgets; auto at those of store-all, chen, per-block, dp-approx and greedy,
    /// which it runs to their end with the same options (not the exact DP's, which it runs within a share of its time
    /// limit); the exact DP at those of the chains of its family.
    /// </summary>
    private static bool Vouched(string solverName, string member) =>
        member == solverName
        || (solverName == AutoPortfolio.Name && member is SolverName.StoreAll or SolverName.Chen or SolverName.PerBlock or SolverName.DpApprox or SolverName.Greedy)
        || InExactFamily(solverName, member);

    /// <summary>Whether the solver asked for is the exact DP and <paramref name="member"/> one whose chains its family holds.</summary>
    private static bool InExactFamily(string solverName, string member) =>
        solverName == SolverName.Dp && RecomputePlanner.ChainsOfEveryLowerSet.Contains(member);
}
