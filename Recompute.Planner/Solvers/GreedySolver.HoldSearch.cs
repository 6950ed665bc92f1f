using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

internal sealed partial class GreedySolver
{
    /// <summary>Steps simulated by one <see cref="HoldSearch"/> at <see cref="SolverOptions.FullWorkLimit"/>, in schedule
    /// steps replayed (each candidate replays the whole schedule).</summary>
    internal const long HoldSearchWork = 1_000_000;

    /// <summary>
    /// Lowers a plan's recomputation by holding values longer, step by step on the schedule itself. For each
    /// recomputation (the costliest task first) two moves are tried: keep the value live from its previous run instead
    /// of freeing it and running it again (drop that free and the recomputation), or run it earlier, at the last step
    /// before its inputs were rebuilt for it where they were all live, and hold it from there. After a move every
    /// recomputation whose value nothing reads before its free is dropped with its free, and every free of a buffer so
    /// touched moves up to its last reader. A move is kept when the schedule still fits, honours the pins and recomputes less.
    /// </summary>
    /// <remarks>
    /// The greedy pass evicts at the step where memory runs out and rebuilds what a task needs just before it, so a value
    /// read twice in the backward pass (a stem's output read by its block's rebuild and by its own gradient) is often
    /// rebuilt with its inputs twice, where running its reader during the first rebuild, while the inputs were live, saves
    /// the second. On RegNetY-400MF at 30 % of store-all (FLOP costs) the first block's first convolution is so run during
    /// the block's shortcut rebuild instead of after the stem's second rebuild. Counted work, no clock: at most
    /// <see cref="HoldSearchWork"/> steps replayed, times <see cref="SolverOptions.WorkFraction"/>.
    /// </remarks>
    internal static (Schedule Schedule, SimulationResult Simulation)? HoldSearch(TrainingGraph training,
        (Schedule Schedule, SimulationResult Simulation) start, SolverOptions options, CancellationToken cancellation)
    {
        long budget = options.BudgetBytes;
        bool pinned = !options.Keep.IsEmpty || !options.ForceRecompute.IsEmpty;
        long work = (long)(HoldSearchWork * options.WorkFraction);
        long spent = 0;
        var best = start;
        bool improvedAny = false;
        // Each recomputation once, costliest task first (then by position), found again by its task and occurrence in
        // the schedule in hand after a move.
        var first = best.Schedule.Steps;
        // A schedule longer than the work would take more than the work for one candidate.
        if (first.Length > work) return null;
        var seen = new Dictionary<int, int>();
        var order = new List<(int Task, int Occurrence, int At)>();
        for (int i = 0; i < first.Length; i++)
            if (first[i].Kind == StepKind.Recompute)
            {
                int n = seen.GetValueOrDefault(first[i].Task);
                seen[first[i].Task] = n + 1;
                order.Add((first[i].Task, n, i));
            }
        order = [.. order.OrderByDescending(c => training.Tasks[c.Task].Time).ThenBy(c => c.At)];
        foreach (var (t, occurrence, _) in order)
        {
            for (int move = 0; move < 2 && spent < work; move++)
            {
                cancellation.ThrowIfCancellationRequested();
                var steps = best.Schedule.Steps;
                int r = Find(steps, t, occurrence);
                if (r < 0) break;
                var candidate = move == 0 ? HoldFromPrevious(steps, r) : RunEarlier(training, steps, r);
                if (candidate is null) continue;
                Tidy(training, candidate);
                spent += candidate.Count;
                var schedule = best.Schedule with { Steps = [.. candidate] };
                if (pinned && PinCheck.Violation(schedule, options.Keep, options.ForceRecompute) is not null) continue;
                SimulationResult simulation;
                try { simulation = Simulator.Measure(schedule); }
                catch (InvalidScheduleException) { continue; }
                if (simulation.Fits(budget) && simulation.RecomputeTime < best.Simulation.RecomputeTime)
                {
                    best = (schedule, simulation);
                    improvedAny = true;
                    break;
                }
            }
            if (spent >= work) break;
        }
        return improvedAny ? best : null;
    }

    /// <summary>The step of the <paramref name="occurrence"/>-th recomputation of <paramref name="task"/>, or -1.</summary>
    private static int Find(IReadOnlyList<Step> steps, int task, int occurrence)
    {
        for (int i = 0; i < steps.Count; i++)
            if (steps[i].Kind == StepKind.Recompute && steps[i].Task == task && occurrence-- == 0) return i;
        return -1;
    }

    /// <summary>The steps without the recomputation at <paramref name="r"/> and the free of the same task before it (the
    /// value held from its previous run), or null when there is no such free.</summary>
    private static List<Step>? HoldFromPrevious(IReadOnlyList<Step> steps, int r)
    {
        int t = steps[r].Task;
        for (int f = r - 1; f >= 0; f--)
        {
            if (steps[f].Task != t) continue;
            if (steps[f].Kind != StepKind.FreeValue) return null;
            var result = new List<Step>(steps);
            result.RemoveAt(r);
            result.RemoveAt(f);
            return result;
        }
        return null;
    }

    /// <summary>
    /// The steps with the recomputation at <paramref name="r"/> moved to the last step before the run of steps that
    /// leads up to it with every input live, where its inputs were all live too (after the task's previous free), or
    /// null when there is no such step.
    /// </summary>
    private static List<Step>? RunEarlier(TrainingGraph training, IReadOnlyList<Step> steps, int r)
    {
        int t = steps[r].Task;
        var inputs = training.Tasks[t].Inputs;
        int from = 0;
        for (int f = r - 1; f >= 0; f--)
            if (steps[f].Task == t) { from = f + 1; break; }
        // Live inputs after each step from `from` to r - 1.
        var live = new Dictionary<int, bool>();
        foreach (int i in inputs) live[i] = false;
        for (int i = 0; i < from; i++)
            if (live.ContainsKey(steps[i].Task) && !steps[i].IsTransfer) live[steps[i].Task] = steps[i].Allocates;
        var allLive = new bool[r];
        for (int i = from; i < r; i++)
        {
            if (live.ContainsKey(steps[i].Task) && !steps[i].IsTransfer) live[steps[i].Task] = steps[i].Allocates;
            allLive[i] = live.Values.All(v => v);
        }
        int k = r - 1;
        while (k >= from && allLive[k]) k--;
        int q = k;
        while (q >= from && !allLive[q]) q--;
        if (q < from) return null;
        var result = new List<Step>(steps);
        result.RemoveAt(r);
        result.Insert(q + 1, steps[r]);
        return result;
    }

    /// <summary>
    /// Drops every recomputation whose value nothing reads before its free (with that free), until none is left, and
    /// moves each free of a buffer whose run lost readers so up to its last reader (or its run).
    /// </summary>
    private static void Tidy(TrainingGraph training, List<Step> steps)
    {
        var touched = new HashSet<int>();
        bool changed = true;
        while (changed)
        {
            changed = false;
            // Open run of each task: the index of its allocating step and whether anything read it since.
            var open = new Dictionary<int, (int At, bool Read)>();
            for (int i = 0; i < steps.Count; i++)
            {
                var s = steps[i];
                if (s.IsTransfer) { open.Remove(s.Task); continue; }
                if (s.Allocates)
                {
                    foreach (int input in training.Tasks[s.Task].Inputs)
                        if (open.TryGetValue(input, out var run)) open[input] = (run.At, true);
                    open[s.Task] = (i, false);
                }
                else if (s.Frees && open.Remove(s.Task, out var run))
                {
                    if (!run.Read && steps[run.At].Kind == StepKind.Recompute)
                    {
                        foreach (int input in training.Tasks[s.Task].Inputs) touched.Add(input);
                        steps.RemoveAt(i);
                        steps.RemoveAt(run.At);
                        changed = true;
                        break;
                    }
                }
            }
        }
        // Frees of touched buffers up to their last reader.
        foreach (int task in touched.Order())
        {
            int at = -1, lastUse = -1;
            for (int i = 0; i < steps.Count; i++)
            {
                var s = steps[i];
                if (s.IsTransfer) { at = -1; continue; }
                if (s.Allocates && s.Task == task) { at = i; lastUse = i; continue; }
                if (at >= 0 && s.Allocates && training.Tasks[s.Task].Inputs.Contains(task)) lastUse = i;
                if (at >= 0 && s.Frees && s.Task == task)
                {
                    if (i > lastUse + 1)
                    {
                        steps.RemoveAt(i);
                        steps.Insert(lastUse + 1, s);
                    }
                    at = -1;
                }
            }
        }
    }
}
