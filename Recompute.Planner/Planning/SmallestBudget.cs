using System.Diagnostics;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>
/// The one answer to "the smallest budget this graph can be planned at", by simulation: <c>plan --min-memory</c> and
/// the infeasible answer's hint (<see cref="ForInfeasible"/>), the report's range, maxbatch, the runtime's error and the
/// library all ask it. The one other search, the optimal solver's own (which its reason quotes), asks this one for the
/// DPs' and greedy's least budgets and is a candidate here for <c>optimal</c>. For a solver or (for <c>auto</c>) its whole portfolio, each
/// candidate comes from one member's own search (the DPs' least budgets in their replayed and paper models,
/// <see cref="OfCanonicalDp"/>; greedy's bisection, <see cref="OfGreedy"/>; chen's and store-all's peaks; for a solver a
/// library registered, the peak of its plan with no limit), and the
/// answer is the least candidate at which the solver asked for then plans: every budget it returns has been planned,
/// and whether a plan fits is the simulator's word (<see cref="SimulationResult.Fits"/>).
/// </summary>
/// <example>
/// <code>
/// long? least = SmallestBudget.Bytes(problem, AutoPortfolio.Name, new SolverOptions());
/// FeasibleBudgetResult? withPlan = SmallestBudget.Find(problem, SolverName.Greedy, new SolverOptions());
/// </code>
/// </example>
public static class SmallestBudget
{
    /// <summary>
    /// The smallest budget at which <paramref name="solverName"/> plans (by simulation), or null when none of the
    /// searches finds one. The budget in <paramref name="options"/> is ignored; pins and other options are kept.
    /// </summary>
    /// <remarks>
    /// The budget is <see cref="Bytes"/>'s, found by trying candidates only for whether a plan fits; the plan is the
    /// solver's full plan at that budget. A full plan can have a smaller peak than the first plan that fits (greedy's
    /// pin search and pin chains keep other buffers), and a search that took that peak as a tighter candidate would
    /// answer another budget than <see cref="Bytes"/>.
    /// </remarks>
    public static FeasibleBudgetResult? Find(PlanningProblem problem, string solverName, SolverOptions options, CancellationToken cancellation = default)
    {
        var found = Search(problem, solverName, options, cancellation, CancellationToken.None).Found;
        if (found is null) return null;
        var plan = RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = found.BudgetBytes }, cancellation);
        return plan.Feasible ? found with { Plan = plan } : found;
    }

    /// <summary>
    /// The budget of <see cref="Find"/> without its plan (the infeasible hint, the report's range, the runtime's
    /// error): the candidates are tried only for whether a plan fits (<see cref="SolverOptions.FeasibilityOnly"/>), so
    /// the bound and the optimal solver's improvement, which cost most of a plan on wide graphs, are not computed.
    /// </summary>
    public static long? Bytes(PlanningProblem problem, string solverName, SolverOptions options, CancellationToken cancellation = default) =>
        Search(problem, solverName, options, cancellation, CancellationToken.None).Found?.BudgetBytes;

    /// <summary>
    /// <see cref="Bytes"/> within a deadline (the infeasible hint under <c>--time-limit</c>). When
    /// <paramref name="deadline"/> fires first, the answer is the least budget a member had already planned at: one at
    /// which the solver asked for plans too (its portfolio, or its family for the exact DP, holds that member's plan),
    /// marked incomplete. <paramref name="cancellation"/> (Ctrl-C) still throws.
    /// </summary>
    public static BudgetSearchResult Within(PlanningProblem problem, string solverName, SolverOptions options,
        CancellationToken deadline, CancellationToken cancellation = default)
    {
        var (found, partial) = Search(problem, solverName, options, cancellation, deadline);
        if (found is not null) return new BudgetSearchResult(found.BudgetBytes, found.Solver, Complete: true);
        // A budget that plans at the largest step is the smallest, however early the search was cut: no schedule needs less.
        if (partial is { } atFloor && problem.Training.Count > 0 && atFloor.Budget == problem.Floor.Bytes)
            return new BudgetSearchResult(atFloor.Budget, atFloor.Solver, Complete: true);
        return partial is { } p ? new BudgetSearchResult(p.Budget, p.Solver, Complete: false) : new BudgetSearchResult(null, null, Complete: !deadline.IsCancellationRequested);
    }

    /// <summary>
    /// The least candidate at which the solver plans, the member whose search found it, and the plan there; or, when
    /// <paramref name="deadline"/> cut the search, no plan and the least candidate gathered so far that the solver is
    /// known to plan at without trying it (<see cref="Vouched"/>). Candidates are tried only for whether a plan fits
    /// (<see cref="SolverOptions.FeasibilityOnly"/>: the plan returned lacks the bound and the improvements).
    /// </summary>
    private static (FeasibleBudgetResult? Found, (long Budget, string Solver)? Partial) Search(PlanningProblem problem, string solverName,
        SolverOptions options, CancellationToken cancellation, CancellationToken deadline)
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
                if (Member(SolverName.DpApprox) && OfCanonicalDp(problem, SolverName.DpApprox, plain, ct) is { } approx)
                    candidates.Add((approx, SolverName.DpApprox));
                // Auto runs the exact DP only on graphs with few enough lower sets: so does its least budget.
                bool exact = Member(SolverName.Dp) && (!auto || LowerSetFamily.CountAll(problem.Forward, Math.Min(options.MaxLowerSets, AutoOptions.Default.ExactLowerSetLimit)) is not null);
                if (exact && OfCanonicalDp(problem, SolverName.Dp, plain, ct) is { } dp)
                    candidates.Add((dp, SolverName.Dp));
            }
            if (Member(SolverName.Greedy))
            {
                long upper = candidates.Count > 0 ? candidates.Min(c => c.Budget) : storeAll;
                if (OfGreedy(problem, plain, upper, ct, planned: b => greedyFound = b) is { } greedy) candidates.Add((greedy, SolverName.Greedy));
            }
            // A solver the service has no search for (one a library registered): the peak of its plan at no limit.
            if (!auto && !AutoPortfolio.Members.Contains(solverName) && RecomputePlanner.Plan(problem, solverName, plain, ct) is { Feasible: true } other)
                candidates.Add((other.Simulation!.PeakBytes, solverName));
            if (solverName == SolverName.Optimal &&
                RecomputePlanner.Plan(problem, SolverName.Optimal, options with { BudgetBytes = 1, WarmStart = null }, ct).Solver.MinFeasibleBudgetBytes is { } own)
                candidates.Add((own, SolverName.Optimal));
            foreach (var (budget, solver) in candidates.Distinct().OrderBy(c => c.Budget).ThenBy(c => c.Solver, StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                var plan = RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = budget, FeasibilityOnly = true }, ct);
                if (!plan.Feasible) continue;
                // A search ends within its own precision (greedy's bisection), above the peak of the plan it found:
                // that peak is a smaller budget when the solver plans there too (VGG-16: 1,237,942,271 B down to
                // 1,233,125,376 B, its largest step, so no schedule needs less).
                long peak = plan.Simulation!.PeakBytes;
                if (peak < budget && RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = peak, FeasibilityOnly = true }, ct) is { Feasible: true } tighter)
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

    /// <summary>
    /// What the answer of a plan that does not fit says about budgets (<c>plan --budget</c>'s hint): the smallest
    /// budget that plans, and with which solver, or when <paramref name="deadline"/> cut the search, a budget known to
    /// plan by then. The optimal solver's own least budget stands for it; any other solver asks <see cref="Within"/>
    /// for itself, and auto's answer stands in when the solver has none. The plan's own best schedule over the budget
    /// may itself be below that figure: then its peak is the answer.
    /// </summary>
    /// <param name="plan">The plan that did not fit (its solver's least feasible budget and closest schedule are used).</param>
    /// <param name="options">The solver's options; only whether a plan fits is asked (<see cref="SolverOptions.FeasibilityOnly"/>),
    /// and <see cref="SolverOptions.Stop"/> is dropped (the deadline bounds the search instead).</param>
    /// <param name="deadline">The end of the time given to the search.</param>
    /// <param name="cancellation">Ctrl-C: throws, unlike the deadline.</param>
    public static InfeasibleHint ForInfeasible(PlanningProblem problem, string solverName, PlanResult plan, SolverOptions options,
        CancellationToken deadline, CancellationToken cancellation = default)
    {
        long? smallest = null, feasible = null;
        string? smallestSolver = null, feasibleSolver = null;
        bool cut = false;
        var hintOptions = options with { FeasibilityOnly = true, Stop = default };
        using var hintEither = CancellationTokenSource.CreateLinkedTokenSource(cancellation, deadline);
        if (solverName == SolverName.Optimal && plan.Solver.MinFeasibleBudgetBytes is { } own) (smallest, smallestSolver) = (own, solverName);
        else
        {
            var found = Within(problem, solverName, hintOptions, deadline, cancellation);
            if (found.BudgetBytes is null && found.Complete && solverName != AutoPortfolio.Name)
            {
                // Auto's answer, found or cut, stands in; a complete search of auto that found nothing leaves the solver's.
                var any = Within(problem, AutoPortfolio.Name, hintOptions, deadline, cancellation);
                if (any.BudgetBytes is not null || !any.Complete) found = any with { Solver = AutoPortfolio.Name };
            }
            else if (found.BudgetBytes is not null) found = found with { Solver = solverName };
            cut = !found.Complete;
            if (found.Complete) (smallest, smallestSolver) = (found.BudgetBytes, found.Solver);
            else (feasible, feasibleSolver) = (found.BudgetBytes, found.Solver);
        }
        try
        {
            if (!cut && plan.Simulation is { } over && (smallest is null || over.PeakBytes < smallest) &&
                RecomputePlanner.Plan(problem, solverName, hintOptions with { BudgetBytes = over.PeakBytes }, hintEither.Token).Feasible)
                (smallest, smallestSolver) = (over.PeakBytes, solverName);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            // Out of time for that one check: the answer found stands.
        }
        return new InfeasibleHint(smallest, smallest is null ? null : smallestSolver, feasible, feasibleSolver, cut);
    }

    /// <summary>
    /// The smallest budget in the solver's own model: the paper model for the canonical DPs (so it compares with the
    /// paper's code), the simulated one for auto and greedy (<see cref="Find"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The solver has no minimum-memory mode.</exception>
    public static MinMemoryResult MinMemory(PlanningProblem problem, string solverName, SolverOptions options,
        CancellationToken cancellation = default)
    {
        var solver = SolverRegistry.Create(solverName);
        if (!RecomputePlanner.Applies(problem, solverName)) throw new ArgumentException(RecomputePlanner.NotApplicableReason(problem, solverName));
        var clock = Stopwatch.StartNew();
        long minBudget;
        if (solver is CanonicalDpSolver dp)
        {
            var found = dp.MinimumBudget(problem, options, cancellation)
                ?? throw new GraphFormatException(problem.Graph.Source, null, problem.Forward.Count == 0
                    ? "has no planned forward tensors: there is nothing to plan, and no smallest budget"
                    : $"the {solverName} DP found no chain of lower sets within 64-bit sizes (the tensors are too large for its sums)");
            minBudget = found.Budget;
        }
        else if (solver is StoreAllSolver or ChenSolver or PerBlockSolver)
        {
            var r = solver.Solve(problem, options with { BudgetBytes = SolverOptions.UnlimitedBudget }, cancellation);
            minBudget = r.PaperModelPeakBytes ?? RecomputePlanner.StoreAllPeak(problem);
        }
        else if (solver is AutoSolver or GreedySolver)
        {
            // Simulated budgets only: the least budget the one service finds, with its plan.
            var found = Find(problem, solverName, options, cancellation)
                ?? throw new InvalidOperationException($"solver '{solverName}' found no plan at any budget");
            clock.Stop();
            return new MinMemoryResult(found.BudgetBytes, found.Plan with { SolveSeconds = clock.Elapsed.TotalSeconds });
        }
        else throw new ArgumentException($"solver '{solverName}' has no minimum-memory mode; use {SolverName.Auto}, {SolverName.Dp}, {SolverName.DpApprox} or {SolverName.Greedy}");
        var plan = RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = minBudget }, cancellation);
        clock.Stop();
        return new MinMemoryResult(minBudget, plan with { SolveSeconds = clock.Elapsed.TotalSeconds });
    }

    /// <summary>
    /// The smallest budget a user can ask of a canonical DP solver and get a plan: the least peak in the replayed
    /// block model, confirmed by planning at it (the simulated peak of that plan).
    /// </summary>
    public static long? OfCanonicalDp(PlanningProblem problem, string solverName, SolverOptions options,
        CancellationToken cancellation = default)
    {
        if (SolverRegistry.Create(solverName) is not CanonicalDpSolver dp || !problem.CanonicalApplies) return null;
        var replay = dp.SizesBlocksByReplay(problem, options) ? dp.MinimumBudget(problem,
            options with { BlockModel = BlockCostModel.Liveness }, cancellation) : null;
        var paper = dp.MinimumBudget(problem, options with { BlockModel = BlockCostModel.Paper }, cancellation);
        long? best = null;
        foreach (var candidate in new[] { replay?.Budget, paper?.Budget })
        {
            if (candidate is not { } b) continue;
            var plan = RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = b }, cancellation);
            if (!plan.Feasible) continue;
            // The budget returned must plan: the schedule's own peak usually does (a tighter answer), but the model
            // that sizes blocks is not the simulator, so asking for that peak can find no chain; then b is the answer.
            long fits = b;
            long peak = plan.Simulation!.PeakBytes;
            if (peak < b && (best is null || peak < best) && RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = peak },
                cancellation).Feasible) fits = peak;
            if (best is null || fits < best) best = fits;
        }
        return best;
    }

    /// <summary>Bisection rounds of <see cref="OfGreedy"/>.</summary>
    private const int GreedyBudgetRounds = 8;

    /// <summary>
    /// The smallest budget the greedy solver plans for, by bisection between the per-task footprint (no schedule
    /// peaks below it) and <paramref name="upper"/>: a budget at which greedy found a schedule, or null when it found
    /// none below <paramref name="upper"/>. General schedules often go well below the canonical DPs' least budget.
    /// </summary>
    /// <param name="planned">Told each budget greedy planned at, as the bisection goes (a caller whose deadline cuts the
    /// search keeps the least of them).</param>
    public static long? OfGreedy(PlanningProblem problem, SolverOptions options, long upper, CancellationToken cancellation = default,
        Action<long>? planned = null)
    {
        long lo = problem.Floor.Bytes - 1, hi = upper;
        long? best = null;
        for (int round = 0; round < GreedyBudgetRounds && hi - lo > Math.Max(1, hi / 200); round++)
        {
            long mid = lo + (hi - lo) / 2;
            if (RecomputePlanner.Plan(problem, SolverName.Greedy, options with { BudgetBytes = mid, FeasibilityOnly = true },
                cancellation).Feasible) { hi = mid; best = mid; planned?.Invoke(mid); }
            else lo = mid;
        }
        return best;
    }
}
