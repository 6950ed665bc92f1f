using Google.OrTools.Sat;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// Plans guided by the cut relaxation (<see cref="CutRelaxation"/>): the relaxation over the one cut of greatest excess
/// says which buffers to leave out at that cut for the least recomputation. Those forward buffers are lowered into
/// schedules straight (<see cref="GuidedLowering"/>: freed after their last forward read and recomputed just before
/// the backward tasks that need them, held between needs by a window or until the budget overflows) and through the
/// greedy pass (<see cref="GreedyRematerializer.GuidedSchedule"/>, which evicts by its scores where that choice does
/// not fit). The relaxation ignores the memory its recomputations take, so it is also solved with less memory at the
/// cut (<see cref="Headrooms"/>), which leaves that room; the cheapest schedule that fits wins.
/// </summary>
/// <remarks>
/// Each relaxation is limited as work (<see cref="CpSatSettings.WorkLimited"/>, <see cref="WorkShare"/>) and a
/// search the wall clock ended is set aside (and the plan's note says so), so the plan does not depend on the machine's load. Measured on the 2-core
/// machine: on ResNet-50 at half of store-all the eleven relaxations and their greedy passes take under a second and
/// recompute 13.05 GFLOP where the eviction scores alone recompute 17.70 (the bound is 12.72).
/// </remarks>
internal static class RelaxationGuide
{
    /// <summary>Memory at the cut the relaxation is solved with, as fractions of the plan's budget.</summary>
    public static IReadOnlyList<double> Headrooms { get; } = [1.0, 0.99, 0.98, 0.97, 0.96, 0.94, 0.92, 0.9, 0.85, 0.8, 0.7];

    /// <summary>How far from 0 or 1 a linear point's value may be and still count as integral (<c>SearchFromPoint</c>).</summary>
    private const double IntegralTolerance = 1e-6;

    /// <summary>Above this many tasks no guide is computed (the analysis is quadratic in memory).</summary>
    public const int MaxTasks = 8_000;

    /// <summary>
    /// Above this many tasks × edges no guide is computed: the analysis visits, for every task, the readers of its
    /// ancestors (a W-wide Concat whose backward reads every operand has W² edges).
    /// </summary>
    public const long MaxAnalysisWork = 500_000_000;

    /// <summary>
    /// Whether the DAG has more than <see cref="MaxAnalysisWork"/> tasks × edges: then the refinements whose every pass
    /// visits the readers of every pending buffer (this guide, the bound of <see cref="GeneralBound"/>, greedy's pin
    /// search) are skipped.
    /// </summary>
    public static bool TooWide(TrainingGraph training) => (long)training.Count * training.Tasks.Sum(t => (long)t.Inputs.Length) > MaxAnalysisWork;

    /// <summary>Time limit of each relaxation, counted as CP-SAT's deterministic time at <see cref="GeneralBound.SingleCutRate"/>.</summary>
    public static readonly TimeSpan WorkShare = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The share of a relaxation's work (<see cref="WorkShare"/>) that each chain grown from the cut gets: on U-Net at
    /// 50 % the two-cut chain is solved to optimality within a tenth of it; on ResNet-50 at 30 % none within the whole
    /// of it, where each took half a second to a second.
    /// </summary>
    public const double GrownWorkShare = 0.25;

    /// <summary>
    /// The work the relaxations of one guide share, in <see cref="WorkShare"/>s: a relaxation ended by proof takes its
    /// deterministic time, one ended by its work limit the whole of that limit, and none is begun once they are spent
    /// (so the guide takes at most one relaxation more). The shipped graphs' guides take at most four (GPT-2 124M at
    /// 50 % of store-all: four relaxations to their limit); Swin-T's at 30 % took ten, each to its limit, and none of
    /// the nine after the first lowered a cheaper plan.
    /// </summary>
    public const int WorkShares = 4;

    /// <summary>
    /// The cheapest guided schedule that fits <paramref name="budget"/> by simulation, or null (no backward pass, no
    /// excess, too large a DAG, or nothing fit).
    /// </summary>
    /// <param name="neverRecompute">Tasks never run twice (keep pins).</param>
    /// <param name="alwaysDrop">Forward tasks dropped whatever the relaxation says (<c>--recompute</c> pins).</param>
    /// <param name="toBeat">Recompute time of the best plan the caller has: the search stops at the first headroom whose
    /// relaxation costs at least that (or at least the best guided plan so far), since less memory at the cut only
    /// costs more.</param>
    /// <param name="workFraction">The share of <see cref="WorkShare"/> each relaxation gets (<see cref="SolverOptions.WorkFraction"/>).</param>
    /// <param name="wallClockCut">Set when the wall clock ended a relaxation's search before its work limit: it was
    /// set aside, so the answer may differ on a less busy machine.</param>
    public static (Schedule Schedule, SimulationResult Simulation)? Best(TrainingGraph training, long budget, IReadOnlySet<int> neverRecompute,
        IReadOnlySet<int> alwaysDrop, SearchWorkers workers, int seed, string solver, double toBeat, CancellationToken cancellation, double workFraction,
        out bool wallClockCut)
    {
        var (single, grown) = Plans(training, budget, neverRecompute, alwaysDrop, workers, seed, solver, toBeat, cancellation, workFraction, out wallClockCut);
        return grown is { } g && (single is null || g.Simulation.RecomputeTime < single.Value.Simulation.RecomputeTime) ? g : single;
    }

    /// <summary>The greedy solver's first-run orders with the forward pass first (<see cref="GreedySolver.ForwardFirst"/>),
    /// each once, in the order they come: the orders a drop set is lowered along.</summary>
    public static List<int[]> ForwardFirstOrders(TrainingGraph training, CancellationToken cancellation)
    {
        var orders = new List<int[]>();
        foreach (var order in GreedySolver.Orders(training, cancellation).Select(o => GreedySolver.ForwardFirst(training, o)))
            if (!orders.Any(o => o.AsSpan().SequenceEqual(order))) orders.Add(order);
        return orders;
    }

    /// <summary>
    /// As <see cref="Best"/>, with the cheapest schedule from the cut alone and the cheapest from the chains grown from
    /// it and the deepest-first fittings of drop sets with masks left for after the cut apart (either null where nothing
    /// fit), for a caller that improves one of them further: greedy's pin search starts from the first, whose search is
    /// the same as without growth, and the second is one more candidate.
    /// </summary>
    /// <param name="spent">Told the work the relaxations took against their share (<see cref="WorkShares"/>).</param>
    public static ((Schedule Schedule, SimulationResult Simulation)? Single, (Schedule Schedule, SimulationResult Simulation)? Grown) Plans(
        TrainingGraph training, long budget, IReadOnlySet<int> neverRecompute, IReadOnlySet<int> alwaysDrop, SearchWorkers workers, int seed,
        string solver, double toBeat, CancellationToken cancellation, double workFraction, out bool wallClockCut, GuideWork? spent = null)
    {
        wallClockCut = false;
        if (training.Count == 0 || training.Count > MaxTasks || !training.HasBackward) return default;
        if (TooWide(training)) return default;
        var analysis = new CutAnalysis(training, budget, cancellation);
        if (analysis.Infeasible || analysis.Path.Count == 0) return default;
        int cut = analysis.Path.MaxBy(x => (analysis.Excess[x], -x));
        var orders = ForwardFirstOrders(training, cancellation);
        (Schedule Schedule, SimulationResult Simulation)? best = null, grown = null;
        var tried = new HashSet<string>();
        var triedGrown = new HashSet<string>();
        var triedLinear = new HashSet<string>();
        bool outOfWork = false;
        // Set by a search from a linear point (SearchFromPoint) that the wall clock ended: told to the caller as wallClockCut.
        bool searchCutByClock = false;
        // Whether the whole budget's point left masks or statistics for after the cut and was searched (SearchFromPoint).
        bool masksSearched = false;
        spent ??= new GuideWork();
        spent.Start(Settings(workFraction).DeterministicLimit * WorkShares);
        foreach (double headroom in Headrooms)
        {
            long memory = (long)(budget * headroom);
            cancellation.ThrowIfCancellationRequested();
            // The relaxations share the guide's work: once it is spent, no more CP-SAT search is begun, and the headrooms
            // left are solved as linear programs only (deterministic, milliseconds on a single cut), each point's drop set
            // lowered. DenseNet-121 at 30 %: every search ends by its work limit far above the optimum, and the point at
            // a headroom the shared work does not reach gives the plan (2.995·10⁹ where the searches' best is 4.749·10⁹).
            if (outOfWork || !spent.Allows())
            {
                outOfWork = true;
                if (!LinearOnly(memory)) break;
                continue;
            }
            // Where the whole budget's point left masks for after the cut, the search with the rows from its point.
            if (masksSearched)
            {
                if (!LowerWithMasks(memory, search: true)) break;
                continue;
            }
            var relaxation = new CutRelaxation(analysis, [cut], neverRecompute, memory, backwardOnlyBuffers: false);
            var settings = Settings(workFraction);
            using var cp = new CpSolver { StringParameters = settings.ToParameterText() };
            CpSolverStatus status;
            using (cancellation.Register(cp.StopSearch)) status = settings.Solve(cp, relaxation.Model);
            spent.Charge(status, cp.Response?.DeterministicTime ?? 0, settings.DeterministicLimit);
            cancellation.ThrowIfCancellationRequested();
            if (settings.CutByWallClock(cp, status)) { wallClockCut = true; continue; }
            if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible)) continue;
            // Less memory at the cut only costs more.
            if (relaxation.ToTime(cp.BestObjectiveBound) >= Least()) { wallClockCut |= searchCutByClock; return (best, grown); }
            LowerWithMasks(memory, search: true);
            var drop = DropSet(relaxation, cp);
            // A drop set lowered before at the cut alone is neither lowered nor grown again.
            if (!tried.Add(Key(drop))) continue;
            Lower(drop, grownChain: false);
            LowerLinear(relaxation, status, grownChain: false);
            // With the whole budget at the cut, the chains grown from its solution where that overflows (CutGrowth): each
            // solution's drop set at the cut is lowered. Only at the whole budget: the headrooms below are the other way to
            // leave room for what the cut alone does not see, and each grown chain costs its lowerings again.
            if (headroom != Headrooms[0]) continue;
            // Each round's search begins only when the enumeration asks for it, so the guide's work is checked first.
            if (!spent.Allows()) { outOfWork = true; continue; }
            foreach (var round in CutGrowth.Grow(analysis, relaxation, cp, memory, cuts => new CutRelaxation(analysis, cuts, neverRecompute, memory, backwardOnlyBuffers: false),
                new GrowthWork(WorkShare * workFraction * GrownWorkShare, Shared: false, WorkLimited: true), workers, seed, cancellation))
            {
                spent.Charge(round.Status, round.Solver.Response?.DeterministicTime ?? 0, round.DeterministicLimit);
                cancellation.ThrowIfCancellationRequested();
                if (!round.Solved) { wallClockCut |= round.WallClockCut; break; }
                // More cuts only cost more. The cut alone is searched as if nothing were grown (the grown chains' plans
                // do not stop it).
                if (round.Relaxation.ToTime(round.Solver.BestObjectiveBound) >= Math.Min(Least(), grown?.Simulation.RecomputeTime ?? double.MaxValue)) break;
                var grownDrop = DropSet(round.Relaxation, round.Solver);
                string key = Key(grownDrop);
                if (!tried.Contains(key) && triedGrown.Add(key)) Lower(grownDrop, grownChain: true);
                LowerLinear(round.Relaxation, round.Status, grownChain: true);
                if (!spent.Allows()) { outOfWork = true; break; }
            }
        }
        wallClockCut |= searchCutByClock;
        return (best, grown);

        // A headroom by the linear relaxation alone: false where its bound says less memory only costs more (or it has
        // no optimum), which ends the headrooms.
        bool LinearOnly(long memory)
        {
            var relaxation = new CutRelaxation(analysis, [cut], neverRecompute, memory, backwardOnlyBuffers: false);
            if (relaxation.DecisionCount > GeneralBound.LinearDecisionLimit || LinearRelaxation.Solve(relaxation.Model, cancellation) is not { } point) return false;
            cancellation.ThrowIfCancellationRequested();
            if (relaxation.ToTime(point.Bound) >= Least()) return false;
            LowerPoint(relaxation, point, grownChain: false);
            LowerWithMasks(memory);
            return true;
        }

        // The relaxation with the rows for the buffers only the backward pass reads (masks, statistics), as a linear
        // program (deterministic, milliseconds on a single cut): its point, rounded, says which of them to leave for
        // after the cut, where their first run is free (FirstRuns.Defer moves it there), and which forward buffers to
        // drop given that. Without those rows the search's solution keeps the residual stream and the masks and drops
        // attention outputs instead: on ViT-B/16 at 50 % the best plan from the searches alone recomputes 2.109·10¹⁰,
        // one from this point 1.624·10¹⁰ (the bound 1.616·10¹⁰).
        //
        // With search, where the point leaves masks or statistics for after the cut, CP-SAT also searches that relaxation
        // from the point (SearchFromPoint) within one relaxation's share of the guide's work; once it has at the whole
        // budget, that search takes the place of the search without the rows at the headrooms after it (on Swin-T and
        // ViT-B/16 those searches' drop sets never gave the plan). False where a bound says less memory only costs more.
        bool LowerWithMasks(long memory, bool search = false)
        {
            var relaxation = new CutRelaxation(analysis, [cut], neverRecompute, memory, backwardOnlyBuffers: true);
            if (relaxation.DecisionCount > GeneralBound.LinearDecisionLimit || LinearRelaxation.Solve(relaxation.Model, cancellation) is not { } point) return false;
            cancellation.ThrowIfCancellationRequested();
            if (relaxation.ToTime(point.Bound) >= Least()) return false;
            var later = relaxation.LeftForLaterAt(point, 0);
            LowerMasks(relaxation.DroppedAt(point, 0), later, memory);
            if (search && later.Count > 0 && spent.Allows()) { masksSearched = true; return SearchFromPoint(relaxation, point, memory); }
            return true;
        }

        // A drop set with the masks and statistics left for after the cut, lowered unless one lowered before was the same;
        // at the whole budget, where it leaves some, also fitted deepest input first (Lower's masks).
        void LowerMasks(IEnumerable<int> dropped, IReadOnlyList<int> later, long memory)
        {
            var drop = Drops(dropped.Concat(later));
            string key = Key(drop);
            if (!tried.Contains(key) && !triedGrown.Contains(key) && triedLinear.Add(key)) Lower(drop, grownChain: false, masks: later.Count > 0 && memory == budget);
        }

        // The relaxation with the backward-only rows searched by CP-SAT from its linear point: the point's integral
        // variables fixed and the few fractional ones solved (milliseconds) give a solution that fits the cut, CP-SAT's
        // hint for a search of the whole model within one relaxation's work (charged to the guide's work, so a
        // search at a later headroom is not begun instead). Rounding the point at 0.5 overflows the cut and fixing its
        // integral part costs more than the optimum; the search from there comes close to the optimum: Swin-T at 30 %
        // of store-all, point 1.832·10¹⁰, fixed 2.085·10¹⁰, searched 1.978·10¹⁰ (the search without the rows and
        // without a hint: 4.09·10¹⁰). False where the search's bound says less memory only costs more; a solution that
        // costs at least the best plan is not lowered.
        bool SearchFromPoint(CutRelaxation relaxation, LinearSolution point, long memory)
        {
            var settings = Settings(workFraction);
            IList<long>? hint = null;
            using (var repair = new CpSolver { StringParameters = settings.ToParameterText() })
            {
                var repaired = SolveFixedAt(relaxation, point, repair, settings, cancellation);
                spent.Charge(repaired, repair.Response?.DeterministicTime ?? 0, settings.DeterministicLimit);
                cancellation.ThrowIfCancellationRequested();
                if (settings.CutByWallClock(repair, repaired)) { searchCutByClock = true; return true; }
                if (repaired is CpSolverStatus.Optimal or CpSolverStatus.Feasible) hint = [.. repair.Response!.Solution];
            }
            if (hint is null || !spent.Allows()) return true;
            var model = relaxation.Model.Model;
            model.SolutionHint = new PartialVariableAssignment();
            model.SolutionHint.Vars.AddRange(Enumerable.Range(0, hint.Count));
            model.SolutionHint.Values.AddRange(hint);
            using var cp = new CpSolver { StringParameters = settings.ToParameterText() };
            CpSolverStatus status;
            using (cancellation.Register(cp.StopSearch)) status = settings.Solve(cp, relaxation.Model);
            spent.Charge(status, cp.Response?.DeterministicTime ?? 0, settings.DeterministicLimit);
            cancellation.ThrowIfCancellationRequested();
            if (settings.CutByWallClock(cp, status)) { searchCutByClock = true; return true; }
            if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible)) return true;
            if (relaxation.ToTime(cp.BestObjectiveBound) >= Least()) return false;
            if (relaxation.ToTime(cp.ObjectiveValue) < Least()) LowerMasks(relaxation.DroppedAt(cp, 0), relaxation.LeftForLaterAt(cp, 0), memory);
            return true;
        }

        // What the search has to beat: the caller's plan and the best from the cut alone.
        double Least() => Math.Min(toBeat, best?.Simulation.RecomputeTime ?? double.MaxValue);

        // Where the guide's cut stands in a chain's cuts.
        int AtCut(CutRelaxation relaxation) => relaxation.Cuts.TakeWhile(c => c != cut).Count();

        // The forward buffers the solution leaves out at the cut, and the --recompute pins.
        HashSet<int> DropSet(CutRelaxation relaxation, CpSolver solution) => Drops(relaxation.DroppedAt(solution, AtCut(relaxation)));

        // The forward buffers a solution leaves out at the cut that may be recomputed, and the --recompute pins.
        HashSet<int> Drops(IEnumerable<int> dropped) =>
            dropped.Where(t => training.Tasks[t].Kind == TaskKind.Forward && !neverRecompute.Contains(t)).Concat(alwaysDrop).ToHashSet();

        static string Key(HashSet<int> drop) => string.Join(',', drop.Order());

        // A search that ended by its work limit may hold a solution far above the optimum, where the linear relaxation's
        // optimal point is close to an integral one (DenseNet-121 at 30 %: CP-SAT's solution recomputes 1.7·10¹⁰, the
        // optimum and the linear relaxation's 2.81·10⁹): that point's drop set, each K rounded, is lowered too. The
        // simplex is deterministic and takes milliseconds on a single cut.
        void LowerLinear(CutRelaxation relaxation, CpSolverStatus status, bool grownChain)
        {
            if (status == CpSolverStatus.Optimal || relaxation.DecisionCount > GeneralBound.LinearDecisionLimit) return;
            if (LinearRelaxation.Solve(relaxation.Model, cancellation) is { } point) LowerPoint(relaxation, point, grownChain);
        }

        // A linear relaxation's point read as a drop set (each K rounded), lowered unless a solution's gave the same.
        void LowerPoint(CutRelaxation relaxation, LinearSolution point, bool grownChain)
        {
            var drop = Drops(relaxation.DroppedAt(point, AtCut(relaxation)));
            string key = Key(drop);
            if (!tried.Contains(key) && !triedGrown.Contains(key) && triedLinear.Add(key)) Lower(drop, grownChain);
        }

        // Every lowering of the drop set along every order; the schedules that fit are kept, as the cut alone's plans or
        // as the grown chains'.
        void Lower(HashSet<int> drop, bool grownChain, bool masks = false)
        {
            foreach (var order in orders)
            {
                foreach (int window in GuidedLowering.Windows)
                    Consider(GuidedLowering.Lower(training, order, drop, neverRecompute, window, solver, budget, cancellation), grownChain);
                if (GuidedLowering.Fitted(training, order, drop, neverRecompute, GuidedLowering.FitRounds, solver, budget, cancellation) is { } fitted)
                {
                    var steps = FirstRuns.Defer(training, fitted.Schedule.Steps, out int moved);
                    if (moved == 0) Keep(fitted, grownChain);
                    else Consider(fitted.Schedule with { Steps = steps }, grownChain);
                }
                foreach (var score in Enum.GetValues<EvictionScore>())
                    Consider(GreedyRematerializer.GuidedSchedule(training, order, budget, score, solver, neverRecompute, drop, cancellation), grownChain);
                // A drop set with masks left for after the cut at the whole budget also fitted deepest input first: the residual stream rebuilt one
                // link at a time instead of every dropped branch before the first sum (ViT-B/16 at 40 % of store-all:
                // 9.830·10¹⁰ where the other lowerings of the same points give 1.020·10¹¹). Kept aside with the grown
                // chains' plans, a candidate of its own: as the start of greedy's pin search it led to a dearer end on
                // ViT-B/16 at 30 % (1.8762·10¹¹ against 1.8715·10¹¹).
                if (masks && GuidedLowering.Fitted(training, order, drop, neverRecompute, GuidedLowering.FitRounds, solver, budget, cancellation, deepFirst: true) is { } deep)
                    Consider(deep.Schedule, grownChain: true);
            }
        }

        CpSatSettings Settings(double fraction) =>
            new(WorkShare * fraction, workers.Logical, seed) { Threads = workers.Threads, WorkLimited = true, DeterministicRate = GeneralBound.SingleCutRate };

        void Consider(Schedule? schedule, bool grownChain)
        {
            if (schedule is null) return;
            // A first run freed before anything reads it (a mask left for after the cut, computed in the forward pass
            // and dropped there) moves to its next run: never more memory, its time less.
            schedule = schedule with { Steps = FirstRuns.Defer(training, schedule.Steps, out _) };
            var simulation = Simulator.Measure(schedule);
            if (simulation.Fits(budget)) Keep((schedule, simulation), grownChain);
        }

        // A schedule that fits, simulated already (Fitted's result comes with its simulation).
        void Keep((Schedule Schedule, SimulationResult Simulation) plan, bool grownChain)
        {
            ref var into = ref grownChain ? ref grown : ref best;
            if (into is null || plan.Simulation.RecomputeTime < into.Value.Simulation.RecomputeTime) into = plan;
        }
    }

    /// <summary>
    /// Solves <paramref name="relaxation"/> with every Boolean variable that is integral at <paramref name="point"/>
    /// (within <see cref="IntegralTolerance"/>) fixed to that value, so that only the fractional ones are searched; the
    /// model's domains are as before on return. The solution (in <paramref name="solver"/>'s response) fits the
    /// relaxation's memory at the cut, where the point rounded at 0.5 may not.
    /// </summary>
    internal static CpSolverStatus SolveFixedAt(CutRelaxation relaxation, LinearSolution point, CpSolver solver, CpSatSettings settings,
        CancellationToken cancellation)
    {
        var variables = relaxation.Model.Model.Variables;
        var fixedAt = new List<int>();
        try
        {
            for (int i = 0; i < variables.Count; i++)
            {
                var domain = variables[i].Domain;
                double value = point.Values[i];
                if (domain.Count != 2 || domain[0] != 0 || domain[1] != 1 || (value > IntegralTolerance && value < 1 - IntegralTolerance)) continue;
                domain[0] = domain[1] = value >= 0.5 ? 1 : 0;
                fixedAt.Add(i);
            }
            using (cancellation.Register(solver.StopSearch)) return settings.Solve(solver, relaxation.Model);
        }
        finally
        {
            foreach (int i in fixedAt) (variables[i].Domain[0], variables[i].Domain[1]) = (0, 1);
        }
    }
}

/// <summary>
/// The work the relaxations of one <see cref="RelaxationGuide"/> took, counted in CP-SAT's deterministic seconds
/// against the share they have together (<see cref="RelaxationGuide.WorkShares"/>).
/// </summary>
internal sealed class GuideWork
{
    /// <summary>Deterministic seconds the relaxations have together.</summary>
    public double Total { get; private set; }

    /// <summary>Deterministic seconds charged so far.</summary>
    public double Charged { get; private set; }

    /// <summary>Relaxations solved.</summary>
    public int Relaxations { get; private set; }

    /// <summary>Relaxations not begun because the work was spent.</summary>
    public int Refused { get; private set; }

    public void Start(double total) => (Total, Charged, Relaxations, Refused) = (total, 0, 0, 0);

    /// <summary>Whether another relaxation may begin: some of the work is left (when none is, counts the refusal).</summary>
    public bool Allows()
    {
        // A relative tolerance, so that four relaxations of a quarter of the total spend it exactly.
        bool allowed = Charged < Total * (1 - 1e-9);
        if (!allowed) Refused++;
        return allowed;
    }

    /// <summary>
    /// Charges a solved relaxation: its deterministic time where it ended by proof (at most its limit), the whole limit
    /// otherwise (it ran to it), so the sum is the same on any load.
    /// </summary>
    public void Charge(CpSolverStatus status, double deterministic, double limit)
    {
        Relaxations++;
        Charged += status is CpSolverStatus.Optimal or CpSolverStatus.Infeasible ? Math.Min(deterministic, limit) : limit;
    }
}
