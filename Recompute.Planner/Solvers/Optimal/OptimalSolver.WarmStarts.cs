using System.Diagnostics;
using Google.OrTools.Sat;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Units;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>The optimal solver's warm starts: the plans of the other solvers that fit, and the pins they must honour.</summary>
internal sealed partial class OptimalSolver
{
    /// <summary>A candidate warm start: a schedule that fits the budget and its simulation.</summary>
    private sealed record WarmStart(string Name, int Rank, Schedule Schedule, SimulationResult Simulation);

    /// <summary>
    /// Plans that fit: the given warm start, store-all, the greedy pass (any DAG), dp-approx and dp (when the
    /// canonical solvers apply). <paramref name="exactDp"/> says what became of the exact DP: "finished",
    /// "stopped after N s (half the time limit)", "not run (more than N lower sets)", "not applicable" or "not needed".
    /// </summary>
    private List<WarmStart> WarmStarts(PlanningProblem problem, SolverOptions options, TimeSpan share, CancellationToken ct, out string exactDp)
    {
        if (GivenWarmStarts is { } plans) return Given(problem, options, plans, out exactDp);
        var list = new List<WarmStart>();
        exactDp = "not needed";
        long budget = options.BudgetBytes;
        var canonical = options with { WarmStart = null, Objective = Objective.Time };
        if (options.WarmStart is { } given && ReferenceEquals(given.Training, problem.Training))
        {
            var sim = Simulator.Measure(given with { BudgetBytes = budget });
            if (sim.Fits(budget) && Honours(given, options)) list.Add(new WarmStart("given", 0, given, sim));
        }
        if (options.ForceRecompute.IsEmpty)
        {
            var (schedule, sim) = problem.StoreAll;
            if (sim.Fits(budget)) list.Add(new WarmStart(SolverName.StoreAll, 1, schedule, sim));
        }
        if (list.Any(w => w.Simulation.RecomputeTime == 0)) return list;
        if (!problem.CanonicalApplies)
        {
            exactDp = "not applicable";
            AddGreedy(problem, options, list);
            return list;
        }
        // dp-approx is polynomial and fast: it runs to the end even when the caller cancels, so a cancelled search
        // still returns a plan. The exact DP runs when the graph has few enough lower sets.
        var approx = planner.Plan(problem, SolverName.DpApprox, canonical, CancellationToken.None);
        if (approx is { Feasible: true } a && Honours(a.Schedule, options)) list.Add(new WarmStart(SolverName.DpApprox, 3, a.Schedule, a.Simulation));
        using var exactLimit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Work-limited runs count the DP's share as work (DpWork); the wall clock stops it only at DpWork.WallClockSafety times it.
        using var deadline = Deadline.Start(exactLimit, Options.WorkLimited ? share * DpWork.WallClockSafety : share);
        long lowerSetLimit = Math.Min(options.MaxLowerSets, Options.WarmStartLowerSetLimit);
        try
        {
            var exact = planner.Plan(problem, SolverName.Dp, canonical with { MaxLowerSets = lowerSetLimit, DpWork = Options.WorkLimited ? DpWork.For(share) : null }, exactLimit.Token);
            exactDp = "finished";
            if (exact is { Feasible: true } e && Honours(e.Schedule, options)) list.Add(new WarmStart(SolverName.Dp, 2, e.Schedule, e.Simulation));
        }
        catch (LowerSetLimitException)
        {
            // Too many lower sets for the exact DP: dp-approx alone warm-starts the search.
            exactDp = $"not run (more than {lowerSetLimit.ToString(System.Globalization.CultureInfo.InvariantCulture)} lower sets)";
        }
        catch (OperationCanceledException)
        {
            // Out of its share of the time, or the caller cancelled: the search goes on with what it has.
            exactDp = ct.IsCancellationRequested ? "stopped (cancelled)"
                : $"stopped after {share.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} s (half the time limit)";
        }
        AddGreedy(problem, options, list);
        if (list.Count == 0)
        {
            // The DP's plans at this budget do not fit (the paper's model differs from the simulator's): its plans
            // for somewhat smaller budgets may fit, and its least-memory plan fits if any canonical plan does.
            for (int step = 1; step <= 12 && list.Count == 0; step++)
            {
                var plan = planner.Plan(problem, SolverName.DpApprox, canonical with { BudgetBytes = (long)(budget * (1 - 0.03 * step)) }, CancellationToken.None);
                if (plan is { } p && p.Simulation.Fits(budget) && Honours(p.Schedule, options))
                    list.Add(new WarmStart(SolverName.DpApprox, 3, p.Schedule, p.Simulation));
            }
            try
            {
                var min = planner.MinMemory(problem, SolverName.DpApprox, canonical with { BudgetBytes = SolverOptions.UnlimitedBudget }, CancellationToken.None);
                if (list.Count == 0 && min is { } m && m.Simulation.Fits(budget) && Honours(m.Schedule, options))
                    list.Add(new WarmStart(SolverName.DpApprox, 4, m.Schedule, m.Simulation));
            }
            catch (InvalidOperationException)
            {
                // No chain of lower sets (empty forward graph).
            }
        }
        return list;
    }

    /// <summary>The caller's plans that fit and honour the pins, and store-all when it fits.</summary>
    private static List<WarmStart> Given(PlanningProblem problem, SolverOptions options, IReadOnlyList<(string Solver, Schedule Schedule)> given, out string exactDp)
    {
        exactDp = "given by the caller";
        long budget = options.BudgetBytes;
        var list = new List<WarmStart>();
        if (options.ForceRecompute.IsEmpty)
        {
            var (schedule, sim) = problem.StoreAll;
            if (sim.Fits(budget)) list.Add(new WarmStart(SolverName.StoreAll, 1, schedule, sim));
        }
        int rank = 2;
        foreach (var (solver, schedule) in given)
        {
            if (!ReferenceEquals(schedule.Training, problem.Training)) continue;
            var sim = Simulator.Measure(schedule with { BudgetBytes = budget });
            if (sim.Fits(budget) && Honours(schedule, options)) list.Add(new WarmStart(solver, rank++, schedule, sim));
        }
        return list;
    }

    /// <summary>
    /// The greedy rematerializer's best plan (<see cref="GreedySolver.Search"/>), also over the first-run orders of
    /// the plans found so far. It runs to its end even when the caller cancels (it takes about a second at most).
    /// </summary>
    private static void AddGreedy(PlanningProblem problem, SolverOptions options, List<WarmStart> list)
    {
        var orders = list.Select(w => StageOrder.FirstRunOrder(w.Schedule)).ToList();
        var greedy = GreedySolver.Search(problem.Training, orders, options, SolverName.Greedy, 0, CancellationToken.None);
        if (greedy is { } g && Honours(g.Schedule, options)) list.Add(new WarmStart(SolverName.Greedy, 5, g.Schedule, g.Simulation));
    }

    /// <summary>
    /// More rounds of <see cref="GreedySolver.Search"/> with other seeds of the order search (its results vary
    /// with the seed by a factor of three on the 500-task random graph): ⌊limit / <see cref="OptimalOptions.SecondsPerGreedyRound"/>⌋
    /// rounds at most (at most 30; a count fixed by the limit, so the result is reproducible unless the wall
    /// clock or a cancellation cuts it), stopping at the limit.
    /// </summary>
    private WarmStart MoreGreedy(PlanningProblem problem, SolverOptions options, WarmStart best, Stopwatch clock, TimeSpan deadline, CancellationToken ct)
    {
        if (best.Simulation.RecomputeTime == 0) return best;
        // Work-limited runs cannot time their rounds: a round is taken to cost SecondsPerGreedyRound per 200 tasks.
        double perRound = Options.WorkLimited ? Options.SecondsPerGreedyRound * Math.Max(1, problem.Training.Count / 200.0) : Options.SecondsPerGreedyRound;
        int rounds = (int)Math.Min(30, options.TimeLimit.TotalSeconds / perRound);
        var longest = TimeSpan.Zero;
        for (int round = 1; round <= rounds; round++)
        {
            // A round is not started when the longest so far would not fit in the time left.
            if (ct.IsCancellationRequested || clock.Elapsed + longest >= deadline) break;
            var started = clock.Elapsed;
            try
            {
                var found = GreedySolver.Search(problem.Training, [], options with { Seed = options.Seed + 2 * round }, SolverName.Greedy, round, ct);
                if (found is { } g && g.Simulation.RecomputeTime < best.Simulation.RecomputeTime && Honours(g.Schedule, options))
                    best = new WarmStart(SolverName.Greedy, 5, g.Schedule, g.Simulation);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            if (clock.Elapsed - started > longest) longest = clock.Elapsed - started;
        }
        return best;
    }

    /// <summary>Whether a schedule respects the pins as the stage model reads them.</summary>
    private static bool Honours(Schedule schedule, SolverOptions options)
    {
        var tasks = schedule.Training.Tasks;
        var live = new bool[tasks.Length];
        bool gapSeen = false;
        foreach (var s in schedule.Steps)
        {
            var t = tasks[s.Task];
            if (s.Kind == StepKind.Backward && !gapSeen)
            {
                gapSeen = true;
                for (int i = 0; i < live.Length; i++)
                    if (live[i] && tasks[i].Kind == TaskKind.Forward && options.ForceRecompute.Contains(tasks[i].Node)) return false;
            }
            if (s.Allocates) live[s.Task] = true; else live[s.Task] = false;
            if (s.Kind == StepKind.Recompute && options.Keep.Contains(t.Node)) return false;
        }
        // A backward task run twice is a recomputation too.
        var seen = new HashSet<int>();
        foreach (var s in schedule.Steps)
            if (s.Kind == StepKind.Backward && !seen.Add(s.Task) && options.Keep.Contains(tasks[s.Task].Node)) return false;
        return true;
    }

    private static HashSet<int> KeepPositions(StageOrder order, SolverOptions options) =>
        Enumerable.Range(0, order.Count).Where(p => options.Keep.Contains(order.Training.Tasks[order.TaskAt[p]].Node)).ToHashSet();

    private static HashSet<int> ForceRecomputePositions(StageOrder order, SolverOptions options) =>
        Enumerable.Range(0, order.Count).Where(p =>
        {
            var t = order.Training.Tasks[order.TaskAt[p]];
            return t.Kind == TaskKind.Forward && options.ForceRecompute.Contains(t.Node);
        }).ToHashSet();
}
