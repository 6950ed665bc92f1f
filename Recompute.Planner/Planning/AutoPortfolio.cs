using System.Diagnostics;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Planner.Planning;

/// <summary>
/// The default solver, <c>auto</c>: the best simulated plan of a portfolio, chosen by the objective. The members run
/// in this order with the caller's options: store-all (the answer, unchanged, whenever it fits under the time
/// objective), chen, per-block (graphs with module paths), dp-approx, greedy (also over the first-run orders of the
/// plans found so far), dp (when the graph has at most <see cref="AutoOptions.ExactLowerSetLimit"/> lower sets, within
/// <see cref="TimeShares.ExactDp"/> of the time limit, counted as work: <see cref="DpWork"/>; before greedy when only
/// feasibility is asked), then the optimal solver warm-started with every plan found, for the time left. Each member's plan is the
/// one that member returns on its own with the same options, so the winner is never worse than any of them.
/// </summary>
/// <remarks>
/// <see cref="SolverOptions.TimeLimit"/> bounds the exact DP's share and the optimal solver's improvement as counted
/// work; the other members are polynomial and run to their end, so a very small limit gives the best of store-all,
/// chen, dp-approx and greedy. <see cref="SolverOptions.Stop"/> (set by <c>plan</c> at the end of the limit) is the wall
/// clock's last word: it stops whichever member runs, and the note names what it cut. On DAGs of
/// <see cref="LargeGraphMemory.Tasks"/> tasks or more greedy runs right after chen. The command line's default limit
/// for auto is <see cref="DefaultTimeLimit"/>.
/// </remarks>
public static class AutoPortfolio
{
    /// <summary>The portfolio's name on the command line.</summary>
    public const string Name = SolverName.Auto;

    /// <summary>The portfolio's settings (<see cref="AutoOptions"/>: each with its default).</summary>
    public static AutoOptions Settings => AutoOptions.Default;

    /// <summary>The command line's time limit for auto when none is given (<see cref="AutoOptions.TimeLimit"/>).</summary>
    public static TimeSpan DefaultTimeLimit => Settings.TimeLimit;

    /// <summary>How the time limit is shared (<see cref="AutoOptions.Shares"/>).</summary>
    public static TimeShares Shares => Settings.Shares;

    /// <summary>The members in the order they run.</summary>
    public static IReadOnlyList<string> Members { get; } = [SolverName.StoreAll, SolverName.Chen, SolverName.PerBlock, SolverName.DpApprox, SolverName.Greedy, SolverName.Dp, SolverName.Optimal];

    /// <summary>One member's plan at the budget (an infeasible one too, for the record).</summary>
    private sealed record Entry(string Solver, PlanResult Plan);

    /// <summary>
    /// Plans with the portfolio. <paramref name="candidates"/> are more schedules to consider (a sweep passes the
    /// plans it found at smaller budgets, which fit at every larger one); each is simulated again at this budget.
    /// </summary>
    public static PlanResult Plan(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default,
        IEnumerable<(string Solver, Schedule Schedule)>? candidates = null)
    {
        var clock = Stopwatch.StartNew();
        long budget = options.BudgetBytes;
        var storeAll = RecomputePlanner.StoreAll(problem);
        long storeAllPeak = storeAll.Simulation.PeakBytes;
        var entries = new List<Entry>();
        var notes = new List<string>();
        // The command's wall-clock stop (SolverOptions.Stop): a member it cuts adds nothing, and the note names it.
        var stop = options.Stop;
        bool Stopped() => stop.IsCancellationRequested && !cancellation.IsCancellationRequested;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellation, stop);
        var ct = either.Token;
        var cut = new List<string>();
        void Member(string solver, Func<CancellationToken, PlanResult> run)
        {
            if (Stopped()) { cut.Add(solver); return; }
            try { entries.Add(new Entry(solver, run(ct))); }
            catch (OperationCanceledException) when (Stopped()) { cut.Add(solver); }
            LargeGraphMemory.Collect(problem.Training);
        }

        // Store-all keeps every tensor (so honours --keep) but no --recompute pin.
        if (options.ForceRecompute.IsEmpty)
        {
            var plan = Fixed(problem, SolverName.StoreAll, storeAll.Schedule, storeAll.Simulation, budget, storeAllPeak);
            // Nothing to recompute is optimal over every schedule: exactly store-all wherever it fits.
            if (plan.Feasible && options.Objective == Objective.Time && storeAll.Simulation.RecomputeTime == 0)
                return Finish(plan, SolverName.StoreAll, clock, proven: true);
            entries.Add(new Entry(SolverName.StoreAll, plan));
        }
        foreach (var (solver, schedule) in candidates ?? [])
            if (ReferenceEquals(schedule.Training, problem.Training))
                entries.Add(new Entry(solver, Fixed(problem, solver, schedule, Simulator.Measure(schedule with { BudgetBytes = budget }), budget, storeAllPeak)));

        // Greedy over its own first-run orders (so never worse than --solver greedy) and those of the plans so far.
        // On very large DAGs it runs right after chen: there the DPs take minutes where greedy's passes are linear and
        // win (long chains), so a wall-clock stop should cut the DPs, not greedy.
        bool greedyEarly = problem.Training.Count >= LargeGraphMemory.Tasks && !options.FeasibilityOnly;
        bool greedyRan = false;
        void RunGreedy()
        {
            greedyRan = true;
            var orders = entries.Where(e => e.Plan.Feasible).Select(e => StageOrder.FirstRunOrder(e.Plan.Schedule!)).ToList();
            // Greedy's work is bounded by its own budget (so it is deterministic); the wall clock stops it only at
            // WallClockSafety times the limit from auto's start, and the note then says the plan may differ between runs.
            using var greedyLimit = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var greedyLeft = options.TimeLimit * Settings.WallClockSafety - clock.Elapsed;
            if (options.TimeLimit < TimeSpan.FromDays(1)) greedyLimit.CancelAfter(greedyLeft > TimeSpan.Zero ? greedyLeft : TimeSpan.Zero);
            var greedy = Stopped() ? null : GreedySolver.Search(problem.Training, orders, options, SolverName.Greedy, 0, cancellation, greedyLimit.Token, notes);
            if (Stopped()) cut.Add(SolverName.Greedy);
            else if (greedyLimit.IsCancellationRequested) notes.Add($"greedy was stopped by the wall clock at {Settings.WallClockSafety:0.#} times the time limit (this plan may differ between runs)");
            entries.Add(new Entry(SolverName.Greedy, greedy is { } g
                ? new PlanResult(new SolverResult(SolverName.Greedy, PlanStatus.Feasible, Schedule: g.Schedule), g.Schedule with { BudgetBytes = budget }, g.Simulation, budget, storeAllPeak, 0)
                : new PlanResult(new SolverResult(SolverName.Greedy, PlanStatus.Infeasible, Reason: "the greedy pass found no schedule that fits"), null, null, budget, storeAllPeak, 0)));
        }

        // The bound for every schedule depends on the budget (the plan only guides where its relaxations look): it is
        // proved right after greedy, before the exact DP and the optimal phase, so that where the clock is short those
        // (whose plans rarely beat greedy's) are what it cuts, not the bound. Its notes keep their place after the
        // optimal phase's.
        (GeneralBoundRun? Run, List<string> Notes)? bound = null;
        (GeneralBoundRun? Run, List<string> Notes) ProveBound(Schedule? plan)
        {
            GeneralBoundRun? general = null;
            var said = new List<string>();
            if (Stopped()) cut.Add("the bound");
            else
            {
                try
                {
                    general = GeneralBound.Prove(problem.Training, budget, OptimalSolver.KeepTasks(problem.Training, options),
                        options.TimeLimit * Shares.Bound, options.RelaxationWorkers, options.Seed, ct, plan: plan);
                }
                catch (OperationCanceledException) when (Stopped()) { }
                if (Stopped())
                {
                    // What the relaxations proved before the stop still bounds every schedule; only its value depends on
                    // when the stop came, which the note says.
                    if (general is { Bound: > 0 }) { general = general with { Stopped = true }; cut.Add("the bound (it holds what was proved by then)"); }
                    else { general = null; cut.Add("the bound"); }
                }
            }
            if (!Stopped() && GeneralBound.WhyNone(problem.Training, options.TimeLimit * Shares.Bound, general) is { } why && general?.WallClockCut != true) said.Add(why);
            if (general?.WallClockCut == true && !general.Stopped)
                said.Add("a search of the bound did not finish its share of the work in time, so its bound was set aside (it would differ between runs); a longer --time-limit gives it the time");
            return (general, said);
        }
        if (problem.CanonicalApplies)
        {
            Member(SolverName.Chen, c => RecomputePlanner.Plan(problem, SolverName.Chen, options, c));
            if (greedyEarly) RunGreedy();
            Member(SolverName.PerBlock, c => RecomputePlanner.Plan(problem, SolverName.PerBlock, options, c));
            Member(SolverName.DpApprox, c => RecomputePlanner.Plan(problem, SolverName.DpApprox, options, c));
            // Greedy and the bound before the exact DP: greedy's plan is the portfolio's best on nearly every graph, so
            // where a slower machine's stop comes before auto's counted work is done, it cuts the exact DP's share.
            // A feasibility question keeps the exact DP first: on small graphs it answers sooner than greedy's search.
            if (!greedyRan && !options.FeasibilityOnly)
            {
                RunGreedy();
                if (Best(entries, options.Objective) is { } sofar && sofar.Plan.Simulation!.RecomputeTime > 0 && !cancellation.IsCancellationRequested)
                    bound = ProveBound(sofar.Plan.Schedule);
            }
            long lowerSetLimit = Math.Min(options.MaxLowerSets, Settings.ExactLowerSetLimit);
            if (LowerSetFamily.CountAll(problem.Forward, lowerSetLimit) is not null)
            {
                // Its share of the limit is work (DpWork), so where it stops does not depend on the machine's load;
                // the wall clock stops it only at WallClockSafety times that share.
                var share = options.TimeLimit * Shares.ExactDp;
                using var exactLimit = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var deadline = Deadline.Start(exactLimit, share * Settings.WallClockSafety);
                try
                {
                    if (Stopped()) cut.Add(SolverName.Dp);
                    else entries.Add(new Entry(SolverName.Dp, RecomputePlanner.Plan(problem, SolverName.Dp, options with { DpWork = DpWork.For(share), FamilyChainsPlanned = true }, exactLimit.Token)));
                }
                catch (OperationCanceledException) when (Stopped()) { cut.Add(SolverName.Dp); }
                catch (DpWorkLimitException)
                {
                    notes.Add("the exact DP was stopped at its share of the time limit (a longer --time-limit lets it finish)");
                }
                catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                {
                    notes.Add($"the exact DP was stopped by the wall clock at {Settings.WallClockSafety:0.#} times its share of the time limit (a busy machine; this plan may differ between runs)");
                }
            }
            else notes.Add($"dp not run (more than {lowerSetLimit} lower sets)");
        }
        cancellation.ThrowIfCancellationRequested();
        // A caller that asks only whether a plan fits has its answer once one member's plan fits (the portfolio fits
        // exactly when some member does): here, or after greedy.
        if (options.FeasibilityOnly && Best(entries, options.Objective) is { } fits) return Finish(fits.Plan, fits.Solver, clock, proven: false);

        if (!greedyRan) RunGreedy();

        var best = Best(entries, options.Objective);
        if (options.FeasibilityOnly && best is not null) return Finish(best.Plan, best.Solver, clock, proven: false);
        if (bound is null && best is not null && best.Plan.Simulation!.RecomputeTime > 0 && !cancellation.IsCancellationRequested) bound = ProveBound(best.Plan.Schedule);
        // Shares of the limit, not of what the wall clock left: the same input gives the same plan on a busy machine.
        var optimalTime = options.TimeLimit * Shares.Search;
        bool worthOptimal = best is null ? problem.Training.Count <= Settings.OptimalWithoutPlanTaskLimit : best.Plan.Simulation!.RecomputeTime > 0;
        OptimalRun? optimal = null;
        if (options.Objective == Objective.Time && worthOptimal && optimalTime >= Settings.MinimumOptimalTime && !cancellation.IsCancellationRequested && !Stopped())
        {
            var given = entries.Where(e => e.Plan.Feasible).Select(e => (e.Solver, e.Plan.Schedule!)).ToList();
            try
            {
                optimal = new OptimalSolver(PlannerPlanSource.Instance) { GivenWarmStarts = given, Options = OptimalOptions.Default with { WorkLimited = true, ProvesGeneralBound = false } }
                    .Run(problem, options with { TimeLimit = optimalTime, WarmStart = null }, ct);
            }
            catch (OperationCanceledException) when (Stopped()) { }
            // What a search the clock stopped found depends on the load: set aside.
            if (Stopped()) { optimal = null; cut.Add(SolverName.Optimal); }
            else if (optimal!.WallClockCut)
                notes.Add("the optimal solver's CP-SAT search did not finish its share of the work in time, so what it found was set aside (it would differ between runs); a longer --time-limit gives it the time");
            if (optimal is not null && optimal.Result.Feasible)
            {
                var r = optimal.Result;
                var schedule = r.Schedule! with { BudgetBytes = budget };
                var sim = Simulator.Measure(schedule);
                // The optimal solver returns the best warm start when CP-SAT finds nothing better: that plan is
                // still the warm start's (the winner is named after it), with the optimal solver's bound.
                string winner = optimal.FromWarmStart && optimal.WarmStart is { } w ? w : SolverName.Optimal;
                if (sim.Fits(budget) && (best is null || sim.RecomputeTime <= best.Plan.Simulation!.RecomputeTime))
                {
                    var from = best is not null && winner == best.Solver ? best.Plan : null;
                    var plan = new PlanResult(
                        (from?.Solver ?? r) with
                        {
                            Bound = r.Bound,
                            // A proof covers the optimal solver's stage model: the status says so only with gap 0.
                            Status = r.Status == PlanStatus.Optimal ? PlanStatus.Optimal : from?.Solver.Status ?? PlanStatus.Feasible,
                            Claim = r.Status == PlanStatus.Optimal || from is null ? r.Claim ?? from?.Solver.Claim : from.Solver.Claim,
                        },
                        from?.Schedule ?? schedule, from?.Simulation ?? sim, budget, storeAllPeak, 0)
                    { SolverBudgetBytes = from?.SolverBudgetBytes ?? budget };
                    entries.Add(new Entry(winner, plan));
                    best = new Entry(winner, plan);
                }
            }
        }
        else if (options.Objective == Objective.Time && worthOptimal && Stopped()) cut.Add(SolverName.Optimal);
        else if (options.Objective == Objective.Time && worthOptimal && best is not null && optimalTime < Settings.MinimumOptimalTime)
            notes.Add($"the optimal solver did not run: its share of --time-limit is under {Settings.MinimumOptimalTime.TotalSeconds:0} s");

        if (best is null)
        {
            // Nothing fits: the member that came closest says why.
            var closest = entries.Where(e => e.Plan.Simulation is not null).MinBy(e => e.Plan.Simulation!.PeakBytes);
            // The smallest feasible budget is the one service's to say (SmallestBudget), not the optimal solver's.
            string why = closest?.Plan.Solver.Reason ?? optimal?.Result.Reason ?? "no member of the portfolio found a plan";
            var ran = entries.Select(e => e.Solver).Concat(optimal is null ? [] : [SolverName.Optimal]).Distinct();
            var none = new SolverResult(Name, optimal?.Result.Status == PlanStatus.Unknown || cut.Count > 0 ? PlanStatus.Unknown : PlanStatus.Infeasible,
                Reason: cut.Count > 0
                    ? $"no member of the portfolio found a plan before the time limit stopped {string.Join(", ", cut)} (raise --time-limit)"
                    : $"no solver of the portfolio ({string.Join(", ", ran)}) fits the budget; the closest, {closest?.Solver ?? "none"}: {why}");
            return new PlanResult(none, closest?.Plan.Schedule, closest?.Plan.Simulation, budget, storeAllPeak, clock.Elapsed.TotalSeconds);
        }
        var result = Finish(best.Plan, best.Solver, clock, proven: false);
        if (best.Plan.Simulation!.RecomputeTime > 0 && !cancellation.IsCancellationRequested)
        {
            bound ??= ProveBound(best.Plan.Schedule);
            notes.AddRange(bound.Value.Notes);
            result = result with
            {
                Solver = GeneralBound.Attach(result.Solver, problem.Training, best.Plan.Simulation.RecomputeTime, bound.Value.Run),
                SolveSeconds = clock.Elapsed.TotalSeconds,
            };
        }
        if (cut.Count > 0)
            notes.Add($"the time limit's wall clock stopped {string.Join(", ", cut.Distinct())} (a busy machine or a very large graph; this plan may differ between runs, and a longer --time-limit gives them the time)");
        // Every plan carries a bound: without a proven one, that no schedule runs a task less than once (0 recomputed).
        if (result.Solver.LowerBound is null && result.Simulation is { } simulated)
            result = result with { Solver = OptimalSolver.WithGap(result.Solver, problem.Training, simulated.RecomputeTime, 0, BoundSource.OneRunOfEveryTask) };
        return notes.Count == 0 ? result : result with { Solver = result.Solver with { Note = string.Join("; ", new[] { result.Solver.Note }.Where(n => n is not null).Concat(notes)) } };
    }

    /// <summary>A fixed schedule as a plan at the budget.</summary>
    private static PlanResult Fixed(PlanningProblem problem, string solver, Schedule schedule, SimulationResult sim, long budget, long storeAllPeak)
    {
        bool fits = sim.Fits(budget);
        var result = new SolverResult(solver, fits ? PlanStatus.Feasible : PlanStatus.Infeasible, Schedule: schedule,
            Reason: fits ? null : $"its schedule needs {sim.PeakBytes} bytes, more than the budget of {budget} bytes");
        return new PlanResult(result, schedule with { BudgetBytes = budget }, sim, budget, storeAllPeak, 0);
    }

    /// <summary>
    /// The best feasible entry: least recomputation (then least peak) under the time objective, least peak (then
    /// least recomputation) under the memory objective; ties go to the member that ran first.
    /// </summary>
    private static Entry? Best(List<Entry> entries, Objective objective)
    {
        Entry? best = null;
        foreach (var e in entries)
        {
            if (!e.Plan.Feasible) continue;
            if (best is null) { best = e; continue; }
            var (s, b) = (e.Plan.Simulation!, best.Plan.Simulation!);
            bool better = objective == Objective.Time
                ? s.RecomputeTime < b.RecomputeTime || (s.RecomputeTime == b.RecomputeTime && s.PeakBytes < b.PeakBytes)
                : s.PeakBytes < b.PeakBytes || (s.PeakBytes == b.PeakBytes && s.RecomputeTime < b.RecomputeTime);
            if (better) best = e;
        }
        return best;
    }

    /// <summary>The winner's plan under auto's name; a plan that recomputes nothing is proven optimal (bound 0).</summary>
    private static PlanResult Finish(PlanResult plan, string winner, Stopwatch clock, bool proven)
    {
        var r = plan.Solver with { Solver = Name, WinningSolver = winner };
        if (proven || (plan.Simulation!.RecomputeTime == 0 && r.LowerBound is null))
            r = r with { Status = PlanStatus.Optimal, Bound = PlanBound.Of(plan.Schedule!.Training, 0, 0, BoundSource.NoRecomputation), Claim = null };
        return plan with { Solver = r, SolveSeconds = clock.Elapsed.TotalSeconds };
    }
}

/// <summary>The <c>auto</c> portfolio behind the solver interface (<see cref="AutoPortfolio"/>).</summary>
public sealed class AutoSolver : ISolver
{
    public string Name => AutoPortfolio.Name;
    public bool IsCanonical => false;

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        var plan = AutoPortfolio.Plan(problem, options, cancellation);
        if (plan.Feasible) return plan.Solver with { Schedule = plan.Schedule, Strategy = null };
        return plan.Solver.Feasible ? plan.Solver with { Status = PlanStatus.Infeasible, Claim = null } : plan.Solver;
    }
}
