using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>
/// General rematerialization by a greedy pass (<c>--solver greedy</c>): <see cref="GreedyRematerializer"/> with
/// each <see cref="EvictionScore"/>, over the DAG's task order (the file's order for a DAG taken as given) and a
/// memory-aware topological order, then guided by the cut relaxation (<see cref="Optimal.RelaxationGuide"/>: which
/// buffers to drop at the cut of greatest memory pressure, solved by CP-SAT as work, so deterministically), and over
/// orders found by <see cref="OrderSearch"/> when those need recomputation; the cheapest schedule that fits the
/// budget by simulation. Works on any DAG, with or without backward tasks, in milliseconds to a few seconds; no
/// bound. The optimal solver uses it as a warm start.
/// </summary>
internal sealed partial class GreedySolver : ISolver
{
    public string Name => SolverName.Greedy;
    public bool IsCanonical => false;

    /// <remarks>
    /// Honours <see cref="SolverOptions.TimeLimit"/>: past it the search stops and the best schedule found so far
    /// is the answer (or, when none was found yet, the store-all schedule if it fits). Cancellation (Ctrl-C) stops
    /// it as before, by <see cref="OperationCanceledException"/>.
    /// </remarks>
    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        using var deadline = new CancellationTokenSource();
        if (options.TimeLimit > TimeSpan.Zero && options.TimeLimit < TimeSpan.FromDays(1)) deadline.CancelAfter(options.TimeLimit);
        var notes = new List<string>();
        var best = Search(problem.Training, [], options, Name, 0, cancellation, deadline.Token, notes);
        bool stopped = deadline.IsCancellationRequested;
        if (best is null && stopped)
        {
            var (schedule, simulation) = problem.StoreAll;
            if (simulation.PeakBytes <= options.BudgetBytes) best = (schedule, simulation);
        }
        string limit = $"{options.TimeLimit.TotalSeconds:0.###} s";
        if (stopped) notes.Insert(0, $"stopped by the time limit of {limit}: the best schedule found by then");
        return best is null
            ? new SolverResult(Name, stopped ? PlanStatus.Unknown : PlanStatus.Infeasible, Reason: stopped
                ? $"the greedy pass found no schedule that fits within its time limit of {limit} (raise --time-limit, or try --solver {SolverName.DpApprox})"
                : $"the greedy pass found no schedule that fits (it evicts greedily; try --solver {SolverName.Optimal})")
            : new SolverResult(Name, PlanStatus.Feasible, Schedule: best.Value.Schedule)
            {
                Note = notes.Count > 0 ? string.Join("; ", notes) : null,
            };
    }

    /// <summary>What a plan's note says when the wall clock ended one of the guide's searches, which was then set aside.</summary>
    public const string GuideCutNote = "a search of greedy's guide did not finish its share of the work in time and was set aside (this plan may differ between runs); a longer --time-limit gives it the time";

    /// <summary>Moves of one order search: 1000 per task, at most <see cref="GreedyOptions.MaxOrderSearchMoves"/> and
    /// <see cref="GreedyOptions.OrderSearchWork"/> / (tasks + edges).</summary>
    public static int MovesFor(TrainingGraph training)
    {
        long edges = training.Tasks.Sum(t => (long)t.Inputs.Length);
        return (int)Math.Clamp(Math.Min(1000L * training.Count, GreedyOptions.Default.OrderSearchWork / (training.Count + edges + 1)), 1, GreedyOptions.Default.MaxOrderSearchMoves);
    }

    /// <summary>
    /// The greedy pass over the DAG's task order, a memory-aware order and any <paramref name="extraOrders"/>;
    /// when none of them fits without recomputation, also over orders improved by <see cref="OrderSearch"/> from
    /// the file's and the memory-aware order. Returns the cheapest schedule that fits, or null.
    /// </summary>
    /// <param name="training">The DAG.</param>
    /// <param name="extraOrders">More first-run orders to try (e.g. those of the DP's plans).</param>
    /// <param name="options">Budget, pins and <see cref="SolverOptions.Seed"/> of the order search.</param>
    /// <param name="solver">Name written into the schedule.</param>
    /// <param name="variant">Which annealing settings the order search uses (0 for the first call; the optimal solver's
    /// later rounds pass 1, 2, ... to vary temperature and memory target).</param>
    /// <param name="cancellation">Stops the order search.</param>
    /// <param name="deadline">Stops the search like <paramref name="cancellation"/>, but with the best schedule found
    /// so far as the result instead of an exception (the solver's time limit).</param>
    /// <param name="notes">Told when the wall clock ended a search of the guide (its result then depends on the load).</param>
    public static (Schedule Schedule, SimulationResult Simulation)? Search(TrainingGraph training, IEnumerable<int[]> extraOrders,
        SolverOptions options, string solver, int variant = 0, CancellationToken cancellation = default, CancellationToken deadline = default,
        ICollection<string>? notes = null)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellation, deadline);
        (Schedule Schedule, SimulationResult Simulation)? best = null;
        try { best = SearchUntil(training, extraOrders, options, solver, variant, either.Token, found => best = found, notes); }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellation.IsCancellationRequested) { }
        return best;
    }

    private static (Schedule Schedule, SimulationResult Simulation)? SearchUntil(TrainingGraph training, IEnumerable<int[]> extraOrders,
        SolverOptions options, string solver, int variant, CancellationToken cancellation, Action<(Schedule, SimulationResult)?> improved,
        ICollection<string>? notes)
    {
        // What is reported is always cheaper than what was reported before (the caller keeps the last one).
        double reported = double.PositiveInfinity;
        void Report((Schedule Schedule, SimulationResult Simulation)? found)
        {
            if (found is not { } f || f.Simulation.RecomputeTime >= reported) return;
            reported = f.Simulation.RecomputeTime;
            improved(f);
        }
        var starts = Orders(training, cancellation).ToList();
        var own = Best(training, starts, options, solver, cancellation, Report);
        // The caller's orders (other plans' first runs) are plain passes: the searches below start from the pass over
        // greedy's own orders only, so that this is never worse than --solver greedy. A cheaper start from another
        // plan's order can lead the pin searches to a dearer end (ConvNeXt-T at 30 %: 2.980·10¹⁰ against 2.950·10¹⁰).
        var extra = extraOrders.ToList();
        var others = extra.Count == 0 ? null : Best(training, extra, options, solver, cancellation, Report);
        var first = Cheaper(own, others);
        // Nothing to lower, or a caller that asks only whether a plan fits: the searches would only lower its cost.
        if (first is { } b && (b.Simulation.RecomputeTime == 0 || options.FeasibilityOnly)) return first;
        return Cheaper(Improve(training, starts, own, options, solver, variant, cancellation, Report, notes), others);
    }

    private static (Schedule Schedule, SimulationResult Simulation)? Cheaper((Schedule Schedule, SimulationResult Simulation)? a,
        (Schedule Schedule, SimulationResult Simulation)? b) =>
        a is null ? b : b is null ? a : b.Value.Simulation.RecomputeTime < a.Value.Simulation.RecomputeTime ? b : a;

    /// <summary>The guided pass, the order search and the pin searches, from <paramref name="best"/>, the greedy pass
    /// over greedy's own <paramref name="starts"/>.</summary>
    private static (Schedule Schedule, SimulationResult Simulation)? Improve(TrainingGraph training, List<int[]> starts,
        (Schedule Schedule, SimulationResult Simulation)? best, SolverOptions options, string solver, int variant,
        CancellationToken cancellation, Action<(Schedule, SimulationResult)?> improved, ICollection<string>? notes)
    {
        if (best is { } b && b.Simulation.RecomputeTime == 0) return best;
        // The guided pass lowers the recomputation of a plan that fits; where the eviction scores found none, it rarely
        // finds one (it falls back on the same scores), and the smallest-budget bisections probe many such budgets.
        // The guide's plan from the cut alone is the start of the searches below; its plan from the chains grown from
        // the cut is a candidate of its own at the end (the pin search from it found less on ResNet-50 at 60 %).
        (Schedule Schedule, SimulationResult Simulation)? grown = null;
        if (best is { } first && !options.FeasibilityOnly)
        {
            var (fromCut, fromChain) = Guided(training, options, solver, first.Simulation.RecomputeTime, cancellation, notes);
            if (fromCut is { } g && g.Simulation.RecomputeTime < first.Simulation.RecomputeTime) { best = g; improved(best); }
            if (fromChain is { } h && h.Simulation.RecomputeTime < best!.Value.Simulation.RecomputeTime) { grown = h; improved(h); }
        }
        // The hold search on the plan in hand already, kept aside so that the searches below start from the same plan:
        // where the time limit's stop cuts them, what it found is the answer (and a candidate at the end otherwise).
        (Schedule Schedule, SimulationResult Simulation)? early = null;
        if (best is { } guided && guided.Simulation.RecomputeTime > 0 && !options.FeasibilityOnly && !guided.Schedule.HasTransfers
            && HoldSearch(training, guided, options, cancellation) is { } heldEarly) { early = heldEarly; improved(heldEarly); }
        // What the searches below find is reported only where it is cheaper than the grown chains' plan too.
        void Improved((Schedule Schedule, SimulationResult Simulation) plan)
        {
            if (grown is null || plan.Simulation.RecomputeTime < grown.Value.Simulation.RecomputeTime) improved(plan);
        }
        // A limit under FullWorkLimit is a shorter search, counted in moves (the same plan on any machine).
        int moves = Math.Max(1, (int)(MovesFor(training) * options.WorkFraction));
        // Temperatures (in mean buffers) and memory targets (fractions of the budget) of the annealing. Measured on
        // the 500-task random layered graph at 80 %: 10 from the file's order reached +0.67–0.84 % where 3 gave
        // +1.7–3.7 %; 3 from the memory-aware order reaches orders that need no recomputation on the 100- and
        // 250-task ones. Later variants go hotter and aim lower.
        double[] temperatures = [10, 3, 30];
        double[] targets = [1, 0.9, 0.8];
        double targetFraction = targets[variant / temperatures.Length % targets.Length];
        long target = (long)Math.Min(options.BudgetBytes * targetFraction, long.MaxValue / 4);
        var searched = starts.Select((o, i) => OrderSearch.Improve(training, o, target, moves, options.Seed + i,
            temperatures[(variant + i) % temperatures.Length], cancellation)).ToList();
        var better = Best(training, searched, options, solver, cancellation,
            found => { if (found is { } f && (best is null || f.Item2.RecomputeTime < best.Value.Simulation.RecomputeTime)) Improved(f); });
        if (better is { } c && (best is null || c.Simulation.RecomputeTime < best.Value.Simulation.RecomputeTime)) best = better;
        if (best is { } found && found.Simulation.RecomputeTime > 0
            && PinSearch(training, found, starts, options, solver, cancellation) is { } pinned
            && pinned.Simulation.RecomputeTime < found.Simulation.RecomputeTime) { best = pinned; Improved(pinned); }
        if (best is { } current && current.Simulation.RecomputeTime > 0
            && PinChains(training, current, starts, options, solver, cancellation) is { } chained
            && chained.Simulation.RecomputeTime < current.Simulation.RecomputeTime) { best = chained; Improved(chained); }
        if (best is { } latest && latest.Simulation.RecomputeTime > 0
            && RebuildPinSearch(training, latest, starts, options, solver, cancellation) is { } rebuilt
            && rebuilt.Simulation.RecomputeTime < latest.Simulation.RecomputeTime) { best = rebuilt; Improved(rebuilt); }
        if (grown is { } last && (best is null || last.Simulation.RecomputeTime < best.Value.Simulation.RecomputeTime)) best = grown;
        if (best is { } done && done.Simulation.RecomputeTime > 0 && !done.Schedule.HasTransfers
            && HoldSearch(training, done, options, cancellation) is { } held) { best = held; improved(held); }
        if (early is { } before && (best is null || before.Simulation.RecomputeTime < best.Value.Simulation.RecomputeTime)) best = early;
        return best;
    }

    /// <summary>
    /// Lowers a plan's cost by forbidding its costliest recomputations: each round takes the task whose recomputation
    /// costs the plan most (not tried yet), forbids recomputing it as well as those forbidden so far, and runs the
    /// greedy pass again (each score, over <paramref name="starts"/> and the first-run orders of the plans found); a
    /// cheaper plan that fits is kept with its pins, otherwise the pin is dropped. The eviction scores look one step
    /// ahead and may evict an expensive buffer where holding it, and recomputing cheap ones more often, costs less:
    /// U-Net at 60 % of store-all, 1.54 % → 1.32 % of forward time (ups.2's ConvTranspose kept); at 30 %, 60.9 % →
    /// 55.9 %. Counted work, no clock: at most <see cref="GreedyOptions.PinRounds"/> rounds and <see cref="GreedyOptions.PinWork"/> scan visits,
    /// both times <see cref="SolverOptions.WorkFraction"/> (0.03–0.6 s on the shipped graphs).
    /// </summary>
    private static (Schedule Schedule, SimulationResult Simulation)? PinSearch(TrainingGraph training, (Schedule Schedule, SimulationResult Simulation) start,
        IReadOnlyList<int[]> starts, SolverOptions options, string solver, CancellationToken cancellation) =>
        RankedPinSearch(training, start, starts, options, solver, cancellation, GreedyOptions.Default.PinRounds, RecomputeCosts);

    /// <summary>
    /// A pin search of at most <paramref name="fullRounds"/> rounds within <see cref="GreedyOptions.PinWork"/> scan
    /// visits, both times <see cref="SolverOptions.WorkFraction"/>, each round pinning the task <paramref name="ranking"/>
    /// rates highest.
    /// </summary>
    private static (Schedule Schedule, SimulationResult Simulation)? RankedPinSearch(TrainingGraph training, (Schedule Schedule, SimulationResult Simulation) start,
        IReadOnlyList<int[]> starts, SolverOptions options, string solver, CancellationToken cancellation, int fullRounds,
        Func<TrainingGraph, Schedule, Dictionary<int, double>> ranking)
    {
        // DAGs with W² edges (a W-wide Concat whose backward reads every operand) get no pin search, as they get no
        // guide and no bound: one pass there takes half a second.
        if (Optimal.RelaxationGuide.TooWide(training)) return null;
        int rounds = (int)Math.Ceiling(fullRounds * options.WorkFraction);
        long work = (long)(GreedyOptions.Default.PinWork * options.WorkFraction);
        return PinRounds(training, start, starts, options, solver, cancellation, [], rounds, new WorkMeter(), work, ranking);
    }

    /// <summary>
    /// The pin search again, each round pinning the task whose recomputation costs most to rebuild (<see
    /// cref="RebuildCosts"/>: with the recomputed ancestors it brings back in its run) instead of the costliest by its own
    /// time. A buffer cheap to compute at the end of a long run of recomputations (a residual sum rebuilt from the
    /// stem) is never among the costliest by itself, yet keeping it saves the run: ResNet-50 at 30 % of store-all
    /// keeps layer 1's second block's output and recomputes each layer-1 convolution once instead of twice,
    /// 9.48·10¹⁰ → 8.80·10¹⁰ FLOP. Counted work, no clock: at most <see cref="GreedyOptions.RebuildPinRounds"/> rounds
    /// within <see cref="GreedyOptions.PinWork"/> scan visits, both times <see cref="SolverOptions.WorkFraction"/>.
    /// </summary>
    internal static (Schedule Schedule, SimulationResult Simulation)? RebuildPinSearch(TrainingGraph training, (Schedule Schedule, SimulationResult Simulation) start,
        IReadOnlyList<int[]> starts, SolverOptions options, string solver, CancellationToken cancellation) =>
        RankedPinSearch(training, start, starts, options, solver, cancellation, GreedyOptions.Default.RebuildPinRounds, RebuildCosts);

    /// <summary>
    /// The rounds of <see cref="PinSearch"/> from <paramref name="start"/>, a plan that honours <paramref name="pins"/>:
    /// at most <paramref name="rounds"/> rounds while <paramref name="meter"/> stays under <paramref name="work"/>.
    /// Returns the cheapest plan found, or null when no round improved on <paramref name="start"/>;
    /// <paramref name="pins"/> then holds that plan's pins. Each round pins the task that <paramref name="ranking"/>
    /// (by default <see cref="RecomputeCosts"/>) rates highest among those not tried.
    /// </summary>
    private static (Schedule Schedule, SimulationResult Simulation)? PinRounds(TrainingGraph training, (Schedule Schedule, SimulationResult Simulation) start,
        IReadOnlyList<int[]> starts, SolverOptions options, string solver, CancellationToken cancellation, HashSet<int> pins, int rounds,
        WorkMeter meter, long work, Func<TrainingGraph, Schedule, Dictionary<int, double>>? ranking = null)
    {
        var best = start;
        var orders = new List<int[]>(starts) { Optimal.StageOrder.FirstRunOrder(start.Schedule) };
        var tried = new HashSet<int>();
        bool improvedAny = false;
        for (int round = 0; round < rounds && meter.Visits < work; round++)
        {
            var cost = (ranking ?? RecomputeCosts)(training, best.Schedule).Where(e => !tried.Contains(e.Key)).ToList();
            if (cost.Count == 0) break;
            int pin = cost.OrderByDescending(e => e.Value).ThenBy(e => e.Key).First().Key;
            tried.Add(pin);
            var trial = new HashSet<int>(pins) { pin };
            if (Best(training, orders, options, solver, cancellation, alsoKeep: trial, meter: meter, meterLimit: work) is { } found && found.Simulation.RecomputeTime < best.Simulation.RecomputeTime)
            {
                best = found;
                pins.Add(pin);
                improvedAny = true;
                orders.Add(Optimal.StageOrder.FirstRunOrder(found.Schedule));
            }
        }
        return improvedAny ? best : null;
    }

    /// <summary>
    /// The cheapest schedule of <see cref="Optimal.RelaxationGuide"/> (the greedy pass told which buffers to drop by the
    /// cut relaxation), with the pins honoured: keep pins are never recomputed, <c>--recompute</c> pins are dropped.
    /// </summary>
    private static ((Schedule Schedule, SimulationResult Simulation)? Single, (Schedule Schedule, SimulationResult Simulation)? Grown) Guided(
        TrainingGraph training, SolverOptions options, string solver, double toBeat, CancellationToken cancellation, ICollection<string>? notes)
    {
        var (keep, atGap) = PinTasks(training, options);
        var guided = Optimal.RelaxationGuide.Plans(training, options.BudgetBytes, keep, atGap, options.RelaxationWorkers, options.Seed,
            solver, toBeat, cancellation, options.WorkFraction, out bool wallClockCut);
        if (wallClockCut && notes is not null && !notes.Contains(GuideCutNote)) notes.Add(GuideCutNote);
        return guided;
    }

    /// <summary>
    /// The pins as task ids: every task of a <c>--keep</c> tensor (never run twice) and the forward task of each
    /// <c>--recompute</c> tensor (not kept across the gap).
    /// </summary>
    private static (HashSet<int> Keep, HashSet<int> AtGap) PinTasks(TrainingGraph training, SolverOptions options) =>
        (training.Tasks.Where(t => options.Keep.Contains(t.Node)).Select(t => t.Id).ToHashSet(),
         training.Tasks.Where(t => t.Kind == TaskKind.Forward && options.ForceRecompute.Contains(t.Node)).Select(t => t.Id).ToHashSet());

    /// <summary>The first-run orders the greedy pass starts from: the DAG's task order and <see
    /// cref="GreedyRematerializer.MemoryAwareOrder"/>.</summary>
    public static IEnumerable<int[]> Orders(TrainingGraph training, CancellationToken cancellation = default) =>
        [Enumerable.Range(0, training.Count).ToArray(), GreedyRematerializer.MemoryAwareOrder(training, cancellation)];

    /// <summary>
    /// The cheapest greedy schedule that fits <see cref="SolverOptions.BudgetBytes"/> by simulation and honours the
    /// pins, over the given first-run orders and every eviction score; null when none fits.
    /// </summary>
    /// <param name="improved">Told of each new best schedule as it is found (so that a stopped search keeps it).</param>
    /// <param name="alsoKeep">Tasks never run twice besides the <c>--keep</c> pins (<see cref="PinSearch"/>'s).</param>
    public static (Schedule Schedule, SimulationResult Simulation)? Best(TrainingGraph training, IEnumerable<int[]> orders, SolverOptions options,
        string solver, CancellationToken cancellation = default, Action<(Schedule, SimulationResult)?>? improved = null, IReadOnlySet<int>? alsoKeep = null,
        WorkMeter? meter = null, long meterLimit = long.MaxValue)
    {
        var (keep, atGap) = PinTasks(training, options);
        if (alsoKeep is not null) keep.UnionWith(alsoKeep);
        (Schedule, SimulationResult)? best = null;
        foreach (var given in orders)
        {
            // --recompute evicts its tensors when the backward pass begins, so the backward must not begin before the
            // forward pass has ended: a loss's gradient reads nothing, and an order that runs it first has its "gap"
            // before anything is live, and the pin would be honoured in name only.
            var order = atGap.Count > 0 ? ForwardFirst(training, given) : given;
            foreach (var score in Enum.GetValues<EvictionScore>())
            {
                cancellation.ThrowIfCancellationRequested();
                if (meter is not null && meter.Visits >= meterLimit) return best; // out of counted work: the best so far
                var schedule = GreedyRematerializer.Schedule(training, order, options.BudgetBytes, score, solver, keep, atGap, cancellation, meter);
                LargeGraphMemory.Collect(training);
                if (schedule is null) continue;
                var sim = Simulator.Measure(schedule);
                if (sim.PeakBytes > options.BudgetBytes) continue;
                if (best is null || sim.RecomputeTime < best.Value.Item2.RecomputeTime) { best = (schedule, sim); improved?.Invoke(best); }
            }
        }
        return best;
    }

    /// <summary>
    /// The order with every forward task before every backward task, each part in its given relative order: still
    /// topological, since no forward task reads a backward one.
    /// </summary>
    public static int[] ForwardFirst(TrainingGraph training, IReadOnlyList<int> order) =>
        [.. order.Where(t => training.Tasks[t].Kind == TaskKind.Forward), .. order.Where(t => training.Tasks[t].Kind != TaskKind.Forward)];
}
