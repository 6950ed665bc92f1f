using System.Diagnostics;
using Google.OrTools.Sat;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Units;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// General rematerialization on CP-SAT (<c>--solver optimal</c>): any task, forward or backward, may run again,
/// any number of times. The search is warm-started from the best canonical plan (dp-approx, and dp when the graph
/// has few lower sets), in the stage order of that plan, so the result is never worse than the DP; it reports
/// CP-SAT's proven bound as <see cref="SolverResult.LowerBound"/> (recompute time) with the relative
/// <see cref="SolverResult.Gap"/>, and OPTIMAL when the bound meets the plan. When no plan fits it explains why and
/// gives the smallest budget it found feasible.
/// </summary>
/// <remarks>
/// The bound holds for the stage model: schedules whose first runs follow the warm start's order and whose
/// recomputations inside a stage run in that order (Checkmate's model). Pins: tasks of
/// <see cref="SolverOptions.Keep"/> nodes never run again; forward tasks of <see cref="SolverOptions.ForceRecompute"/>
/// nodes are not live when the first backward task's stage begins.
/// </remarks>
/// <param name="planner">Where the warm starts and the smallest budgets come from: the planner above
/// (<c>Planning.PlannerPlanSource</c>); the solver never calls up into planning itself.</param>
internal sealed partial class OptimalSolver(IPlanSource planner) : ISolver
{
    /// <summary>The exact DP warm-starts the search only up to this many lower sets (or the caller's lower limit).</summary>
    public const long WarmStartLowerSetLimit = 20_000;

    /// <summary>
    /// How the time limit is shared: the exact DP's warm start (within its share the result is never worse than the
    /// exact DP's), CP-SAT with the relaxation first on large models, and the bound for every schedule at the end.
    /// </summary>
    public TimeShares Shares { get; init; } = TimeShares.Optimal;

    /// <summary>
    /// CP-SAT workers (subsolvers), whatever <see cref="SolverOptions.Threads"/> says (it sets the threads that run
    /// them). They are interleaved deterministically; on two
    /// cores eight interleaved workers (a portfolio with linear-relaxation workers) prove bounds that one or two
    /// workers do not reach.
    /// </summary>
    public const int DefaultWorkers = 8;

    /// <summary>
    /// Above this many Boolean decisions the CP-SAT model is not built: on two cores CP-SAT does not get past
    /// loading such models in a minute (measured: the 500-task random layered graph, 249 500 decisions, took 38 s
    /// to return nothing under a 10 s limit). The greedy search then uses the time instead.
    /// </summary>
    public const long MaxDecisions = 150_000;

    /// <summary>
    /// Least time left, per Boolean decision, for the CP-SAT model to be worth building (at least a second):
    /// building and loading took about 1–2 s for ResNet-50's 124 256 decisions on the loaded two cores, and a
    /// search that then has no time left only overruns the limit.
    /// </summary>
    public const double SecondsPerDecision = 1e-4;

    /// <summary>
    /// The relaxation (<see cref="StageRelaxation"/>) runs only on stage orders with more decisions than this: below
    /// it CP-SAT bounds the exact model itself (up to 77 tasks, under 6 000 decisions, here).
    /// </summary>
    public const long DefaultRelaxationMinDecisions = 20_000;

    /// <summary>Stage-model decisions above which the relaxation runs (default <see cref="DefaultRelaxationMinDecisions"/>).</summary>
    public long RelaxationMinDecisions { get; init; } = DefaultRelaxationMinDecisions;

    /// <summary>Above this many decisions the relaxation is not built either.</summary>
    public const long MaxRelaxationDecisions = 300_000;

    private static TimeSpan ModelTime(long decisions) => TimeSpan.FromSeconds(Math.Max(1, decisions * SecondsPerDecision));

    /// <summary>Seconds of time limit per extra round of the greedy search on graphs too large for the model.</summary>
    public const double SecondsPerGreedyRound = 4;

    /// <summary>CP-SAT's linearization level for this solver's searches (see <see cref="CpSatSettings"/>).</summary>
    public int LinearizationLevel { get; init; } = 1;

    /// <summary>Whether CP-SAT presolves the model (see <see cref="CpSatSettings"/>).</summary>
    public bool Presolve { get; init; } = true;

    /// <summary>
    /// Plans found elsewhere (the <c>auto</c> portfolio's), by solver name. When set, they and store-all are the warm
    /// starts, and the solver does not run dp-approx, dp and greedy itself: the caller already did.
    /// </summary>
    public IReadOnlyList<(string Solver, Schedule Schedule)>? GivenWarmStarts { get; init; }

    public string Name => SolverName.Optimal;
    public bool IsCanonical => false;

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default) =>
        Run(problem, options, cancellation).Result;

    /// <summary>
    /// Whether the run ends by proving <see cref="GeneralBound"/> for its plan, with <see cref="TimeShares.Bound"/>
    /// of the time limit (the <c>auto</c> portfolio proves it once for its own winner instead).
    /// </summary>
    public bool ProvesGeneralBound { get; init; } = true;

    /// <summary>
    /// When true, the time limit is spent as work, not by the wall clock: the phases get their shares of the limit
    /// whatever time the earlier ones took, the greedy rounds are counted from the limit, the exact DP's share is
    /// <see cref="DpWork"/>, and what a CP-SAT search found counts only when it ended by proof or by its deterministic
    /// limit (<see cref="CpSatSettings.WorkLimited"/>); a search the wall clock ended is set aside. The same input then
    /// gives the same plan and bound on a busy machine too. The <c>auto</c> portfolio runs this way.
    /// </summary>
    public bool WorkLimited { get; init; }

    /// <summary>Solves and returns the details of the run (plan in stage form, model peak, warm start).</summary>
    public OptimalRun Run(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        // The exact DP's share is of the whole limit; the bound's share comes off the search's.
        var exactDpShare = options.TimeLimit * Shares.ExactDp;
        if (!ProvesGeneralBound) return RunCore(problem, options, exactDpShare, cancellation);
        var share = options.TimeLimit * Shares.Bound;
        var run = RunCore(problem, options with { TimeLimit = options.TimeLimit - share }, exactDpShare, cancellation);
        if (!run.Result.Feasible || run.Result.Schedule is not { } schedule || cancellation.IsCancellationRequested) return run;
        double recompute = Simulator.Measure(schedule).RecomputeTime;
        if (recompute <= 0) return run;
        var general = GeneralBound.Prove(problem.Training, options.BudgetBytes, KeepTasks(problem.Training, options), share,
            options.RelaxationWorkers, options.Seed, cancellation, WorkLimited);
        return run with { Result = GeneralBound.Attach(run.Result, problem.Training, recompute, general), General = general };
    }

    /// <summary>Tasks that are never run again under the keep pins (the tasks of kept nodes).</summary>
    public static HashSet<int> KeepTasks(TrainingGraph training, SolverOptions options) =>
        training.Tasks.Where(t => options.Keep.Contains(t.Node)).Select(t => t.Id).ToHashSet();

    private OptimalRun RunCore(PlanningProblem problem, SolverOptions options, TimeSpan exactDpShare, CancellationToken cancellation)
    {
        // A clock that never starts: every phase sees the whole limit as left (see WorkLimited).
        var clock = WorkLimited ? new Stopwatch() : Stopwatch.StartNew();
        var training = problem.Training;
        long budget = options.BudgetBytes;
        var bound = MemoryLowerBound.Of(training);

        if (budget < bound.Bytes)
        {
            long? min = SmallestFeasibleBudget(problem, options, null, clock, cancellation);
            string reason = $"{bound.Explain(training)}; the budget is {ByteSize.Format(budget)} ({budget} bytes)";
            return Infeasible(PlanStatus.Infeasible, reason, min, "NOT_RUN", 0);
        }

        var starts = WarmStarts(problem, options, exactDpShare, cancellation, out string exactDp);
        var warm = starts.OrderBy(w => w.Simulation.RecomputeTime).ThenBy(w => w.Rank).FirstOrDefault();
        double once = training.ForwardTime + training.BackwardTime;
        if (warm is not null) options.Progress?.Report(new SolverProgress(Name, $"{warm.Name}'s plan", warm.Simulation.RecomputeTime, null));
        string? note = exactDp.StartsWith("stopped", StringComparison.Ordinal)
            ? $"the exact DP warm start was {exactDp}: the plan may be above dp's at this budget; a longer --time-limit lets it finish"
            : null;
        if (warm is not null && warm.Simulation.RecomputeTime == 0)
        {
            // Nothing to recompute: the warm start is optimal (recompute time cannot be negative).
            var done = WithGap(new SolverResult(Name, PlanStatus.Optimal, Schedule: Rename(warm.Schedule, budget)), training, 0, 0, BoundSource.NoRecomputation) with { Note = note };
            return new OptimalRun(done, null, null, warm.Name, 0, "NOT_RUN", 0, true) { ExactDp = exactDp };
        }

        var order = warm is null ? StageOrder.Natural(training) : StageOrder.FirstRuns(warm.Schedule);
        bool relax = warm is not null && order.DecisionBound > RelaxationMinDecisions && order.DecisionBound <= MaxRelaxationDecisions;
        if (order.DecisionBound > MaxDecisions || Remaining(options, clock) < ModelTime(order.DecisionBound))
        {
            // The model would not be searched in time: the greedy search uses the time left (but a share kept for
            // the relaxation), and its best plan (or the DP's) is the answer, with the relaxation's bound when it
            // proved one, else the bound that holds for every schedule (one run of every task).
            if (warm is not null)
            {
                var reserve = relax ? Remaining(options, clock) * Shares.RelaxationOfSearch : TimeSpan.Zero;
                warm = MoreGreedy(problem, options, warm, clock, options.TimeLimit - reserve, cancellation);
            }
            if (warm is not null)
            {
                double best = warm.Simulation.RecomputeTime;
                var relaxed = relax ? Relax(StageOrder.FirstRuns(warm.Schedule), options, warm.Schedule, Remaining(options, clock), cancellation) : null;
                double lb = Math.Min(relaxed?.Bound ?? 0, best);
                var source = lb > 0 ? BoundSource.Relaxation : BoundSource.OneRunOfEveryTask;
                return new OptimalRun(WithGap(new SolverResult(Name, PlanStatus.Feasible, Schedule: Rename(warm.Schedule, budget)), training, best, lb, source) with { Note = note },
                    null, null, warm.Name, best, "MODEL_TOO_LARGE", 0, true)
                { ExactDp = exactDp, Relaxation = relaxed, BoundSource = source, WallClockCut = relaxed?.WallClockCut == true };
            }
            return Infeasible(PlanStatus.Unknown, $"no canonical plan fits {ByteSize.Format(budget)} ({budget} bytes) and the graph is too large for the CP-SAT model ({order.DecisionBound} decisions, limit {MaxDecisions})",
                SmallestCanonicalBudget(problem, options), "MODEL_TOO_LARGE", 0);
        }
        // On large models the relaxation takes a share of the time first: CP-SAT rarely bounds the exact model there.
        var relaxation = relax ? Relax(order, options, warm!.Schedule, Remaining(options, clock) * Shares.RelaxationOfSearch, cancellation) : null;
        var model = new StageModel(order, budget, StageObjective.RecomputeTime, KeepPositions(order, options), ForceRecomputePositions(order, options));
        var hint = warm is null ? null : StagePlan.FromSchedule(order, warm.Schedule);
        if (hint is not null) model.Hint(hint);

        // Every better CP-SAT solution is reported with its gap to the bound known then (when someone listens).
        int solutions = 0;
        Action<double, double>? onSolution = options.Progress is not { } progress ? null : (objective, bound) =>
        {
            double found = model.ToTime(objective), best = Math.Min(found, warm?.Simulation.RecomputeTime ?? double.PositiveInfinity);
            double lb = Math.Min(best, Math.Max(Math.Max(0, model.ToTime(bound)), relaxation?.Bound ?? 0));
            progress.Report(new SolverProgress(Name, $"CP-SAT solution {++solutions}", best, once + best > 0 ? (best - lb) / (once + best) : 0));
        };
        var (status, solver, mainCut) = SolveModel(model.Model, options, Remaining(options, clock), cancellation, onSolution);
        bool wallClockCut = mainCut || relaxation?.WallClockCut == true;
        using (solver)
        {
            // A work-limited run sets aside what a search cut by the wall clock found (it depends on the load).
            string cpStatus = mainCut ? "WALL_CLOCK" : status.ToString();
            bool found = !mainCut && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible;
            double? cpBound = !mainCut && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible or CpSolverStatus.Unknown
                ? Math.Max(0, model.ToTime(solver.BestObjectiveBound)) : null;
            // The better of CP-SAT's bound on the model and the relaxation's (both hold for the stage model over π).
            double? lowerBound = relaxation?.Bound is { } rb && (cpBound is null || rb > cpBound) ? rb : cpBound;
            BoundSource boundSource(double lb) => lb <= 0 ? BoundSource.OneRunOfEveryTask
                : relaxation?.Bound is { } r && r >= lb && (cpBound is null || r > cpBound) ? BoundSource.Relaxation : BoundSource.CpSat;
            if (found)
            {
                var plan = model.Extract(solver);
                var schedule = plan.ToSchedule(Name, budget);
                var sim = Simulator.Measure(schedule);
                if (sim.PeakBytes > budget)
                    throw new InvalidOperationException($"the optimal solver's model admitted a plan of {sim.PeakBytes} bytes over the budget of {budget} bytes");
                bool fromWarm = warm is not null && warm.Simulation.RecomputeTime < sim.RecomputeTime;
                double best = fromWarm ? warm!.Simulation.RecomputeTime : sim.RecomputeTime;
                double lb = Math.Min(lowerBound ?? 0, best);
                bool proven = status == CpSolverStatus.Optimal && !fromWarm;
                var result = WithGap(new SolverResult(Name, proven ? PlanStatus.Optimal : PlanStatus.Feasible,
                    Schedule: fromWarm ? Rename(warm!.Schedule, budget) : schedule), training, best, lb, boundSource(lb)) with { Note = note, Claim = StageClaim(order) };
                return new OptimalRun(result, fromWarm ? null : plan, fromWarm ? null : model.ModelPeakBytes(solver),
                    warm?.Name, warm?.Simulation.RecomputeTime, cpStatus, model.DecisionCount, fromWarm)
                { ExactDp = exactDp, Relaxation = relaxation, BoundSource = boundSource(lb), WallClockCut = wallClockCut };
            }
            if (warm is not null)
            {
                // CP-SAT found nothing in time (or its stage order excludes the warm start's exact recompute order).
                double best = warm.Simulation.RecomputeTime;
                // CP-SAT's bound when it has one (UNKNOWN); otherwise 0, which holds for every schedule.
                double lb = status == CpSolverStatus.Unknown ? Math.Min(lowerBound ?? 0, best) : 0;
                var result = WithGap(new SolverResult(Name, PlanStatus.Feasible, Schedule: Rename(warm.Schedule, budget)), training, best, lb, boundSource(lb)) with { Note = note, Claim = lb > 0 ? StageClaim(order) : null };
                return new OptimalRun(result, null, null, warm.Name, best, cpStatus, model.DecisionCount, true)
                { ExactDp = exactDp, Relaxation = relaxation, BoundSource = boundSource(lb), WallClockCut = wallClockCut };
            }
            long? min = SmallestFeasibleBudget(problem, options, null, clock, cancellation);
            string why = status == CpSolverStatus.Infeasible
                ? $"no schedule fits {ByteSize.Format(budget)} ({budget} bytes): CP-SAT proved it for every schedule whose first runs follow the order {order.Describe()}, and no canonical plan fits"
                : $"no schedule found within {options.TimeLimit.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} s for {ByteSize.Format(budget)} ({budget} bytes), and no canonical plan fits";
            return Infeasible(status == CpSolverStatus.Infeasible ? PlanStatus.Infeasible : PlanStatus.Unknown, why, min, cpStatus, model.DecisionCount);
        }
    }

    private OptimalRun Infeasible(PlanStatus status, string reason, long? min, string cpStatus, int decisions)
    {
        string text = min is { } m ? $"{reason}; the smallest budget found feasible is {ByteSize.Format(m)} ({m} bytes)" : reason;
        return new OptimalRun(new SolverResult(Name, status, Reason: text, MinFeasibleBudgetBytes: min), null, null, null, null, cpStatus, decisions, false);
    }

    /// <summary>What a CP-SAT or relaxation bound covers: the stage model over the plan's first-run order.</summary>
    private static string StageClaim(StageOrder order) =>
        $"the bound covers the stage model: schedules whose first runs follow one order ({order.Count} tasks) and whose recomputations inside a stage follow it too";

    /// <summary>
    /// Sets the bound, its source and both gaps (<see cref="PlanBound.Of"/>): no schedule costs less than one run of
    /// every task, so a bound of 0 on recomputation holds for any schedule.
    /// </summary>
    internal static SolverResult WithGap(SolverResult result, TrainingGraph training, double recompute, double lowerBound, BoundSource source) =>
        result with { Bound = PlanBound.Of(training, recompute, lowerBound, source) };

    private static TimeSpan Remaining(SolverOptions options, Stopwatch clock)
    {
        var left = options.TimeLimit - clock.Elapsed;
        return left > TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100);
    }

    private Schedule Rename(Schedule s, long budget) => s with { Solver = Name, BudgetBytes = budget };

    /// <summary>
    /// Bounds the stage model over <paramref name="order"/> from below with <see cref="StageRelaxation"/>, searched
    /// for <paramref name="limit"/> (hinted with <paramref name="plan"/>). Null when cancelled or the time is too short.
    /// </summary>
    public RelaxationRun? Relax(StageOrder order, SolverOptions options, Schedule? plan, TimeSpan limit, CancellationToken ct)
    {
        if (ct.IsCancellationRequested || limit < TimeSpan.FromSeconds(1)) return null;
        var clock = WorkLimited ? new Stopwatch() : Stopwatch.StartNew();
        var relaxation = new StageRelaxation(order, options.BudgetBytes, KeepPositions(order, options));
        if (plan is not null && StagePlan.FromSchedule(order, plan) is { } hint) relaxation.Hint(hint);
        var left = limit - clock.Elapsed;
        if (left < TimeSpan.FromMilliseconds(500)) return null;
        var (status, solver, wallClockCut) = SolveModel(relaxation.Model, options, left, ct);
        using (solver)
        {
            double? bound = !wallClockCut && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible or CpSolverStatus.Unknown
                ? Math.Max(0, relaxation.ToTime(solver.BestObjectiveBound)) : null;
            return new RelaxationRun(bound, wallClockCut ? "WALL_CLOCK" : status.ToString(), relaxation.DecisionCount, clock.Elapsed) { WallClockCut = wallClockCut };
        }
    }


    /// <param name="onSolution">Called with the objective and the best bound at every solution CP-SAT finds; null: no callback.</param>
    /// <returns>CP-SAT's status, the solver (to read the solution from) and whether the wall clock ended the search
    /// before its work limit (<see cref="CpSatSettings.CutByWallClock"/>).</returns>
    private (CpSolverStatus, CpSolver, bool WallClockCut) SolveModel(CpModel model, SolverOptions options, TimeSpan limit, CancellationToken ct,
        Action<double, double>? onSolution = null)
    {
        if (ct.IsCancellationRequested) limit = TimeSpan.Zero;
        // Always DefaultWorkers subsolvers; --threads only says on how many threads they run.
        var settings = new CpSatSettings(limit, DefaultWorkers, options.Seed, LinearizationLevel, Presolve) { Threads = options.Threads, WorkLimited = WorkLimited };
        var solver = new CpSolver { StringParameters = settings.ToParameterText() };
        using var registration = ct.Register(solver.StopSearch);
        using var callback = onSolution is null ? null : new SolutionProgress(onSolution);
        var status = solver.Solve(model, callback);
        return (status, solver, !ct.IsCancellationRequested && settings.CutByWallClock(solver, status));
    }

    /// <summary>CP-SAT's solution callback, passing the objective and the best bound on.</summary>
    private sealed class SolutionProgress(Action<double, double> report) : SolutionCallback
    {
        public override void OnSolutionCallback() => report(ObjectiveValue(), BestObjectiveBound());
    }
}
