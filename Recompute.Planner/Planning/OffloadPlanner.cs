using System.Diagnostics;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>What planning with offloading may use besides the device budget.</summary>
/// <param name="Link">The device–host link, per direction.</param>
public sealed record OffloadOptions(HostLink Link)
{
    /// <summary>Host memory available for offloaded values (<see cref="SolverOptions.UnlimitedBudget"/>: no limit).</summary>
    public long HostBudgetBytes { get; init; } = SolverOptions.UnlimitedBudget;
}

/// <summary>
/// Plans keep, recompute or offload per forward value under the device budget (and the host budget), minimising the
/// predicted step seconds (the critical path of compute and transfers, <see cref="SimulationResult.StepSeconds"/>).
/// The keep-or-recompute plan of the solver asked for is made first. Then its own recomputations are replaced by
/// offloads one value at a time, in its order of work, and a local search over the three choices per value
/// (<see cref="OffloadLowering"/> turns choices into a schedule, the simulator times it) starts from that plan's
/// choices, from the replaced plan's and from keeping everything. The offload plan is taken only when it fits and its
/// step is shorter, so the answer is never worse than the plan without offloading. The searches count their work
/// (evaluations), so the same input gives the same plan on any machine.
/// </summary>
public static class OffloadPlanner
{
    /// <summary>The name an offload plan wins under (JSON <c>winningSolver</c>).</summary>
    public const string Name = "offload";

    /// <summary>Plans with <paramref name="solverName"/>, then with offloading; returns the better of the two.</summary>
    /// <exception cref="ArgumentException">The graph's times are not seconds (offloading is timed on a link in seconds).</exception>
    public static PlanResult Plan(PlanningProblem problem, string solverName, SolverOptions options, OffloadOptions offload, CancellationToken cancellation = default)
    {
        var plain = RecomputePlanner.Plan(problem, solverName, KeepOrRecomputeOptions(solverName, options), cancellation);
        return Improve(problem, plain, options, offload, cancellation);
    }

    /// <summary>
    /// The options of the keep-or-recompute plan that <see cref="Improve"/> starts from: the optimal solver gets half
    /// the time limit, and its model with offloading (<see cref="Improve"/>) the other half, so the two together keep
    /// to the limit; every other solver the whole limit (the offload searches count their work).
    /// </summary>
    public static SolverOptions KeepOrRecomputeOptions(string solverName, SolverOptions options) =>
        solverName == SolverName.Optimal ? HalfTheLimit(options) : options;

    /// <summary>The options with half the time limit: the optimal solver's share for each of its two models.</summary>
    private static SolverOptions HalfTheLimit(SolverOptions options) => options with { TimeLimit = options.TimeLimit / 2 };

    /// <summary>
    /// The offload options as the graph's device carries them out: on the <c>cpu</c> device the runtime copies to and
    /// from its host arena on the step's own thread, so the link is blocking (<see cref="HostLink.Blocking"/>) whatever
    /// the caller's says. <see cref="Improve"/> and <see cref="MinMemory"/> plan with these.
    /// </summary>
    public static OffloadOptions OnDevice(ComputationGraph graph, OffloadOptions offload) =>
        DeviceProfiles.IsCpu(graph.Device) && !offload.Link.Blocking ? offload with { Link = offload.Link with { Blocking = true } } : offload;

    /// <summary>Whether offloading applies to a problem: a graph with a backward pass, times in seconds; null when it does, else why not.</summary>
    public static string? NotApplicableReason(PlanningProblem problem) =>
        problem.Graph.TimeUnit != "s" ? $"offloading is timed in seconds, and the graph's times are {Units.TimeUnits.Describe(problem.Graph.TimeUnit)} (plan with --device)"
        : !problem.Training.HasBackward ? "offloading needs a backward pass to bring values back for, and this DAG has none"
        : null;

    /// <summary>
    /// The better of <paramref name="plain"/> (a keep-or-recompute plan of this problem) and the offload search's
    /// plan. The result's <see cref="PlanResult.KeepOrRecompute"/> is <paramref name="plain"/>.
    /// </summary>
    public static PlanResult Improve(PlanningProblem problem, PlanResult plain, SolverOptions options, OffloadOptions offload, CancellationToken cancellation = default)
    {
        if (NotApplicableReason(problem) is { } why) throw new ArgumentException(why, nameof(problem));
        if (plain.Solver.Status == PlanStatus.NotApplicable) return plain;
        offload = OnDevice(problem.Graph, offload);
        var clock = Stopwatch.StartNew();
        var storeAll = RecomputePlanner.StoreAll(problem).Schedule;
        var lowering = new OffloadLowering(problem.Training, storeAll, offload.Link);
        long budget = options.BudgetBytes;
        long? hostBudget = offload.HostBudgetBytes == SolverOptions.UnlimitedBudget ? null : offload.HostBudgetBytes;
        var search = new OffloadSearch(lowering, budget, hostBudget, options);

        var seeds = new List<TensorChoice[]> { search.KeepAll() };
        if (plain.Schedule is { } s && !s.HasTransfers) seeds.Insert(0, search.ChoicesOf(s));
        OffloadSearch.Candidate? best = null;
        // First the plan itself, with recomputations replaced by offloads (its own order of work kept); its choices
        // then seed the choice search as well.
        if (plain.Schedule is { } own && !own.HasTransfers)
        {
            best = search.RunFrom(own, cancellation);
            if (best.Schedule.HasTransfers) seeds.Insert(1, search.ChoicesOf(best.Schedule));
        }
        foreach (var seed in seeds)
        {
            cancellation.ThrowIfCancellationRequested();
            var found = search.Run(seed, cancellation);
            if (best is null || OffloadSearch.Better(found, best)) best = found;
        }
        // Greedy's own choice at each eviction (offload or drop), a member that wins where its schedule is better.
        if (budget != SolverOptions.UnlimitedBudget && NativeGreedy(problem.Training, storeAll, search, options, offload.Link, cancellation) is { } native
            && (best is null || OffloadSearch.Better(native, best)))
            best = native;
        // The optimal solver chooses offloads in its own model: keep, recompute or offload together.
        if (plain.Solver.Solver == SolverName.Optimal && budget != SolverOptions.UnlimitedBudget
            && OptimalWithOffload(problem, plain.Schedule is { HasTransfers: false } planned ? planned : storeAll, search, options, offload.Link, cancellation) is { } chosen
            && (best is null || OffloadSearch.Better(chosen, best)))
            best = chosen;
        // Below what keep-or-recompute plans reach, transfers are placed for memory: from the closest schedule and
        // from the plan at the smallest keep-or-recompute budget, offloading whatever lets the schedule fit.
        // Below the largest step no schedule fits (a task's inputs and output are live together): nothing to search.
        if (best is not { Excess: 0, HostFits: true } && !plain.Feasible && budget != SolverOptions.UnlimitedBudget
            && budget >= problem.Floor.Bytes)
        {
            var bases = new List<Schedule>();
            if (SmallestBudget.Find(problem, plain.Solver.Solver, options with { Stop = default }, cancellation)?.Plan.Schedule is { HasTransfers: false } least)
                bases.Add(least);
            if (plain.Schedule is { HasTransfers: false } closest) bases.Add(closest);
            var tight = Tightest(lowering, bases, budget, hostBudget, options, cancellation);
            if (tight is not null && (best is null || OffloadSearch.Better(tight, best))) best = tight;
        }
        clock.Stop();
        return Result(problem, plain, best, budget, plain.SolveSeconds + clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Greedy with the link (<see cref="GreedyRematerializer.PlanWithOffload"/>) over the store-all order and the
    /// memory-aware one, with each eviction score, its transfers placed by the clock and eagerly: the best candidate.
    /// </summary>
    private static OffloadSearch.Candidate? NativeGreedy(TrainingGraph training, Schedule storeAll, OffloadSearch search, SolverOptions options,
        Devices.HostLink link, CancellationToken cancellation)
    {
        var never = new bool[training.Count];
        for (int t = 0; t < never.Length; t++) never[t] = training.Tasks[t].Kind == TaskKind.Forward && options.Keep.Contains(training.Tasks[t].Node);
        int[] storeAllOrder = [.. storeAll.Steps.Where(s => s.Allocates).Select(s => s.Task)];
        OffloadSearch.Candidate? best = null;
        foreach (var order in new[] { storeAllOrder, GreedyRematerializer.MemoryAwareOrder(training, cancellation) })
            foreach (var score in Enum.GetValues<EvictionScore>())
            {
                cancellation.ThrowIfCancellationRequested();
                var steps = GreedyRematerializer.PlanWithOffload(training, order, search.Budget, score, never, link, out _, cancellation);
                if (steps is null || !steps.Any(s => s.Kind == StepKind.Prefetch)) continue;
                if (Placed(search, steps) is { } c && (best is null || OffloadSearch.Better(c, best)))
                    best = c with { Native = true };
            }
        return best;
    }

    /// <summary>
    /// A list of work with prefetch markers (<see cref="OffloadLowering.LowerMarked"/>) lowered with its transfers
    /// placed by the clock and eagerly, each judged: the better candidate, or null when neither lowering is a valid schedule.
    /// </summary>
    private static OffloadSearch.Candidate? Placed(OffloadSearch search, IReadOnlyList<Step> work)
    {
        OffloadSearch.Candidate? best = null;
        foreach (bool eager in new[] { false, true })
        {
            OffloadSearch.Candidate c;
            try { c = search.Judge(search.Lowering.LowerMarked(work, Name, search.Budget, search.HostBudget, eager)); }
            catch (InvalidScheduleException) { continue; }
            if (best is null || OffloadSearch.Better(c, best)) best = c;
        }
        return best;
    }

    /// <summary>
    /// The optimal solver's stage model with offloading (<see cref="Solvers.Optimal.OptimalSolver.PlanWithOffload"/>)
    /// over <paramref name="order"/>'s order of work, for the other half of the limit
    /// (<see cref="KeepOrRecomputeOptions"/>); its work lowered with its transfers placed by the clock and eagerly
    /// (<see cref="OffloadLowering.LowerMarked"/>), the better candidate.
    /// </summary>
    private static OffloadSearch.Candidate? OptimalWithOffload(PlanningProblem problem, Schedule order, OffloadSearch search, SolverOptions options,
        HostLink link, CancellationToken cancellation)
    {
        var tasks = problem.Training.Tasks;
        var prices = new double[tasks.Length];
        for (int t = 0; t < prices.Length; t++)
            prices[t] = search.Lowering.CanOffload(t) ? 2 * (link.LatencySeconds + tasks[t].Bytes / link.BytesPerSecond) : -1;
        var solver = new Solvers.Optimal.OptimalSolver(PlannerPlanSource.Instance);
        return solver.PlanWithOffload(order, prices, HalfTheLimit(options), cancellation) is { } work
            && Placed(search, work) is { } c ? c with { Optimal = true } : null;
    }

    /// <summary>The search for memory (<see cref="OffloadSearch.RunTight"/>) from each base schedule; the best candidate.</summary>
    private static OffloadSearch.Candidate? Tightest(OffloadLowering lowering, IEnumerable<Schedule> bases, long budget, long? hostBudget,
        SolverOptions options, CancellationToken cancellation)
    {
        var search = new OffloadSearch(lowering, budget, hostBudget, options) { Eager = true };
        OffloadSearch.Candidate? best = null;
        foreach (var b in bases)
        {
            var found = search.RunTight(b, cancellation);
            if (best is null || OffloadSearch.BetterTight(found, best)) best = found;
            if (best is { Excess: 0, HostFits: true }) break;
        }
        return best;
    }

    private static PlanResult Result(PlanningProblem problem, PlanResult plain, OffloadSearch.Candidate? best, long budget, double seconds)
    {
        bool fits = best is { Excess: 0, HostFits: true };
        double plainSeconds = plain.Feasible ? plain.Simulation!.StepSeconds : double.PositiveInfinity;
        if (!fits || best!.Seconds >= plainSeconds * (1 - 1e-9) || !best.Schedule.HasTransfers)
            return plain with { SolveSeconds = seconds, KeepOrRecompute = plain };

        var sim = best.Simulation;
        string from = plain.Feasible ? $"the keep-or-recompute plan of {plain.Solver.WinningSolver ?? plain.Solver.Solver} takes {Units.TimeUnits.Format(plainSeconds, "s")} a step"
            : "no keep-or-recompute plan fits this budget";
        var result = new SolverResult(plain.Solver.Solver, PlanStatus.Feasible, Schedule: best.Schedule)
        {
            WinningSolver = Name,
            Note = $"{best.Schedule.OffloadedNodes.Length} tensors offloaded ({sim.OffloadBytes} bytes), {Units.TimeUnits.Format(sim.StepSeconds, "s")} a step" +
                (best.Native ? ", chosen by greedy at its evictions" : best.Optimal ? ", chosen by the optimal solver's model (keep, recompute or offload)" : "") + $"; {from}. " +
                "The recomputation bounds do not hold when values may be offloaded (an offload plan may recompute nothing), so none is given; " +
                $"no schedule takes less than one run of every task, {Units.TimeUnits.Format(problem.Training.ForwardTime + problem.Training.BackwardTime, "s")}",
        };
        return new PlanResult(result, best.Schedule, sim, budget, plain.StoreAllPeakBytes, seconds) { KeepOrRecompute = plain };
    }

    /// <summary>
    /// The smallest budget <paramref name="solverName"/> plans at with offloading allowed, by simulation, and the plan
    /// there. It starts from the smallest keep-or-recompute budget (<see cref="SmallestBudget.Find"/>), and below
    /// it, down to the largest step (which no schedule goes below), bisects with the search for memory (from that
    /// budget's plan and the closest schedule at the largest step) and greedy with the link as the judges, each
    /// schedule replayed by the simulator; every budget a fitting schedule is found at is lowered to that schedule's peak.
    /// The searches count their work, so the answer is the same on any machine.
    /// </summary>
    /// <returns>The smallest budget found, its plan, and the smallest keep-or-recompute budget; null when no plan fits any budget.</returns>
    public static (MinMemoryResult Found, long KeepOrRecomputeBytes)? MinMemory(PlanningProblem problem, string solverName, SolverOptions options,
        OffloadOptions offload, CancellationToken cancellation = default)
    {
        if (NotApplicableReason(problem) is { } why) throw new ArgumentException(why, nameof(problem));
        offload = OnDevice(problem.Graph, offload);
        var clock = Stopwatch.StartNew();
        var plain = options with { BudgetBytes = SolverOptions.UnlimitedBudget, WarmStart = null };
        var kr = SmallestBudget.Find(problem, solverName, plain, cancellation);
        if (kr is null) return null;
        long least = kr.BudgetBytes;
        long floor = problem.Floor.Bytes;
        var storeAll = RecomputePlanner.StoreAll(problem).Schedule;
        var lowering = new OffloadLowering(problem.Training, storeAll, offload.Link);
        long? hostBudget = offload.HostBudgetBytes == SolverOptions.UnlimitedBudget ? null : offload.HostBudgetBytes;
        // The bases: the plan at the smallest keep-or-recompute budget, and the solver's closest schedule at the
        // largest step (another order of work, which may leave more room once offloads replace its recomputations).
        var bases = new List<Schedule>();
        if (kr.Plan.Schedule is { HasTransfers: false } s) bases.Add(s);
        if (least > floor && RecomputePlanner.Plan(problem, solverName, plain with { BudgetBytes = floor }, cancellation).Schedule is { HasTransfers: false } closest)
            bases.Add(closest);
        OffloadSearch.Candidate? found = null;
        long lo = floor - 1, hi = least;
        // Bisection to a thousandth of the gap (and at least a kibibyte): the search is a local one, so the last
        // bytes of the interval would cost many searches and gain nothing a budget can use. The largest step is
        // tried first: a plan there is the least any schedule can have.
        long precision = Math.Max(1024, (least - floor) / 1000);
        for (bool first = true; bases.Count > 0 && hi - lo > precision; first = false)
        {
            cancellation.ThrowIfCancellationRequested();
            long mid = first ? floor : lo + (hi - lo) / 2;
            var c = Tightest(lowering, bases, mid, hostBudget, plain with { BudgetBytes = mid }, cancellation);
            if (NativeGreedy(problem.Training, storeAll, new OffloadSearch(lowering, mid, hostBudget, plain), plain, offload.Link, cancellation) is { Excess: 0, HostFits: true } native
                && (c is null || OffloadSearch.Better(native, c)))
                c = native;
            if (c is { Excess: 0, HostFits: true } && c.Schedule.HasTransfers) { found = c; hi = c.Simulation.PeakBytes; }
            else lo = mid;
        }
        PlanResult plan;
        if (found is null || hi >= least)
            plan = Improve(problem, kr.Plan, options with { BudgetBytes = least }, offload, cancellation);
        else
        {
            var over = kr.Plan with { BudgetBytes = hi, Solver = kr.Plan.Solver with { Status = PlanStatus.Infeasible } };
            plan = Result(problem, over, found, hi, 0);
            // The schedule states the budget it was found for; this is the peak it reaches.
            plan = plan with { Schedule = plan.Schedule! with { BudgetBytes = hi } };
        }
        clock.Stop();
        return (new MinMemoryResult(hi, plan with { SolveSeconds = clock.Elapsed.TotalSeconds }), least);
    }
}

/// <summary>
/// First-improvement local search over keep / offload / recompute per forward value. A candidate is better when it is
/// less over the device budget, or as far over it (0 once it fits) and faster; a plan over the host budget is never
/// taken. Values are visited largest first, trying offload, then recompute, then keep, in sweeps until a sweep changes
/// nothing or the counted work is spent.
/// </summary>
internal sealed class OffloadSearch(OffloadLowering lowering, long budget, long? hostBudget, SolverOptions options)
{
    internal sealed record Candidate(TensorChoice[] Choices, Schedule Schedule, SimulationResult Simulation, long Excess, bool HostFits)
    {
        public double Seconds => Simulation.StepSeconds;

        /// <summary>The bytes over the budget summed over the steps: how far from fitting, where the peak alone ties.</summary>
        public double Area { get; init; }

        /// <summary>Greedy's own choices at its evictions made it (<see cref="GreedyRematerializer.PlanWithOffload"/>).</summary>
        public bool Native { get; init; }
        /// <summary>The optimal solver's model with offloading chose them (<see cref="Solvers.Optimal.OptimalSolver.PlanWithOffload"/>).</summary>
        public bool Optimal { get; init; }
    }

    private readonly TrainingGraph _training = lowering.Training;

    /// <summary>The lowering every candidate of this search goes through.</summary>
    public OffloadLowering Lowering => lowering;

    /// <summary>The device budget the candidates are judged against.</summary>
    public long Budget => budget;

    /// <summary>The host budget, or null for none.</summary>
    public long? HostBudget => hostBudget;

    /// <summary>Place transfers for memory rather than time (<see cref="OffloadLowering.Lower"/>'s eager placement).</summary>
    public bool Eager { get; init; }

    /// <summary>Steps lowered and simulated by the full search (<see cref="SolverOptions.WorkFraction"/> of it below auto's default limit).</summary>
    private const double FullWork = 4e8;

    /// <summary>Evaluations a search gets from its start: <see cref="FullWork"/> steps simulated, at least 64.</summary>
    private long Evaluations(Candidate start) => Math.Max(64, (long)(FullWork / Math.Max(1, start.Schedule.Steps.Length) * options.WorkFraction));

    public static bool Better(Candidate a, Candidate b) =>
        a.HostFits && (!b.HostFits || a.Excess < b.Excess || (a.Excess == b.Excess && a.Seconds < b.Seconds * (1 - 1e-12)));

    /// <summary>
    /// <see cref="Better"/> for the search for memory: as far over the budget at the peak, the one over it at fewer
    /// steps, or by fewer bytes there, is better, since several steps at the same peak must all come down before it does.
    /// </summary>
    public static bool BetterTight(Candidate a, Candidate b) =>
        a.HostFits && (!b.HostFits || a.Excess < b.Excess || (a.Excess == b.Excess &&
            (a.Area < b.Area * (1 - 1e-12) || (a.Area <= b.Area && a.Seconds < b.Seconds * (1 - 1e-12)))));

    private double AreaOver(SimulationResult sim)
    {
        double area = 0;
        foreach (long live in sim.LiveBytes) if (live > budget) area += live - budget;
        return area;
    }

    private bool Pinned(int task, TensorChoice choice)
    {
        int node = _training.Tasks[task].Node;
        return choice switch
        {
            TensorChoice.Recompute => options.Keep.Contains(node),
            _ => options.ForceRecompute.Contains(node),
        };
    }

    /// <summary>Keep every value (recompute those pinned to be recomputed).</summary>
    public TensorChoice[] KeepAll()
    {
        var c = new TensorChoice[_training.Count];
        for (int t = 0; t < c.Length; t++)
            if (_training.Tasks[t].Kind == TaskKind.Forward && options.ForceRecompute.Contains(_training.Tasks[t].Node)) c[t] = TensorChoice.Recompute;
        return c;
    }

    /// <summary>A schedule's choices: values it offloads are offloaded, values live when its backward starts kept, the rest recomputed.</summary>
    public TensorChoice[] ChoicesOf(Schedule schedule)
    {
        var live = new bool[_training.Count];
        foreach (var s in schedule.Steps)
        {
            if (s.Kind == StepKind.Backward) break;
            if (s.Allocates) live[s.Task] = true;
            else if (s.Frees) live[s.Task] = false;
        }
        var c = new TensorChoice[_training.Count];
        for (int t = 0; t < c.Length; t++)
            if (_training.Tasks[t].Kind == TaskKind.Forward && (!live[t] || options.ForceRecompute.Contains(_training.Tasks[t].Node)) && !options.Keep.Contains(_training.Tasks[t].Node))
                c[t] = TensorChoice.Recompute;
        foreach (var s in schedule.Steps)
            if (s.Kind == StepKind.Offload) c[s.Task] = TensorChoice.Offload;
        return c;
    }

    /// <summary>A lowered schedule simulated without its budgets, with how far it is over each.</summary>
    public Candidate Judge(Schedule schedule) => Judge([], schedule);

    private Candidate Judge(TensorChoice[] choices, Schedule schedule)
    {
        var sim = Simulator.Simulate(schedule with { BudgetBytes = null, HostBudgetBytes = null });
        return new Candidate(choices, schedule, sim, Math.Max(0, sim.PeakBytes - budget), hostBudget is not { } h || sim.HostPeakBytes <= h);
    }

    private Candidate Evaluate(Schedule plain, bool[] offload, bool? eager = null)
    {
        var candidate = Judge([], lowering.LowerFrom(plain, offload, OffloadPlanner.Name, budget == SolverOptions.UnlimitedBudget ? null : budget, hostBudget, eager ?? Eager));
        return candidate with { Area = Eager ? AreaOver(candidate.Simulation) : 0 };
    }

    /// <summary>
    /// A keep-or-recompute schedule with recomputations replaced by offloads, one value at a time (dearest
    /// recomputation first), each kept when the schedule gets better (<see cref="Better"/>).
    /// </summary>
    public Candidate RunFrom(Schedule plain, CancellationToken cancellation)
    {
        var tasks = _training.Tasks;
        var (offload, current, work, split) = Start(plain);
        if (split < 0) return current;
        var candidates = work.Skip(split).Where(s => s.Kind == StepKind.Recompute).Select(s => s.Task).Distinct()
            .Where(t => lowering.CanOffload(t) && !options.ForceRecompute.Contains(tasks[t].Node))
            .OrderByDescending(t => tasks[t].Time).ThenBy(t => t).ToArray();
        long evaluations = Evaluations(current);
        return Sweep(plain, offload, current, candidates, Better, evaluations, cancellation).Best;
    }

    /// <summary>
    /// Where both searches from a plan start: nothing offloaded, that schedule's evaluation, the plan's allocating
    /// steps and the index of its first backward step (-1: none).
    /// </summary>
    private (bool[] Offload, Candidate Current, List<Step> Work, int Split) Start(Schedule plain)
    {
        var offload = new bool[_training.Count];
        var work = plain.Steps.Where(s => s.Allocates).ToList();
        return (offload, Evaluate(plain, offload), work, work.FindIndex(s => s.Kind == StepKind.Backward));
    }

    /// <summary>
    /// Offloads each candidate in turn, keeping it when <paramref name="better"/> prefers the result, in sweeps until one
    /// changes nothing or the evaluations run out; the best found and the evaluations left.
    /// </summary>
    private (Candidate Best, long Left) Sweep(Schedule plain, bool[] offload, Candidate current, int[] candidates,
        Func<Candidate, Candidate, bool> better, long evaluations, CancellationToken cancellation)
    {
        for (bool improved = true; improved && evaluations > 0;)
        {
            improved = false;
            foreach (int t in candidates)
            {
                if (offload[t] || evaluations-- <= 0) continue;
                cancellation.ThrowIfCancellationRequested();
                offload[t] = true;
                var next = Evaluate(plain, offload);
                if (better(next, current)) { current = next; improved = true; }
                else offload[t] = false;
            }
        }
        return (current, evaluations);
    }

    /// <summary>
    /// For a budget the schedule does not fit: offloads, one value at a time, largest first, of values the schedule
    /// recomputes after its first backward step or keeps across it, each kept when the schedule gets better
    /// (<see cref="Better"/>: less over the budget, then faster), in sweeps until one changes nothing.
    /// </summary>
    public Candidate RunTight(Schedule plain, CancellationToken cancellation)
    {
        var tasks = _training.Tasks;
        var (offload, current, work, split) = Start(plain);
        if (split < 0) return current;
        var before = new int[tasks.Length];
        for (int i = 0; i < split; i++) before[work[i].Task]++;
        var readAfter = new bool[tasks.Length];
        foreach (var s in work.Skip(split)) foreach (int p in tasks[s.Task].Inputs) readAfter[p] = true;
        var candidates = Enumerable.Range(0, tasks.Length)
            .Where(t => before[t] == 1 && readAfter[t] && lowering.CanOffload(t) && !options.ForceRecompute.Contains(tasks[t].Node))
            .OrderByDescending(t => tasks[t].Bytes).ThenBy(t => t).ToArray();
        long evaluations = Evaluations(current);
        (current, evaluations) = Sweep(plain, offload, current, candidates, BetterTight, evaluations, cancellation);
        // The same offloads with transfers placed by the clock hide behind compute: taken when that still fits.
        if (current is { Excess: 0, HostFits: true } && current.Schedule.HasTransfers && evaluations > 0)
        {
            var timed = Evaluate(plain, offload, eager: false);
            if (timed is { Excess: 0, HostFits: true } && timed.Seconds < current.Seconds * (1 - 1e-12)) current = timed;
        }
        return current;
    }

    private Candidate Evaluate(TensorChoice[] choices)
    {
        return Judge((TensorChoice[])choices.Clone(), lowering.Lower(choices, OffloadPlanner.Name, budget == SolverOptions.UnlimitedBudget ? null : budget, hostBudget, Eager));
    }

    public Candidate Run(TensorChoice[] seed, CancellationToken cancellation)
    {
        var choices = (TensorChoice[])seed.Clone();
        var current = Evaluate(choices);
        var tasks = _training.Tasks;
        var candidates = Enumerable.Range(0, tasks.Length)
            .Where(t => tasks[t].Kind == TaskKind.Forward && tasks[t].Bytes > 0 && _training.ViewOf(tasks[t].Node) is null)
            .OrderByDescending(t => tasks[t].Bytes).ThenBy(t => t).ToArray();
        long evaluations = Evaluations(current);
        TensorChoice[] alternatives = [TensorChoice.Offload, TensorChoice.Recompute, TensorChoice.Keep];
        for (bool improved = true; improved && evaluations > 0;)
        {
            improved = false;
            foreach (int t in candidates)
            {
                if (evaluations <= 0) break;
                cancellation.ThrowIfCancellationRequested();
                var old = choices[t];
                foreach (var alt in alternatives)
                {
                    if (alt == old || Pinned(t, alt) || (alt == TensorChoice.Offload && !lowering.CanOffload(t))) continue;
                    choices[t] = alt;
                    evaluations--;
                    var next = Evaluate(choices);
                    if (Better(next, current)) { current = next; improved = true; break; }
                    choices[t] = old;
                }
            }
        }
        return current;
    }
}
