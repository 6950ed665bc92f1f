using Google.OrTools.Sat;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>How a <see cref="StageLocalSearch"/> spends its work.</summary>
/// <param name="WindowStages">Stages per window at first; a pass that improves nothing doubles it (up to <see cref="MaxWindowStages"/>).</param>
/// <param name="MaxWindowStages">Largest window.</param>
/// <param name="DeterministicPerWindow">CP-SAT deterministic seconds one window's search may spend.</param>
/// <param name="DeterministicTotal">Deterministic seconds of all the windows' searches together.</param>
/// <param name="Workers">CP-SAT subsolvers per window (interleaved, see <see cref="CpSatSettings"/>).</param>
/// <param name="Seed">CP-SAT's seed.</param>
internal sealed record LocalSearchSettings(int WindowStages, int MaxWindowStages, double DeterministicPerWindow, double DeterministicTotal,
    int Workers = 1, int Seed = 1);

/// <summary>What a <see cref="StageLocalSearch"/> found.</summary>
/// <param name="Plan">The best plan (the start when no window improved it).</param>
/// <param name="Schedule">Its schedule.</param>
/// <param name="Simulation">Its simulation.</param>
/// <param name="Windows">Windows searched.</param>
/// <param name="Improvements">Windows whose plan was taken, each with the deterministic seconds spent so far and the recomputation after it.</param>
/// <param name="DeterministicSeconds">Deterministic seconds spent.</param>
/// <param name="WallClockCut">Whether the wall clock ended a window's search before its work limit (its result was set aside).</param>
internal sealed record LocalSearchRun(StagePlan Plan, Schedule Schedule, SimulationResult Simulation, int Windows,
    IReadOnlyList<(double Deterministic, double Recompute)> Improvements, double DeterministicSeconds, bool WallClockCut)
{
    /// <summary>Every window searched, in order.</summary>
    public IReadOnlyList<WindowSearch> Searched { get; init; } = [];
}

/// <summary>One window's search: its stages, CP-SAT's status, deterministic seconds, the plan's recomputation in the
/// window when it began and CP-SAT's best objective and bound on it (time units; NaN where none).</summary>
internal sealed record WindowSearch(int First, int Last, string Status, double Deterministic, double Before, double Found, double Bound);

/// <summary>
/// A large-neighbourhood search over the stage model: from a plan in stage form, it re-optimises one window of
/// consecutive stages at a time with CP-SAT (<see cref="StageWindow"/>: the buffers live when the window begins and
/// after it ends stay the plan's, so nothing outside changes) and takes the window's plan when it simulates within the
/// budget with less recomputation. The full model of a large graph is too big for CP-SAT to improve a plan in
/// seconds; a window of a few dozen stages is solved to optimality in a fraction of a second.
/// </summary>
/// <remarks>
/// Windows of <see cref="LocalSearchSettings.WindowStages"/> stages start every half window; a pass tries them in order of
/// the plan's recomputation inside them (most first, then by position; windows that recompute nothing cannot improve and
/// are skipped, and so are windows searched since the plan last changed where they read it). A pass that improves
/// nothing doubles the window. The work is counted: each window's search has a
/// deterministic limit and the total is bounded, so the same plan and settings give the same result on any load; a
/// window the wall clock cut (or a cancellation) is set aside and ends the search.
/// </remarks>
internal static class StageLocalSearch
{
    /// <summary>Improves <paramref name="start"/> (whose schedule must fit <paramref name="budget"/>); null when it does not fit.</summary>
    /// <param name="neverRecompute">Positions that are never run again (<see cref="StageModel"/>).</param>
    /// <param name="neverKeepAcrossGap">Positions not live when the first backward stage begins.</param>
    /// <param name="name">The solver name the schedules carry.</param>
    public static LocalSearchRun? Improve(StagePlan start, long budget, ISet<int> neverRecompute, ISet<int> neverKeepAcrossGap,
        LocalSearchSettings settings, string name, CancellationToken stop)
    {
        var order = start.Order;
        var plan = start;
        var schedule = plan.ToSchedule(name, budget);
        var sim = Simulator.Measure(schedule);
        if (!sim.Fits(budget)) return null;
        var improvements = new List<(double, double)>();
        var searched = new List<WindowSearch>();
        double spent = 0;
        int windows = 0;
        bool cut = false;
        int size = Math.Max(1, settings.WindowStages);
        var costs = order.TaskAt.Select(t => order.Training.Tasks[t].Time).ToArray();
        // Windows searched without a better plan since the plan last changed where they read it (the same model again
        // would give the same answer).
        var settled = new HashSet<(int, int)>();
        while (spent < settings.DeterministicTotal && !cut && !stop.IsCancellationRequested && sim.RecomputeTime > 0)
        {
            bool improved = false;
            foreach (var (first, last) in Windows(plan, costs, size))
            {
                if (spent >= settings.DeterministicTotal || stop.IsCancellationRequested) break;
                if (settled.Contains((first, last))) continue;
                var window = new StageWindow(first, last, plan, StageTrace.Of(plan));
                var model = new StageModel(order, budget, StageObjective.RecomputeTime, neverRecompute, neverKeepAcrossGap, window: window);
                model.Hint(plan);
                double limit = Math.Min(settings.DeterministicPerWindow, settings.DeterministicTotal - spent);
                // Work-limited at the usual rate: the wall clock ends a window only far beyond its work (a very busy machine).
                var cpSat = new CpSatSettings(TimeSpan.FromSeconds(limit / CpSatSettings.DeterministicPerSecond), settings.Workers, settings.Seed) { WorkLimited = true };
                using var solver = new CpSolver { StringParameters = cpSat.ToParameterText() };
                using var registration = stop.Register(solver.StopSearch);
                var status = cpSat.Solve(solver, model.Model);
                windows++;
                spent += Math.Min(limit, solver.Response?.DeterministicTime ?? limit);
                bool solved = status is CpSolverStatus.Optimal or CpSolverStatus.Feasible;
                double before = 0;
                for (int t = first; t <= last; t++) foreach (int p in plan.Recomputed[t]) before += costs[p];
                searched.Add(new WindowSearch(first, last, status.ToString(), solver.Response?.DeterministicTime ?? 0, before,
                    solved ? model.ToTime(solver.ObjectiveValue) : double.NaN, solved || status == CpSolverStatus.Unknown ? model.ToTime(solver.BestObjectiveBound) : double.NaN));
                if (stop.IsCancellationRequested || cpSat.CutByWallClock(solver, status)) { cut = !stop.IsCancellationRequested; break; }
                settled.Add((first, last));
                if (!solved) continue;
                var candidate = model.Extract(solver);
                var candidateSchedule = candidate.ToSchedule(name, budget);
                var candidateSim = Simulator.Measure(candidateSchedule);
                if (!candidateSim.Fits(budget) || candidateSim.RecomputeTime >= sim.RecomputeTime) continue;
                (plan, schedule, sim) = (candidate, candidateSchedule, candidateSim);
                // The plan changed in stages first..last and its live sets within them: windows reading those are open again.
                settled.RemoveWhere(w => w.Item1 <= last && w.Item2 + 1 >= first);
                improvements.Add((spent, sim.RecomputeTime));
                improved = true;
            }
            if (!improved)
            {
                if (size >= Math.Min(settings.MaxWindowStages, order.Count)) break;
                size = Math.Min(2 * size, settings.MaxWindowStages);
            }
        }
        return new LocalSearchRun(plan, schedule, sim, windows, improvements, spent, cut) { Searched = searched };
    }

    /// <summary>
    /// Windows of <paramref name="size"/> stages starting every half window (the last one ends at the last stage), by the
    /// plan's recomputation inside them, most first; windows that recompute nothing are left out.
    /// </summary>
    internal static List<(int First, int Last)> Windows(StagePlan plan, double[] costs, int size)
    {
        int n = plan.Order.Count;
        var perStage = plan.Recomputed.Select(r => r.Sum(p => costs[p])).ToArray();
        int step = Math.Max(1, size / 2);
        var list = new List<(int First, int Last, double Recompute)>();
        for (int first = 0; ; first += step)
        {
            int last = Math.Min(n - 1, first + size - 1);
            first = Math.Max(0, last - size + 1);
            double sum = 0;
            for (int t = first; t <= last; t++) sum += perStage[t];
            if (sum > 0 && (list.Count == 0 || list[^1].First != first)) list.Add((first, last, sum));
            if (last == n - 1) break;
        }
        return [.. list.OrderByDescending(w => w.Recompute).ThenBy(w => w.First).Select(w => (w.First, w.Last))];
    }
}
