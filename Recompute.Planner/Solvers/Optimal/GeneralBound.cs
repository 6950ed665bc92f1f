using System.Diagnostics;
using Google.OrTools.Sat;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>A run of <see cref="GeneralBound"/>.</summary>
/// <param name="Bound">Proven lower bound on the recompute time of every schedule (time units).</param>
/// <param name="Cuts">How many cut tasks the relaxation that proved it has.</param>
/// <param name="CpStatus">CP-SAT's status on that relaxation.</param>
/// <param name="Elapsed">Analysis plus solving time.</param>
internal sealed record GeneralBoundRun(double Bound, int Cuts, string CpStatus, TimeSpan Elapsed)
{
    /// <summary>The cut tasks of the relaxation that proved the bound, in path order (empty where none did).</summary>
    public IReadOnlyList<int> CutTasks { get; init; } = [];

    /// <summary>Whether a work-limited search was ended by the wall clock before its work limit (its bound was set aside).</summary>
    public bool WallClockCut { get; init; }

    /// <summary>
    /// Whether cancellation ended the relaxations before they had all run: the bound is the best of those that had,
    /// still valid, but it depends on when the stop came.
    /// </summary>
    public bool Stopped { get; init; }
}

/// <summary>
/// The lower bound on recomputation that holds for every schedule (<see cref="CutRelaxation"/>), searched by CP-SAT
/// within a work limit, and attached to a plan's result as <see cref="SolverResult.GeneralLowerBound"/> (and as its
/// <see cref="SolverResult.LowerBound"/> when no bound of a narrower family is larger).
/// </summary>
/// <remarks>
/// Relaxations tried, best bound kept: each of the <see cref="SingleCuts"/> most exceeding tasks of the cut path on
/// its own (small models that CP-SAT usually solves to optimality in a second, each also solved as a linear program,
/// which bounds where CP-SAT's work ends first; searched in order of their linear optima, sharing their shares; on the
/// shipped CNNs and GPT-2 one cut at the forward/backward boundary gives most of the bound), then the window of consecutive cuts whose linear
/// relaxation bounds most (<see cref="Windows"/>, searched at <see cref="WindowRate"/> with the share the single cuts
/// leave: stronger where one stretch of the backward pass forces the recomputation), then a chain of the most exceeding tasks up to
/// <see cref="ChainDecisions"/> estimated decisions (stronger where the pressure is spread over the backward pass),
/// searched by CP-SAT and, up to <see cref="LinearDecisionLimit"/> decisions, also solved as a linear program; and the
/// chain grown from the most exceeding cut's solution where that overflows (<see cref="CutGrowth"/>, <see cref="Grow"/>);
/// given a plan, the best single cut with the path task where the plan drops a buffer it had run again (<see cref="PlanCut"/>).
/// Each search gets a share of the limit as CP-SAT's deterministic time, so the bound does not depend on how busy the
/// machine is; the wall clock stops a search only at 2.5 times its share plus a second (<see cref="CpSatSettings.WallClockSlack"/>).
/// </remarks>
internal static class GeneralBound
{
    /// <summary>Single-cut relaxations tried.</summary>
    public const int SingleCuts = 3;

    /// <summary>
    /// CP-SAT's deterministic seconds per second of the limit for a relaxation over one cut: those models are small
    /// and CP-SAT's deterministic clock runs at 0.3 to 0.6 of the wall clock on them (see <see cref="CpSatSettings.WorkLimited"/>).
    /// </summary>
    public const double SingleCutRate = 0.25;

    /// <summary>
    /// CP-SAT's deterministic seconds per second of its share for the window (<see cref="Windows"/>): its bound keeps
    /// rising with work where a single cut's is proved at once (U-Net at 40 %: 8.38·10¹⁰ at 0.33 deterministic
    /// seconds, 9.58·10¹⁰ at 0.41, its optimum 9.59·10¹⁰ from 0.45); on a window of 3,000 to 8,000 decisions CP-SAT's
    /// deterministic clock runs at 0.2 to 0.5 of the wall clock on the 2-core machine, so the search takes one to two
    /// times its share.
    /// </summary>
    public const double WindowRate = 0.5;

    /// <summary>
    /// The least deterministic time for which the chain is searched by CP-SAT (its share times
    /// <see cref="CpSatSettings.DeterministicPerSecond"/>): under it, as at auto's default 5 s (0.003), the search ends
    /// before the model is loaded, so its share goes to the window.
    /// </summary>
    public const double MinimumChainWork = 0.01;

    /// <summary>
    /// The plan chain's work (<see cref="PlanCut"/>) as a fraction of one single cut's share, on top of the bound's
    /// other searches: SqueezeNet 1.1 at 50 % proves its pair within a quarter of a share (0.01 deterministic seconds);
    /// half a share keeps what a pair that does not end by proof costs the command to about 0.1 s of processor time.
    /// </summary>
    public const double PlanChainShare = 0.5;

    /// <summary>Estimated decisions of the chain relaxation.</summary>
    public const int ChainDecisions = 20_000;

    /// <summary>
    /// Estimated decisions of a window of consecutive cuts (<see cref="Windows"/>; 3,000 to 8,000 real ones on the shipped
    /// CNNs, whose CP-SAT searches reach their bound within 0.02 to 0.5 deterministic seconds).
    /// </summary>
    public const int WindowDecisions = 2_000;

    /// <summary>
    /// The chain's linear relaxation (<see cref="LinearRelaxation"/>) is solved on chains of up to this many decisions:
    /// a second at most on the shipped CNNs (ResNet-18, U-Net, MobileNetV2); above it (ResNet-50, GPT-2: 40,000 and
    /// more, 1.6–3.2 s) the single cuts already bound as much.
    /// </summary>
    public const int LinearDecisionLimit = 30_000;

    /// <summary>
    /// CP-SAT searches the chain only when it has at most this many decisions per second of its share: on ResNet-50's
    /// and GPT-2's chains (40,000 decisions and more) a 0.2 s share (auto's default 5 s) went in loading the model and
    /// the wall clock ended every search; from a 0.8 s share (a 20 s limit) they end by their work limit.
    /// </summary>
    public const double ChainDecisionsPerSecond = 100_000;

    /// <summary>
    /// The limit from which the chain's linear relaxation is solved on chains of up to <see cref="LinearDecisionLimit"/>
    /// decisions (auto's share at its default 5 s); under it, on proportionally smaller chains only. Decided by size, so
    /// the bound stays reproducible: the simplex takes about 1 s on MobileNetV2's 23,000-decision chain whatever the
    /// limit, which made <c>--time-limit 1</c> a 3.4 s command.
    /// </summary>
    public static readonly TimeSpan FullLinearLimit = TimeSpan.FromSeconds(1);

    /// <summary>The largest chain (in decisions) whose linear relaxation is solved within <paramref name="limit"/>.</summary>
    public static int LinearDecisions(TimeSpan limit) => (int)(LinearDecisionLimit * Math.Clamp(limit / FullLinearLimit, 0, 1));

    /// <summary>Above this many tasks the bound is not computed (its analysis is quadratic in memory).</summary>
    public const int MaxTasks = 20_000;

    /// <summary>What <see cref="SolverResult.BoundSource"/> says when this bound is the plan's.</summary>
    public const BoundSource Source = BoundSource.CutRelaxation;

    /// <summary>Proves a bound within <paramref name="limit"/>; null when the DAG is too large, the time too short,
    /// or the search was cancelled.</summary>
    /// <param name="workLimited">Limit each search as work (<see cref="CpSatSettings.WorkLimited"/>) and keep only the
    /// bounds of searches that ended by proof or by that limit, so that the bound does not depend on the machine's load.</param>
    /// <param name="plan">A schedule that fits the budget (auto's plan so far), or null: where it runs a buffer again
    /// after a re-run that both come after the best single cut's first run, the chain of that cut and the path task
    /// between those two runs is searched too (<see cref="PlanCut"/>), hinted with the plan, with
    /// <see cref="PlanChainShare"/> of a single cut's share more.</param>
    public static GeneralBoundRun? Prove(TrainingGraph training, long budgetBytes, IReadOnlySet<int> neverRecompute, TimeSpan limit,
        SearchWorkers workers, int seed, CancellationToken cancellation, bool workLimited = true, Scheduling.Schedule? plan = null)
    {
        if (training.Count == 0 || training.Count > MaxTasks || limit < TimeSpan.FromMilliseconds(200) || cancellation.IsCancellationRequested) return null;
        // The analysis and the relaxations visit the readers of every pending buffer: on a W-wide Concat whose backward
        // reads every operand (W² edges) that took 20 s for the analysis and a minute for the models at W = 5,000,
        // whatever the limit. Such DAGs get no bound, as greedy gets no guide there.
        if (RelaxationGuide.TooWide(training)) return null;
        var clock = Stopwatch.StartNew();
        var analysis = new CutAnalysis(training, budgetBytes);
        if (analysis.Path.Count == 0) return new GeneralBoundRun(0, 0, "NO_CUT", clock.Elapsed);
        var byExcess = analysis.Path.OrderByDescending(x => analysis.Excess[x]).ThenBy(x => x).ToList();
        var tries = byExcess.Take(SingleCuts).Select(x => (Cuts: (IReadOnlyList<int>)[x], Small: true)).ToList();
        GeneralBoundRun? best = null;
        // The window whose linear relaxation bounds most, a small model that CP-SAT searches at WindowRate.
        if (BestWindow(analysis, neverRecompute, LinearDecisions(limit), cancellation) is var (window, windowLp))
        {
            if (window is null) return null;
            tries.Add((window, true));
            if (windowLp > 0) best = new GeneralBoundRun(windowLp, window.Count, "LP_OPTIMAL", TimeSpan.Zero) { CutTasks = window };
        }
        var chain = new List<int>();
        long estimate = 0;
        foreach (int x in byExcess)
        {
            if (estimate + 2L * analysis.Pending[x] > ChainDecisions && chain.Count > 0) break;
            estimate += 2L * analysis.Pending[x];
            chain.Add(x);
        }
        chain.Sort();
        if (chain.Count > 1) tries.Add((chain, false));

        bool wallClockCut = false;
        var share = limit / (tries.Count + 1);
        // A chain search allotted less than MinimumChainWork ends before CP-SAT has loaded the model (status UNKNOWN, no
        // bound, on U-Net's chains at auto's default limit): its share goes to the window instead.
        // Decided by the limit alone, so it is the same on any load.
        bool searchChain = !workLimited || share.TotalSeconds * CpSatSettings.DeterministicPerSecond >= MinimumChainWork;
        var unused = chain.Count > 1 && !searchChain ? share : TimeSpan.Zero;
        // Each single cut's relaxation and linear optimum first (milliseconds each), so that CP-SAT searches them best
        // first (SingleCutOrder): where one share is too short to prove a single cut (ResNet-152's single cuts of 1,000
        // decisions need 0.11 to 0.15 deterministic seconds, three to four times one share at auto's default limit),
        // the cut whose linear relaxation bounds most may take the work of all three.
        // Cancelled (the command's stop): every relaxation that ran bounds every schedule, so the best so far stands.
        GeneralBoundRun? SoFar() => best is null ? null : best with { Elapsed = clock.Elapsed, WallClockCut = wallClockCut, Stopped = true };
        var relaxations = new Dictionary<IReadOnlyList<int>, (CutRelaxation Relaxation, double? Linear)>(ReferenceEqualityComparer.Instance);
        foreach (var (cuts, small) in tries)
        {
            if (!small || cuts.Count > 1) continue;
            if (cancellation.IsCancellationRequested) return SoFar();
            var relaxation = new CutRelaxation(analysis, cuts, neverRecompute);
            double? linear = relaxation.DecisionCount <= LinearDecisions(limit) && LinearRelaxation.Bound(relaxation.Model, cancellation) is { } lp
                ? relaxation.ToTime(lp) : null;
            relaxations[cuts] = (relaxation, linear);
        }
        var singleTries = tries.Where(t => t.Small && t.Cuts.Count == 1).ToList();
        tries = [.. SingleCutOrder(singleTries.Select(t => relaxations[t.Cuts].Linear).ToList()).Select(i => singleTries[i]),
            .. tries.Where(t => !t.Small || t.Cuts.Count > 1)];
        // The single cuts' shares, pooled (work-limited searches only): each single cut searched may take what the ones
        // before it left (they usually end by proof within a hundredth of one share), and what all of them leave goes
        // to the window after them, whose CP-SAT bound keeps rising with work (see WindowRate). Counted in
        // deterministic time (PoolCharge), so it is the same on any load.
        var pool = workLimited ? share * relaxations.Count : TimeSpan.Zero;
        (int Cut, double Bound)? bestSingle = null;
        foreach (var (cuts, small) in tries)
        {
            if (cancellation.IsCancellationRequested) return SoFar();
            bool isSingle = small && cuts.Count == 1;
            var relaxation = isSingle ? relaxations[cuts].Relaxation : new CutRelaxation(analysis, cuts, neverRecompute);
            // The linear relaxation of the chain and of each single cut (the window's was solved when it was chosen),
            // by the simplex method: where CP-SAT's share is too short to bound the model (the chain of ResNet-18 at
            // 50 % needs a 40 s limit; ResNet-152's single cuts, 0.11 to 0.15 deterministic seconds, more than the three
            // single cuts' shares together under auto's default limit), its LP optimum often is a bound already, within
            // a few milliseconds; deterministic.
            double? linear = isSingle ? relaxations[cuts].Linear
                : !small && relaxation.DecisionCount <= LinearDecisions(limit) && LinearRelaxation.Bound(relaxation.Model, cancellation) is { } lp ? relaxation.ToTime(lp) : null;
            if (linear is { } lpBound && (best is null || lpBound > best.Bound))
                best = new GeneralBoundRun(lpBound, cuts.Count, "LP_OPTIMAL", TimeSpan.Zero) { CutTasks = cuts };
            // A chain too large for its share: CP-SAT would spend it loading the model, and the wall clock would end
            // the search (set aside, with a note) on any machine. Decided by size, not by the clock.
            if (workLimited && !small && (!searchChain || relaxation.DecisionCount > ChainDecisionsPerSecond * share.TotalSeconds)) continue;
            bool isWindow = small && cuts.Count > 1;
            var given = isWindow ? share + unused + pool : isSingle && workLimited ? pool : share;
            // The pool is spent: the single cuts left keep their linear optimum.
            if (isSingle && workLimited && given <= TimeSpan.Zero) continue;
            var settings = new CpSatSettings(given, workers.Logical, seed) { Threads = workers.Threads, WorkLimited = workLimited, DeterministicRate = isWindow ? WindowRate : small ? SingleCutRate : CpSatSettings.DeterministicPerSecond };
            using var solver = new CpSolver { StringParameters = settings.ToParameterText() };
            using var registration = cancellation.Register(solver.StopSearch);
            var status = settings.Solve(solver, relaxation.Model);
            if (isSingle && workLimited) pool -= PoolCharge(status, settings.CutByWallClock(solver, status), given, solver.Response?.DeterministicTime ?? 0);
            if (cancellation.IsCancellationRequested)
            {
                // A search stopped midway has still proved its best objective bound.
                if (status is CpSolverStatus.Feasible or CpSolverStatus.Unknown && relaxation.ToTime(solver.BestObjectiveBound) is var cutShort
                    && cutShort > (best?.Bound ?? 0))
                    best = new GeneralBoundRun(cutShort, cuts.Count, status.ToString(), TimeSpan.Zero) { CutTasks = cuts };
                return SoFar();
            }
            if (settings.CutByWallClock(solver, status)) { wallClockCut = true; continue; }
            if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible or CpSolverStatus.Unknown)) continue;
            double bound = Math.Max(0, relaxation.ToTime(solver.BestObjectiveBound));
            if (best is null || bound > best.Bound) best = new GeneralBoundRun(bound, cuts.Count, status.ToString(), TimeSpan.Zero) { CutTasks = cuts };
            if (isSingle && (bestSingle is null || bound > bestSingle.Value.Bound)) bestSingle = (cuts[0], bound);
            // The most exceeding cut's chain grown where its solution overflows (CutGrowth), with one single cut's share.
            if (isSingle && cuts[0] == byExcess[0] && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible
                && Grow(analysis, relaxation, solver, neverRecompute, share, workers, seed, workLimited, cancellation) is var (grown, grownCut))
            {
                if (grown is not null && (best is null || grown.Bound > best.Bound)) best = grown;
                wallClockCut |= grownCut;
            }
        }
        // The chain of the best single cut and the path task where the plan dropped a buffer it had already run again
        // (PlanCut), searched with PlanChainShare of a single cut's share more, hinted with the plan, then grown where
        // its solution overflows with what that work leaves (counted in deterministic time, so the same on any load).
        // Where the bound already reaches the plan (proved optimal), no chain can raise it.
        if (plan is not null && bestSingle is { } top && PlanCut(analysis, plan, top.Cut) is { } planCut
            && (best is null || best.Bound < Scheduling.Simulator.Measure(plan).RecomputeTime))
        {
            if (cancellation.IsCancellationRequested) return SoFar();
            var relaxation = new CutRelaxation(analysis, CutGrowth.With([top.Cut], planCut), neverRecompute);
            relaxation.Hint(plan);
            var given = share * PlanChainShare;
            var settings = new CpSatSettings(given, workers.Logical, seed) { Threads = workers.Threads, WorkLimited = workLimited, DeterministicRate = SingleCutRate };
            using var solver = new CpSolver { StringParameters = settings.ToParameterText() };
            using var registration = cancellation.Register(solver.StopSearch);
            var status = settings.Solve(solver, relaxation.Model);
            if (cancellation.IsCancellationRequested) return SoFar();
            if (settings.CutByWallClock(solver, status)) wallClockCut = true;
            else if (status is CpSolverStatus.Optimal or CpSolverStatus.Feasible or CpSolverStatus.Unknown)
            {
                double bound = Math.Max(0, relaxation.ToTime(solver.BestObjectiveBound));
                if (best is null || bound > best.Bound) best = new GeneralBoundRun(bound, relaxation.Cuts.Count, status.ToString(), TimeSpan.Zero) { CutTasks = relaxation.Cuts };
                var left = workLimited ? given - TimeSpan.FromSeconds((solver.Response?.DeterministicTime ?? 0) / SingleCutRate) : given;
                if (status is CpSolverStatus.Optimal or CpSolverStatus.Feasible && left > TimeSpan.Zero
                    && Grow(analysis, relaxation, solver, neverRecompute, left, workers, seed, workLimited, cancellation) is var (grown, grownCut))
                {
                    if (grown is not null && (best is null || grown.Bound > best.Bound)) best = grown;
                    wallClockCut |= grownCut;
                }
            }
        }
        return best is null ? (wallClockCut ? new GeneralBoundRun(0, 0, "WALL_CLOCK", clock.Elapsed) { WallClockCut = true } : null)
            : best with { Elapsed = clock.Elapsed, WallClockCut = wallClockCut };
    }

    /// <summary>
    /// The path task where <paramref name="plan"/> shows a second cut past <paramref name="cut"/> forcing recomputation:
    /// of the buffers the plan runs again after an earlier run that comes after <paramref name="cut"/>'s first run (a
    /// single cut at <paramref name="cut"/> charges at most one re-run in its interval, so such a buffer was dropped
    /// again between two runs both past it), the path task whose first run lies between those two runs in the most
    /// such spans weighted by the re-run's time, then of greatest excess, then first; null where the plan has no such
    /// re-run or does not run <paramref name="cut"/>.
    /// </summary>
    /// <remarks>
    /// SqueezeNet 1.1 at 50 % of store-all: the best single cut, <c>grad(classifier.0 Dropout)</c>, bounds 3.435·10⁹;
    /// the plan (4.300·10⁹) rebuilds <c>features.4</c>'s expand1x1 convolution for <c>grad(features.5 MaxPool)</c> and
    /// again for its own gradient, and between those runs lies <c>grad(features.4 Concat)</c>, whose inputs and output
    /// take 378 MiB: the chain of the two cuts is proved at 4.278·10⁹ in 0.01 deterministic seconds, while the chain
    /// grown where the single cut's solution overflows (<c>grad(classifier.2 Relu)</c>) is not proved within 0.4
    /// deterministic seconds.
    /// </remarks>
    internal static int? PlanCut(CutAnalysis analysis, Scheduling.Schedule plan, int cut)
    {
        var steps = plan.Steps;
        int n = analysis.Training.Count;
        var firstRun = new int[n];
        var lastRun = new int[n];
        Array.Fill(firstRun, -1);
        var spans = new List<(int From, int To, double Time)>();
        for (int s = 0; s < steps.Length; s++)
        {
            if (!steps[s].Allocates) continue;
            int t = steps[s].Task;
            if (firstRun[t] < 0) firstRun[t] = s;
            else if (firstRun[cut] >= 0 && lastRun[t] > firstRun[cut]) spans.Add((lastRun[t], s, analysis.Training.Tasks[t].Time));
            lastRun[t] = s;
        }
        if (firstRun[cut] < 0 || spans.Count == 0) return null;
        int? found = null;
        double most = 0;
        foreach (int x in analysis.Path)
        {
            if (x == cut || firstRun[x] < 0) continue;
            double weight = 0;
            foreach (var (from, to, time) in spans)
                if (firstRun[x] > from && firstRun[x] < to) weight += time;
            if (weight <= 0) continue;
            if (found is null || weight > most || (weight == most && analysis.Excess[x] > analysis.Excess[found.Value]))
                (found, most) = (x, weight);
        }
        return found;
    }

    /// <summary>
    /// The order in which CP-SAT searches the single cuts, given each one's linear optimum (null where it was not
    /// solved) in order of excess: largest linear optimum first, ties and unsolved ones in order of excess. Indices
    /// into <paramref name="linear"/>.
    /// </summary>
    /// <remarks>
    /// Their shares are pooled, so the first one searched may take all of them: the cut whose linear relaxation bounds
    /// most is the one whose proof is most likely to raise the bound (ResNet-152 at 30 %: the second most exceeding
    /// cut's linear optimum is 8.95·10¹⁰, the most exceeding one's 8.63·10¹⁰; CP-SAT proves 9.20·10¹⁰ and 8.87·10¹⁰).
    /// </remarks>
    internal static IReadOnlyList<int> SingleCutOrder(IReadOnlyList<double?> linear) =>
        Enumerable.Range(0, linear.Count).OrderByDescending(i => linear[i] ?? double.NegativeInfinity).ThenBy(i => i).ToList();

    /// <summary>
    /// What a single cut's search costs the pool it was <paramref name="given"/> from: the work a search that ended by
    /// proof took (<paramref name="deterministicSeconds"/> at <see cref="SingleCutRate"/>, at most what it was given);
    /// all it was given otherwise, since the work a search ended by the wall clock took depends on the load (and one
    /// ended by its work limit took all of it). So what is left for the searches after it is the same on any load.
    /// </summary>
    internal static TimeSpan PoolCharge(CpSolverStatus status, bool cutByWallClock, TimeSpan given, double deterministicSeconds) =>
        status is CpSolverStatus.Optimal or CpSolverStatus.Infeasible && !cutByWallClock
            ? TimeSpan.FromSeconds(Math.Clamp(deterministicSeconds / SingleCutRate, 0, given.TotalSeconds))
            : given;

    /// <summary>
    /// The best bound of the chains grown from <paramref name="relaxation"/>'s solution (<see cref="CutGrowth.Grow"/>), up to
    /// <see cref="CutGrowth.Rounds"/> cuts more, each chain searched at <see cref="SingleCutRate"/> with what the rounds
    /// before it left of <paramref name="share"/> (counted in deterministic time, so the same on any load); null when no
    /// round bounded. The flag says a search was ended by the wall clock (set aside).
    /// </summary>
    private static (GeneralBoundRun? Run, bool WallClockCut) Grow(CutAnalysis analysis, CutRelaxation relaxation, CpSolver solution,
        IReadOnlySet<int> neverRecompute, TimeSpan share, SearchWorkers workers, int seed, bool workLimited, CancellationToken cancellation)
    {
        GeneralBoundRun? best = null;
        foreach (var round in CutGrowth.Grow(analysis, relaxation, solution, analysis.BudgetBytes, cuts => new CutRelaxation(analysis, cuts, neverRecompute),
            new GrowthWork(share, Shared: true, workLimited), workers, seed, cancellation))
        {
            if (!round.Solved) return (best, round.WallClockCut);
            double bound = Math.Max(0, round.Relaxation.ToTime(round.Solver.BestObjectiveBound));
            if (best is null || bound > best.Bound) best = new GeneralBoundRun(bound, round.Relaxation.Cuts.Count, round.Status.ToString(), TimeSpan.Zero) { CutTasks = round.Relaxation.Cuts };
        }
        return (best, false);
    }

    /// <summary>
    /// The path cut into windows of consecutive tasks, each of at most <paramref name="decisions"/> estimated decisions
    /// (2 × the pending buffers of each cut, as for the chain; a task whose estimate alone is larger is a window by
    /// itself), in path order. Any chain of cuts is a relaxation, so each window is one.
    /// </summary>
    public static List<IReadOnlyList<int>> Windows(CutAnalysis analysis, int decisions)
    {
        var windows = new List<IReadOnlyList<int>>();
        var current = new List<int>();
        long estimate = 0;
        foreach (int x in analysis.Path)
        {
            if (current.Count > 0 && estimate + 2L * analysis.Pending[x] > decisions) { windows.Add(current); current = []; estimate = 0; }
            current.Add(x);
            estimate += 2L * analysis.Pending[x];
        }
        if (current.Count > 0) windows.Add(current);
        return windows;
    }

    /// <summary>
    /// Of the <see cref="Windows"/> of <see cref="WindowDecisions"/> (when the path has two or more), the one whose linear
    /// relaxation's optimum is largest (the first on ties), with that optimum in time units; windows are solved in
    /// path order while their decisions together stay within <paramref name="linearDecisions"/>. Default when the
    /// path is one window or no window's linear relaxation was solved; a null window when cancelled.
    /// </summary>
    /// <remarks>
    /// Where the recomputation that every schedule needs is forced by one stretch of the backward pass (ResNet-18's
    /// last blocks, where the stem's 98 MiB activations come back; U-Net's outermost decoder level), a window over that
    /// stretch is a small model that CP-SAT bounds within a share like a single cut's, far above the whole chain's
    /// linear relaxation (ResNet-18 at 60 %: 7.58·10⁹ against 1.80·10⁹ within 0.02 deterministic seconds). The
    /// windows' linear relaxations rank them as their CP-SAT bounds do on the shipped graphs.
    /// </remarks>
    private static (IReadOnlyList<int>? Window, double Bound)? BestWindow(CutAnalysis analysis, IReadOnlySet<int> neverRecompute, int linearDecisions,
        CancellationToken cancellation)
    {
        var windows = Windows(analysis, WindowDecisions);
        if (windows.Count < 2) return null;
        IReadOnlyList<int>? best = null;
        double bestBound = -1;
        int solved = 0;
        foreach (var window in windows)
        {
            if (cancellation.IsCancellationRequested) return (null, 0);
            var relaxation = new CutRelaxation(analysis, window, neverRecompute);
            solved += relaxation.DecisionCount;
            if (solved > linearDecisions) break;
            if (LinearRelaxation.Bound(relaxation.Model, cancellation) is not { } lp) continue;
            double bound = relaxation.ToTime(lp);
            if (bound > bestBound) (best, bestBound) = (window, bound);
        }
        if (cancellation.IsCancellationRequested) return (null, 0);
        return best is null ? null : (best, Math.Max(0, bestBound));
    }

    /// <summary>
    /// Why <see cref="Prove"/> gave no positive bound (<paramref name="run"/>: what it returned), in words for a plan's
    /// note; null when it did. Every plan without a bound for every schedule says why.
    /// </summary>
    public static string? WhyNone(TrainingGraph training, TimeSpan limit, GeneralBoundRun? run)
    {
        if (run is { Bound: > 0 }) return null;
        string why =
            training.Count > MaxTasks ? $"the DAG has {training.Count:N0} tasks, more than the {MaxTasks:N0} its analysis takes (it is quadratic in memory)"
            : limit < TimeSpan.FromMilliseconds(200) ? "its share of --time-limit is under 0.2 s"
            : RelaxationGuide.TooWide(training) ? "the DAG is too wide for the cut analysis (a Concat whose backward reads every operand)"
            : run is { CpStatus: "NO_CUT" } ? "no step of the store-all run exceeds the budget, so no cut constrains the plan"
            : run is { WallClockCut: true } ? "the wall clock ended its searches before their share of the work (a busy machine)"
            : run is null ? "no relaxation finished within its share of the work"
            : "the relaxations proved only 0 within their share of the work";
        return $"no bound for every schedule beyond one run of every task: {why}; a longer --time-limit gives the bound more work";
    }

    /// <summary>
    /// Attaches the bound to a feasible result whose plan recomputes <paramref name="recompute"/>: always as
    /// <see cref="SolverResult.GeneralLowerBound"/>; as the result's <see cref="SolverResult.LowerBound"/> (with its
    /// gaps, source and coverage) when it is at least the bound already there.
    /// </summary>
    public static SolverResult Attach(SolverResult result, TrainingGraph training, double recompute, GeneralBoundRun? run)
    {
        if (run is null || !result.Feasible) return result;
        double bound = Math.Min(run.Bound, recompute);
        double recomputeGap = recompute > 0 ? Math.Max(0, (recompute - bound) / recompute) : 0;
        result = result with { GeneralLowerBound = bound, GeneralRecomputeGap = recomputeGap };
        if (result.LowerBound is { } existing && existing > bound) return result;
        return OptimalSolver.WithGap(result, training, recompute, bound, bound > 0 ? Source : BoundSource.OneRunOfEveryTask) with
        {
            Status = bound >= recompute && recompute > 0 ? PlanStatus.Optimal : result.Status,
            // The stage model's words no longer describe the bound; a canonical claim still describes the status.
            Claim = bound >= recompute || result.BoundSource is BoundSource.CpSat or BoundSource.Relaxation ? null : result.Claim,
        };
    }
}
