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
    /// <summary>The solver's settings, each with its default (<see cref="OptimalOptions"/>).</summary>
    public OptimalOptions Options { get; init; } = OptimalOptions.Default;

    /// <summary>The least time left for a model of <paramref name="decisions"/> to be worth building (<see
    /// cref="OptimalOptions.SecondsPerDecision"/>).</summary>
    private TimeSpan ModelTime(long decisions) => TimeSpan.FromSeconds(Math.Max(1, decisions * Options.SecondsPerDecision));

    /// <summary>
    /// Plans found elsewhere (the <c>auto</c> portfolio's), by solver name. When set, they and store-all are the warm
    /// starts, and the solver does not run dp-approx, dp and greedy itself: the caller already did.
    /// </summary>
    public IReadOnlyList<(string Solver, Schedule Schedule)>? GivenWarmStarts { get; init; }

    public string Name => SolverName.Optimal;
    public bool IsCanonical => false;

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default) =>
        Run(problem, options, cancellation).Result;

    /// <summary>Solves and returns the details of the run (plan in stage form, model peak, warm start).</summary>
    public OptimalRun Run(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        // The exact DP's share is of the whole limit; the bound's share comes off the search's.
        var exactDpShare = options.TimeLimit * Options.Shares.ExactDp;
        if (!Options.ProvesGeneralBound) return RunCore(problem, options, exactDpShare, cancellation);
        var share = options.TimeLimit * Options.Shares.Bound;
        var run = RunCore(problem, options with { TimeLimit = options.TimeLimit - share }, exactDpShare, cancellation);
        if (!run.Result.Feasible || run.Result.Schedule is not { } schedule || cancellation.IsCancellationRequested) return run;
        double recompute = Simulator.Measure(schedule).RecomputeTime;
        if (recompute <= 0) return run;
        var general = GeneralBound.Prove(problem.Training, options.BudgetBytes, KeepTasks(problem.Training, options), share,
            options.RelaxationWorkers, options.Seed, cancellation, Options.WorkLimited);
        return run with { Result = GeneralBound.Attach(run.Result, problem.Training, recompute, general), General = general };
    }

    /// <summary>Tasks that are never run again under the keep pins (the tasks of kept nodes).</summary>
    public static HashSet<int> KeepTasks(TrainingGraph training, SolverOptions options) =>
        training.Tasks.Where(t => options.Keep.Contains(t.Node)).Select(t => t.Id).ToHashSet();

    private OptimalRun RunCore(PlanningProblem problem, SolverOptions options, TimeSpan exactDpShare, CancellationToken cancellation)
    {
        // A clock that never starts: every phase sees the whole limit as left (see WorkLimited).
        var clock = Options.WorkLimited ? new Stopwatch() : Stopwatch.StartNew();
        var training = problem.Training;
        long budget = options.BudgetBytes;
        var bound = problem.Floor;

        if (budget < bound.Bytes)
        {
            long? min = OwnSmallestBudget(problem, options, null, clock, cancellation);
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
        bool relax = warm is not null && order.DecisionBound > Options.RelaxationMinDecisions && order.DecisionBound <= Options.MaxRelaxationDecisions;
        if (order.DecisionBound > Options.MaxDecisions || Remaining(options, clock) < ModelTime(order.DecisionBound))
        {
            // The model would not be searched in time: the greedy search uses the time left (but a share kept for
            // the relaxation), and its best plan (or the DP's) is the answer, with the relaxation's bound when it
            // proved one, else the bound that holds for every schedule (one run of every task).
            if (warm is not null)
            {
                var reserve = relax ? Remaining(options, clock) * Options.Shares.RelaxationOfSearch : TimeSpan.Zero;
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
            return Infeasible(PlanStatus.Unknown, $"no canonical plan fits {ByteSize.Format(budget)} ({budget} bytes) and the graph is too large for the CP-SAT model ({order.DecisionBound} decisions, limit {Options.MaxDecisions})",
                SmallestCanonicalBudget(problem, options), "MODEL_TOO_LARGE", 0);
        }
        // On large models the relaxation takes a share of the time first: CP-SAT rarely bounds the exact model there.
        var relaxation = relax ? Relax(order, options, warm!.Schedule, Remaining(options, clock) * Options.Shares.RelaxationOfSearch, cancellation) : null;
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
                if (!sim.Fits(budget))
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
            long? min = OwnSmallestBudget(problem, options, null, clock, cancellation);
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
        var clock = Options.WorkLimited ? new Stopwatch() : Stopwatch.StartNew();
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
        var settings = new CpSatSettings(limit, Options.Workers, options.Seed, Options.LinearizationLevel, Options.Presolve) { Threads = options.Threads, WorkLimited = Options.WorkLimited };
        var solver = new CpSolver { StringParameters = settings.ToParameterText() };
        using var registration = ct.Register(solver.StopSearch);
        using var callback = onSolution is null ? null : new SolutionProgress(onSolution);
        var status = settings.Solve(solver, model, callback);
        return (status, solver, !ct.IsCancellationRequested && settings.CutByWallClock(solver, status));
    }

    /// <summary>CP-SAT's solution callback, passing the objective and the best bound on.</summary>
    private sealed class SolutionProgress(Action<double, double> report) : SolutionCallback
    {
        public override void OnSolutionCallback() => report(ObjectiveValue(), BestObjectiveBound());
    }
}
