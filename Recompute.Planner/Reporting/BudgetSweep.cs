using System.Collections.Immutable;
using System.Diagnostics;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Planner.Reporting;

/// <summary>Settings of a budget sweep (<c>recompute report</c>).</summary>
public sealed record SweepOptions
{
    /// <summary>Solvers to run ("store-all", "chen", "per-block", "dp-approx", "dp", "greedy", "optimal", "auto", or a series name such
    /// as "dp-approx/memory"); null runs every applicable one.</summary>
    public IReadOnlyList<string>? Solvers { get; init; }
    /// <summary>Number of budgets from the smallest feasible one to the store-all peak.</summary>
    public int Points { get; init; } = 25;
    /// <summary>Time limit of the optimal solver and of auto at each budget.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>The exact DP joins the default set when the graph has at most this many lower sets.</summary>
    public long LowerSetLimit { get; init; } = 5_000;
    /// <summary>The optimal solver joins the default set when the graph has at most this many planned tensors
    /// (past that it rarely finds a plan within a per-point limit).</summary>
    public int OptimalTensorLimit { get; init; } = 100;
    /// <summary>Budget of the plan drawn on the timeline ("2GiB", "40%"); null: the middle of the sweep.</summary>
    public string? TimelineBudget { get; init; }
    /// <summary>Per-solver settings (time buckets, threads, seed); the budget and objective are set per point.</summary>
    public SolverOptions Solver { get; init; } = new();
    /// <summary>The budget guide that opens the report (device sizes, optimizer, the graph at other batches); null: none.</summary>
    public GuideOptions? Guide { get; init; }
    /// <summary>Draw auto with offloading to host memory too (series <see cref="BudgetSweep.OffloadSeries"/>), and
    /// time the timeline's plan with it; null: no offloading.</summary>
    public OffloadOptions? Offload { get; init; }
}

/// <summary>How far a sweep is: <paramref name="Done"/> of <paramref name="Total"/> points, the last one finished.</summary>
public readonly record struct SweepProgress(int Done, int Total, string Series, long BudgetBytes);

/// <summary>
/// Sweeps budgets from the smallest one dp-approx can plan for up to the store-all peak, with every applicable
/// solver, and proves each plan by simulation. The report grows one point at a time (a callback sees each
/// intermediate report, so a caller can save it: an interrupted sweep keeps the points it finished).
/// </summary>
public static class BudgetSweep
{
    /// <summary>Parameter name of the <see cref="ArgumentException"/> thrown for a bad solver list.</summary>
    public const string SolversParameter = "solvers";

    /// <summary>The series of auto with offloading (<see cref="SweepOptions.Offload"/>).</summary>
    public const string OffloadSeries = "auto+offload";

    /// <summary>Names accepted by <see cref="SweepOptions.Solvers"/> besides series names: every registered solver, in sweep order.</summary>
    public static readonly ImmutableArray<string> SolverNames = [.. SolverRegistry.SweepOrder.Select(d => d.Name)];

    /// <summary>The series a sweep will run, in the order they run and are drawn (<see cref="SolverRegistry.SweepOrder"/>).</summary>
    /// <exception cref="ArgumentException">An unknown or unavailable solver was asked for.</exception>
    public static ImmutableArray<SweepSeries> Series(PlanningProblem problem, SweepOptions options, long? lowerSets, bool hasBlocks)
    {
        var all = new List<(SweepSeries Series, SolverDescriptor Solver)>();
        foreach (var d in SolverRegistry.SweepOrder)
        {
            all.Add((new SweepSeries(d.Name, d.Name, Objective.Time, d.DrawnAsCurve), d));
            if (d.MemorySeriesName is { } memory) all.Add((new SweepSeries(memory, d.Name, Objective.Memory, d.DrawnAsCurve), d));
        }
        if (options.Solvers is null)
        {
            int planned = problem.Graph.Nodes.Count(n => n.IsPlanned);
            // What each solver needs of the graph; greedy is left out by its descriptor (a search per budget, seconds
            // each on large graphs), and auto, the default plan, is always drawn: on a large graph its range starts
            // well below the DPs'.
            bool Applies(SolverDescriptor d) =>
                (!d.Can(SolverCapabilities.ModuleBlocks) || hasBlocks)
                && (!d.Can(SolverCapabilities.EveryLowerSet) || lowerSets is not null && lowerSets <= options.LowerSetLimit)
                && (!d.Can(SolverCapabilities.ExactSearch) || planned <= options.OptimalTensorLimit);
            return [.. all.Where(x => x.Solver.InDefaultReport && Applies(x.Solver)).Select(x => x.Series)];
        }
        // Store-all is the reference every other plan is measured against: always part of the report.
        var chosen = new HashSet<string>(StringComparer.Ordinal) { SolverName.StoreAll };
        foreach (var raw in options.Solvers)
        {
            var name = raw.Trim();
            var matches = all.Where(x => x.Series.Name == name || x.Series.Solver == name).ToList();
            if (matches.Count == 0)
                throw new ArgumentException($"unknown solver '{name}' for a report; use {string.Join(", ", SolverNames)} or " +
                    string.Join(", ", all.Where(x => x.Series.Objective == Objective.Memory).Select(x => x.Series.Name)), SolversParameter);
            var solver = matches[0].Solver;
            if (solver.Can(SolverCapabilities.ModuleBlocks) && !hasBlocks)
                throw new ArgumentException(PerBlockSolver.NoBlocksReason, SolversParameter);
            if (solver.Can(SolverCapabilities.EveryLowerSet) && lowerSets is null)
                throw new ArgumentException($"the graph has more than {options.LowerSetLimit} lower sets: the exact DP would take too long; use dp-approx", SolversParameter);
            foreach (var m in matches) chosen.Add(m.Series.Name);
        }
        return [.. all.Where(x => chosen.Contains(x.Series.Name)).Select(x => x.Series)];
    }

    /// <summary>Budgets from <paramref name="low"/> to <paramref name="high"/> inclusive, evenly spaced, distinct.</summary>
    public static ImmutableArray<long> Budgets(long low, long high, int points)
    {
        if (points < 1) throw new ArgumentOutOfRangeException(nameof(points), "a sweep needs at least one point");
        if (low >= high || points == 1) return [high];
        var list = new SortedSet<long>();
        for (int i = 0; i < points; i++)
            list.Add(low + (long)((Int128)(high - low) * i / (points - 1)));
        return [.. list];
    }

    /// <summary>
    /// Runs the sweep. When <paramref name="cancellation"/> fires after the first point, returns the report so far
    /// (<see cref="BudgetReport.Complete"/> false); before it (while finding the range of budgets), throws
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    /// <param name="onReport">Called with the report after every finished point and at the end.</param>
    /// <param name="onProgress">Called after every finished point.</param>
    /// <param name="onActivity">Told what the budget guide does once the points are done (for a live status).</param>
    public static BudgetReport Run(PlanningProblem problem, SweepOptions options, Action<BudgetReport>? onReport = null,
        Action<SweepProgress>? onProgress = null, CancellationToken cancellation = default, Action<string>? onActivity = null)
    {
        var dag = problem.Forward;
        long lowerSetLimit = Math.Max(options.LowerSetLimit, 1);
        long? lowerSets = LowerSetFamily.CountAll(dag, lowerSetLimit);
        var summary = GraphSummary.Of(problem.Graph, lowerSets, lowerSetLimit);
        var blockStrategy = BlockCheckpointing.Strategy(dag);
        var series = Series(problem, options, lowerSets, blockStrategy is not null);
        if (options.Offload is not null) series = series.Add(new SweepSeries(OffloadSeries, AutoPortfolio.Name, Objective.Time, true));

        var storeAll = RecomputePlanner.StoreAll(problem);
        long high = storeAll.Simulation.PeakBytes;
        // The sweep starts at the smallest budget a plan fits by simulation (the paper model's minimum is higher),
        // from the one service: auto's (its whole portfolio's) when auto is drawn, dp-approx's otherwise.
        string rangeSolver = series.Any(s => s.Solver == AutoPortfolio.Name) ? AutoPortfolio.Name : SolverName.DpApprox;
        long low = Math.Min(SmallestBudget.Bytes(problem, rangeSolver, Searching(rangeSolver, options.Solver, options), cancellation)
            ?? SmallestBudget.MinMemory(problem, SolverName.DpApprox, options.Solver, cancellation).MinBudgetBytes, high);
        var budgets = Budgets(low, high, options.Points);

        var points = ImmutableArray.CreateBuilder<SweepPoint>();
        int total = series.Length * budgets.Length, done = 0;
        BudgetReport Snapshot(TimelineReport? timeline, bool complete) =>
            new(summary, high, low, budgets, series, points.ToImmutable(), timeline, complete) { MinBudgetSolver = rangeSolver };
        void Finished(SweepPoint p)
        {
            points.Add(p);
            done++;
            onReport?.Invoke(Snapshot(null, false));
            onProgress?.Invoke(new SweepProgress(done, total, p.Series, p.BudgetBytes));
            cancellation.ThrowIfCancellationRequested();
        }

        var warmStarts = new Dictionary<long, Schedule>();
        try
        {
            foreach (var s in series)
            {
                switch (s.Solver)
                {
                    case SolverName.StoreAll:
                        foreach (var b in budgets) Finished(FixedPlanPoint(s.Name, b, storeAll.Schedule, storeAll.Simulation, 0));
                        break;
                    case SolverName.PerBlock:
                    {
                        var clock = Stopwatch.StartNew();
                        var schedule = Lowering.Lower(problem.Training, dag, blockStrategy!, SolverName.PerBlock, null);
                        var sim = Simulator.Measure(schedule);
                        double seconds = clock.Elapsed.TotalSeconds;
                        foreach (var b in budgets) Finished(FixedPlanPoint(s.Name, b, schedule, sim, seconds));
                        break;
                    }
                    case SolverName.Chen:
                    {
                        // Chen's √n plan does not depend on the budget: one point, which fits the budgets above its
                        // simulated peak. (Budget-driven, Chen's greedy variant sizes segments in the paper's model,
                        // which is more pessimistic than the simulation, and would miss budgets the plan meets.)
                        var plan = RecomputePlanner.Plan(problem, SolverName.Chen,
                            options.Solver with { BudgetBytes = SolverOptions.UnlimitedBudget }, cancellation);
                        foreach (var b in budgets)
                            Finished(plan.Schedule is null
                                ? PlanPoint(s.Name, b, plan)
                                : FixedPlanPoint(s.Name, b, plan.Schedule, plan.Simulation!, plan.SolveSeconds));
                        break;
                    }
                    default:
                        RunCurve(problem, options, s, budgets, warmStarts, Finished, cancellation);
                        break;
                }
            }
            var timeline = Timeline(problem, options, series, storeAll, low, high, cancellation);
            var report = Snapshot(timeline, true);
            if (options.Guide is { } guide)
                report = report with { Guide = BudgetGuide.Build(problem, report, guide with { Offload = guide.Offload ?? options.Offload }, onActivity, cancellation) };
            onReport?.Invoke(report);
            return report;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return Snapshot(null, false);
        }
    }

    private static void RunCurve(PlanningProblem problem, SweepOptions options, SweepSeries s, ImmutableArray<long> budgets,
        Dictionary<long, Schedule> warmStarts, Action<SweepPoint> finished, CancellationToken cancellation)
    {
        var offload = s.Name == OffloadSeries ? options.Offload : null;
        SweepPoint? best = null;
        Schedule? bestSchedule = null;
        foreach (var b in budgets)
        {
            cancellation.ThrowIfCancellationRequested();
            var solverOptions = Searching(s.Solver, options.Solver with { BudgetBytes = b, Objective = s.Objective }, options);
            if (s.Solver is SolverName.Optimal or AutoPortfolio.Name && warmStarts.TryGetValue(b, out var hint))
                solverOptions = solverOptions with { WarmStart = hint };
            var plan = RecomputePlanner.Plan(problem, s.Solver, solverOptions, cancellation);
            if (offload is not null) plan = OffloadPlanner.Improve(problem, plan, solverOptions, offload, cancellation);
            // The optimal solver returns its best plan when cancelled: a point cut short is not a finished one.
            cancellation.ThrowIfCancellationRequested();
            var point = PlanPoint(s.Name, b, plan);
            if (s.Solver == SolverName.DpApprox && s.Objective == Objective.Time && plan.Feasible) warmStarts[b] = plan.Schedule!;
            // A time-centric plan found at a smaller budget fits here too: never report one that costs more.
            if (s.Objective == Objective.Time && best is not null &&
                (!point.Feasible || point.Overhead > best.Overhead))
            {
                point = best with
                {
                    BudgetBytes = b,
                    SolveSeconds = point.SolveSeconds,
                    ReusedFromBudgetBytes = best.ReusedFromBudgetBytes ?? best.BudgetBytes,
                };
                if (s.Solver == SolverName.DpApprox && bestSchedule is not null) warmStarts[b] = bestSchedule;
            }
            else if (point.Feasible && s.Objective == Objective.Time)
            {
                best = point;
                bestSchedule = plan.Schedule;
            }
            finished(point);
        }
    }

    /// <summary>The solvers that search (optimal, auto) get the report's time limit a point; the others keep theirs.</summary>
    private static SolverOptions Searching(string solver, SolverOptions solverOptions, SweepOptions options) =>
        solver is SolverName.Optimal or AutoPortfolio.Name ? solverOptions with { TimeLimit = options.TimeLimit } : solverOptions;

    private static SweepPoint PlanPoint(string series, long budget, PlanResult plan)
    {
        var sim = plan.Simulation;
        return new SweepPoint(series, budget, plan.Feasible, plan.Feasible ? plan.Solver.Status.ToText() : "INFEASIBLE",
            sim?.PeakBytes, sim?.StepOverhead, sim?.ForwardTime, sim?.RecomputeTime, plan.SolveSeconds, plan.Solver.Gap,
            plan.Solver.PaperModelPeakBytes, plan.Schedule?.RecomputedNodes.Length ?? 0, null,
            plan.Feasible ? null : plan.Solver.Reason ?? "no plan fits the budget");
    }

    private static SweepPoint FixedPlanPoint(string series, long budget, Schedule schedule, SimulationResult sim, double seconds)
    {
        bool fits = sim.Fits(budget);
        return new SweepPoint(series, budget, fits, fits ? "FEASIBLE" : "INFEASIBLE", sim.PeakBytes, sim.StepOverhead, sim.ForwardTime,
            sim.RecomputeTime, seconds, null, null, schedule.RecomputedNodes.Length, null,
            fits ? null : $"its schedule needs {sim.PeakBytes} bytes");
    }

    private static TimelineReport Timeline(PlanningProblem problem, SweepOptions options, ImmutableArray<SweepSeries> series,
        (Schedule Schedule, SimulationResult Simulation) storeAll, long low, long high, CancellationToken cancellation)
    {
        long budget = options.TimelineBudget is { } text ? ByteSize.Parse(text, high) : low + (high - low) / 2;
        // The best time-centric planner in the sweep draws the timeline: auto (the default plan) when drawn, else the
        // exact DP over the approximate one.
        var solver = series.Any(s => s.Name == AutoPortfolio.Name) ? AutoPortfolio.Name : series.Any(s => s.Name == SolverName.Dp) ? SolverName.Dp : SolverName.DpApprox;
        var timelineOptions = Searching(solver, options.Solver with { BudgetBytes = budget, Objective = Objective.Time }, options);
        var plan = RecomputePlanner.Plan(problem, solver, timelineOptions, cancellation);
        if (options.Offload is { } offload && solver == AutoPortfolio.Name)
        {
            plan = OffloadPlanner.Improve(problem, plan, timelineOptions, offload, cancellation);
            if (plan.Schedule?.HasTransfers == true) solver = OffloadSeries;
        }
        var storeAllLine = MemoryTimeline.Of(SolverName.StoreAll, storeAll.Schedule, storeAll.Simulation, budget);
        MemoryTimeline? planLine = plan.Feasible ? MemoryTimeline.Of($"{solver} at {ByteSize.Format(budget)}", plan.Schedule!,
            plan.Simulation!, budget) : null;
        var recomputed = plan.Feasible
            ? plan.Schedule!.RecomputedNodes.Select(n => problem.Graph[n].Name).ToImmutableArray()
            : [];
        // With offloading, the host memory the plan holds, step by step, beside the device's.
        var host = plan.Feasible && plan.Schedule!.HasTransfers
            ? new MemoryTimeline("host memory (offloaded values)", null, plan.Simulation!.HostPeakBytes, plan.Simulation.HostLiveBytes, [])
            : null;
        return new TimelineReport(solver, budget, plan.Feasible, plan.Simulation?.PeakBytes, plan.Simulation?.StepOverhead, recomputed, storeAllLine, planLine, plan.Feasible ? plan.Schedule : null)
        { Host = host };
    }
}
