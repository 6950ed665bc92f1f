using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A schedule built straight from a set of forward buffers to drop (<see cref="RelaxationGuide"/>'s reading of a cut
/// relaxation's solution), with no eviction scores: every forward task runs once in order (but those only the backward
/// pass reads, <see cref="Deferred"/>), a dropped buffer is freed after its last forward reader, every other forward
/// buffer stays until its last reader, and before each backward task the dropped buffers it needs (the dropped inputs
/// it reads, and the dropped inputs of those, recursively) are recomputed, inputs first. After the backward task a recomputed buffer stays live only when a task at most
/// <c>window</c> backward tasks later needs it again; otherwise it is freed after its last read and recomputed for
/// the next task that needs it. Whether the result fits is the simulator's word: the caller simulates it.
/// </summary>
internal static class GuidedLowering
{
    /// <summary>The windows <see cref="RelaxationGuide"/> lowers with: free at once, keep for the next one, two or four
    /// backward tasks, or keep until the last task that needs the buffer.</summary>
    public static IReadOnlyList<int> Windows { get; } = [0, 1, 2, 4, int.MaxValue];

    /// <summary>Most rounds of <see cref="Fitted"/> (each one lowering and one simulation).</summary>
    public const int FitRounds = 64;

    /// <summary>
    /// Most work of one <see cref="Fitted"/>, counted as steps lowered plus (backward task, dropped buffer it needs)
    /// pairs over all its rounds: past it the search gives up (null), so a drop set that reaches far back through
    /// dropped buffers costs the same bounded work on any machine.
    /// </summary>
    public const long MaxFitWork = 20_000_000;

    /// <summary>
    /// Most (backward task, dropped buffer it needs) pairs one lowering visits: above this the drop set reaches so far
    /// back through dropped buffers that the lowering is not tried (null), which keeps its work linear in practice.
    /// </summary>
    public const long MaxNeedPairs = 4_000_000;

    /// <summary>
    /// The schedule, or null when the order does not run every forward task before every backward one, a dropped
    /// buffer is pinned by <paramref name="neverRecompute"/>, or the needs exceed <see cref="MaxNeedPairs"/>.
    /// </summary>
    /// <param name="order">Every task once, forward tasks first (<see cref="GreedySolver.ForwardFirst"/>).</param>
    /// <param name="drop">Forward tasks whose buffers are not kept from the forward pass into the backward pass.</param>
    /// <param name="window">How many backward tasks ahead a recomputed buffer's next need may lie for it to stay live.</param>
    /// <param name="deepFirst">Of a recomputed buffer's dropped inputs, recompute first the one with the longest chain of
    /// dropped buffers behind it (see <see cref="Build"/>).</param>
    public static Schedule? Lower(TrainingGraph training, IReadOnlyList<int> order, IReadOnlySet<int> drop, IReadOnlySet<int> neverRecompute,
        int window, string solver, long budget, CancellationToken cancellation = default, bool deepFirst = false) =>
        Build(training, order, drop, neverRecompute, window, null, null, solver, budget, cancellation, deepFirst)?.Schedule;

    /// <summary>
    /// A lowering that keeps each recomputed buffer until the next task that needs it, except where that overflows
    /// the budget. Each round takes the first step whose live memory exceeds the budget and, of the buffers live there
    /// that neither it nor the rest of its backward task's sub-run reads, frees the largest recomputed one (then the
    /// cheapest to recompute, then the lowest id) after its last read up to that backward task instead of holding it
    /// for its next need; where no recomputed buffer is such, it frees one more buffer live there: a forward buffer kept
    /// from the forward pass (not pinned by <paramref name="neverRecompute"/>), dropped from then on, or a gradient
    /// whose inputs are all held, freed after its last reader before the overflow and rebuilt for the next, whichever
    /// frees the excess for the least run again, else the least per byte freed (<c>Freed</c>, <c>Better</c>). At most
    /// <paramref name="rounds"/> rounds, each one lowering and one simulation. Null when it does not fit by then or
    /// within <see cref="MaxFitWork"/>, when no buffer is left to free at an overflow, or as <see cref="Lower"/>.
    /// </summary>
    /// <param name="trace">Told each round's first overflow and what it frees (the <c>cut-probe</c> table's
    /// <c>PROBE_FIT_TRACE</c>).</param>
    public static (Schedule Schedule, SimulationResult Simulation)? Fitted(TrainingGraph training, IReadOnlyList<int> order, IReadOnlySet<int> drop,
        IReadOnlySet<int> neverRecompute, int rounds, string solver, long budget, CancellationToken cancellation = default, Action<string>? trace = null,
        bool deepFirst = false)
    {
        var tasks = training.Tasks;
        var release = new HashSet<(int Task, int After)>();
        var grown = new HashSet<int>(drop);
        var again = new HashSet<int>();
        long work = 0;
        for (int round = 0; round <= rounds; round++)
        {
            cancellation.ThrowIfCancellationRequested();
            var built = Build(training, order, grown, neverRecompute, int.MaxValue, release, again, solver, budget, cancellation, deepFirst);
            if (built is null) return null;
            var (schedule, neededAt, pairs, deferred, backward) = built.Value;
            work += schedule.Steps.Length + pairs;
            if (work > MaxFitWork) return null;
            var simulation = Simulator.Measure(schedule);
            if (simulation.Fits(budget)) return (schedule, simulation);
            var steps = schedule.Steps;
            int over = 0;
            while (simulation.LiveBytes[over] <= budget) over++;
            long excess = simulation.LiveBytes[over] - budget;
            trace?.Invoke($"round {round}: recompute {simulation.RecomputeTime:E4}, first over at step {over} ({Step.KindName(steps[over].Kind)} {tasks[steps[over].Task].Name}) by {excess}");
            var position = new int[tasks.Length]; // each backward task's index among backward tasks
            for (int j = 0; j < backward.Count; j++) position[backward[j]] = j;
            // Live buffers at the overflow, the step where each live instance began, and the backward task (its index
            // among backward tasks) whose sub-run the overflow is in. A backward task's first run counts; a run again
            // (a gradient rebuilt, below) belongs to the sub-run it is in.
            var startedAt = new int[tasks.Length];
            Array.Fill(startedAt, -1);
            var ran = new bool[tasks.Length];
            int current = 0;
            for (int i = 0; i <= over; i++)
            {
                var step = steps[i];
                if (step.Allocates)
                {
                    startedAt[step.Task] = i;
                    if (step.Kind == StepKind.Backward && !ran[step.Task] && i < over) current++;
                    ran[step.Task] = true;
                }
                else if (step.Frees) startedAt[step.Task] = -1;
            }
            // What the overflow step and the rest of its sub-run (up to and with its backward task) read.
            var readLater = new HashSet<int> { steps[over].Task };
            for (int i = over; i < steps.Length; i++)
            {
                if (!steps[i].Allocates) continue;
                readLater.UnionWith(tasks[steps[i].Task].Inputs);
                if (steps[i].Kind == StepKind.Backward && current < backward.Count && steps[i].Task == backward[current]) break;
            }
            int pick = -1, pickAfter = -1;
            for (int a = 0; a < tasks.Length; a++)
            {
                if (startedAt[a] < 0 || !(steps[startedAt[a]].Kind == StepKind.Recompute || deferred[a] || again.Contains(a)) || readLater.Contains(a)) continue;
                var at = neededAt[a];
                if (at is null) continue;
                int found = at.BinarySearch(current);
                int last = found >= 0 ? found : ~found - 1;
                // A gradient rebuilt after its own first run, held since then.
                int after = last >= 0 ? at[last] : again.Contains(a) && position[a] < current ? position[a] : -1;
                if (after < 0 || release.Contains((a, after))) continue;
                if (pick < 0 || (tasks[a].Bytes, -tasks[a].Time).CompareTo((tasks[pick].Bytes, -tasks[pick].Time)) > 0) (pick, pickAfter) = (a, after);
            }
            if (pick >= 0)
            {
                trace?.Invoke($"  release {tasks[pick].Name} ({tasks[pick].Bytes}) after backward #{pickAfter}");
                release.Add((pick, pickAfter));
                continue;
            }
            // No recomputed buffer to free there: free one more buffer live there that the rest of the sub-run does
            // not read, either a forward buffer kept from the forward pass (not pinned by neverRecompute), dropped from
            // then on, or a gradient (a backward task's output) that a backward task after the sub-run reads, freed
            // after its last reader before the overflow and rebuilt (its backward task run again) for the next. Each is
            // weighed by what it frees there (Freed) and what it costs to run again once (Better).
            int extra = -1;
            var best = default(Freeing);
            for (int a = 0; a < tasks.Length; a++)
            {
                if (startedAt[a] < 0 || readLater.Contains(a) || tasks[a].Bytes == 0) continue;
                var kind = steps[startedAt[a]].Kind;
                bool forward = kind == StepKind.Compute && !deferred[a] && !grown.Contains(a) && !neverRecompute.Contains(a);
                // A gradient whose inputs are all held (none dropped, deferred or rebuilt), so that rebuilding it needs
                // nothing rebuilt or recomputed with it.
                bool gradient = kind == StepKind.Backward && !again.Contains(a) && !neverRecompute.Contains(a)
                    && !tasks[a].Inputs.Any(u => grown.Contains(u) || deferred[u] || again.Contains(u));
                if (!forward && !gradient) continue;
                var freeing = Freed(a);
                if (freeing.Bytes <= 0) continue;
                if (extra < 0 || Better(a, freeing, extra, best)) (extra, best) = (a, freeing);
            }
            trace?.Invoke(extra < 0 ? "  nothing to free" : $"  {(tasks[extra].Kind == TaskKind.Forward ? "drop" : "rebuild")} {tasks[extra].Name} ({tasks[extra].Bytes} B, frees {best.Bytes}, costs {best.Cost:E2}{(best.With is { } w ? $", with {tasks[w].Name}" : "")})");
            if (extra < 0) return null;
            if (tasks[extra].Kind == TaskKind.Forward) grown.Add(extra);
            else again.Add(extra);
            if (best.With is { } input) grown.Add(input);
            // Freed after its last reader before the sub-run (a gradient: its own run where none reads it before),
            // rather than held from there (or recomputed there and held) to the next.
            int lastBefore = tasks[extra].Kind == TaskKind.Backward ? position[extra] : -1;
            foreach (int r in training.Readers(extra))
                if (tasks[r].Kind == TaskKind.Backward && position[r] < current) lastBefore = Math.Max(lastBefore, position[r]);
            if (lastBefore >= 0) release.Add((extra, lastBefore));

            // What freeing a frees at the overflow and costs: its own bytes and one run again, less the bytes of its
            // inputs that are freed by then and would be held to run it again (neither dropped nor deferred). On
            // ConvNeXt-T a layer norm's input transpose reads the stem's convolution output, freed at once otherwise:
            // dropping the transpose holds the convolution output instead, and frees nothing. Where one such input is
            // a forward buffer that reads only buffers live there, dropped or deferred, it may be dropped with a
            // instead (its run again costed, its bytes not held): SqueezeNet's ReLUs run in place over their
            // convolution outputs, so a ReLU output alone frees nothing, and with its convolution its bytes.
            Freeing Freed(int a)
            {
                long bytes = tasks[a].Bytes;
                int? with = null;
                int held = 0;
                var inputs = tasks[a].Inputs;
                for (int k = 0; k < inputs.Length; k++)
                {
                    int u = inputs[k];
                    if (startedAt[u] >= 0 || grown.Contains(u) || deferred[u] || again.Contains(u) || inputs.IndexOf(u) < k) continue;
                    bytes -= tasks[u].Bytes;
                    held++;
                    if (tasks[u].Kind == TaskKind.Forward && !neverRecompute.Contains(u)
                        && tasks[u].Inputs.All(v => startedAt[v] >= 0 || grown.Contains(v) || deferred[v])) with = u;
                }
                var alone = new Freeing(bytes, tasks[a].Time, null);
                if (held != 1 || with is not { } w) return alone;
                var both = new Freeing(bytes + tasks[w].Bytes, tasks[a].Time + tasks[w].Time, w);
                return alone.Bytes > 0 && Better(a, alone, a, both) ? alone : both;
            }

            // Which of two freeings to make: of those that free the whole excess alone, the cheapest to run again (then
            // the one that frees more); else the cheapest per byte freed; then the lower id.
            bool Better(int a, Freeing x, int b, Freeing y)
            {
                bool coversX = x.Bytes >= excess, coversY = y.Bytes >= excess;
                if (coversX != coversY) return coversX;
                if (coversX)
                    return x.Cost != y.Cost ? x.Cost < y.Cost : x.Bytes != y.Bytes ? x.Bytes > y.Bytes : a < b;
                if (x.Bytes <= 0 || y.Bytes <= 0) return x.Bytes > y.Bytes;
                double perX = x.Cost * y.Bytes, perY = y.Cost * x.Bytes;
                return perX != perY ? perX < perY : a < b;
            }
        }
        return null;
    }

    /// <summary>What freeing one more buffer at an overflow frees there and costs, and the input dropped with it.</summary>
    private readonly record struct Freeing(long Bytes, double Cost, int? With);

    /// <param name="again">Backward tasks whose output is not held between its readers but rebuilt: held after its run
    /// like a recomputed buffer (released by <paramref name="release"/>), and run again before a later reader that
    /// finds it freed.</param>
    /// <remarks>
    /// The dropped buffers a backward task needs are recomputed inputs first, each input's own needs before the input.
    /// By default the inputs are taken in reverse order of the task's inputs; with <paramref name="deepFirst"/>, the input
    /// with the longest chain of dropped buffers behind it comes first. On a chain rebuilt through dropped buffers, where
    /// each link reads the link before and a side input (a transformer's residual stream, each Add reading the stream
    /// and a Dropout output rebuilt from its kept input), the default order rebuilds every side input before the first
    /// link and holds them all (ViT-B/16 at 50 %: 24 Dropout outputs, 221 MiB, 148 MiB over the budget); deepest first
    /// holds one link's inputs at a time.
    /// </remarks>
    private static (Schedule Schedule, List<int>?[] NeededAt, long Pairs, bool[] Deferred, List<int> Backward)? Build(TrainingGraph training,
        IReadOnlyList<int> order, IReadOnlySet<int> drop, IReadOnlySet<int> neverRecompute, int window, HashSet<(int Task, int After)>? release,
        IReadOnlySet<int>? again, string solver, long budget, CancellationToken cancellation, bool deepFirst = false)
    {
        var tasks = training.Tasks;
        int n = tasks.Length;
        var dropped = new bool[n];
        foreach (int t in drop)
        {
            if (tasks[t].Kind != TaskKind.Forward || neverRecompute.Contains(t)) return null;
            dropped[t] = true;
        }
        // Buffers whose first run waits for the backward pass; from here on they count as dropped (each need of one
        // runs it, the first time as a compute).
        var deferred = Deferred(training, dropped, neverRecompute);
        for (int t = 0; t < n; t++) dropped[t] |= deferred[t];
        var rebuilt = new bool[n];
        foreach (int t in again ?? (IReadOnlySet<int>)new HashSet<int>())
        {
            if (tasks[t].Kind != TaskKind.Backward) return null;
            rebuilt[t] = dropped[t] = true;
        }
        var steps = new List<Step>(n + drop.Count * 2);
        var backward = new List<int>();
        foreach (int t in order)
        {
            if (tasks[t].Kind == TaskKind.Forward)
            {
                if (backward.Count > 0) return null;
                if (!deferred[t]) steps.Add(new Step(StepKind.Compute, t));
            }
            else backward.Add(t);
        }

        // needs[j]: the dropped buffers backward task j reads or needs to recompute what it reads, inputs first.
        var needs = new List<int>[backward.Count];
        var neededAt = new List<int>?[n]; // for each dropped buffer, the backward indices that need it, ascending
        var mark = new int[n];
        Array.Fill(mark, -1);
        long pairs = 0;
        var stack = new Stack<(int Task, bool Expanded)>();
        // The longest chain of dropped buffers behind each dropped buffer (task ids are topological).
        var depth = new int[n];
        if (deepFirst)
            for (int t = 0; t < n; t++)
                if (dropped[t])
                    foreach (int u in tasks[t].Inputs) if (dropped[u]) depth[t] = Math.Max(depth[t], depth[u] + 1);
        var inputs = new List<int>();
        for (int j = 0; j < backward.Count; j++)
        {
            if ((j & 255) == 0) cancellation.ThrowIfCancellationRequested();
            var need = needs[j] = [];
            foreach (int i in tasks[backward[j]].Inputs)
                if (dropped[i] && mark[i] != j) stack.Push((i, false));
            while (stack.Count > 0)
            {
                var (a, expanded) = stack.Pop();
                if (expanded) { need.Add(a); (neededAt[a] ??= []).Add(j); continue; }
                if (mark[a] == j) continue;
                mark[a] = j;
                stack.Push((a, true));
                inputs.Clear();
                foreach (int u in tasks[a].Inputs)
                    if (dropped[u] && mark[u] != j) inputs.Add(u);
                // The last pushed is expanded first: the deepest input is pushed last (a stable sort: ties in input order).
                foreach (int u in deepFirst ? inputs.OrderBy(u => depth[u]).ToList() : inputs) stack.Push((u, false));
            }
            pairs += need.Count;
            if (pairs > MaxNeedPairs) return null;
        }

        var live = new bool[n];
        var ran = new bool[n]; // a deferred buffer that has run (its later runs are recomputes)
        var next = new int[n]; // index into neededAt[a] of the first need not yet passed
        var held = new List<int>();
        var required = new bool[n];
        for (int j = 0; j < backward.Count; j++)
        {
            var need = needs[j];
            // What must be recomputed: the task's dropped inputs that are not live, and the dropped inputs of those
            // that are not live, found readers first (need lists inputs before readers).
            foreach (int i in tasks[backward[j]].Inputs) if (dropped[i] && !live[i]) required[i] = true;
            for (int x = need.Count - 1; x >= 0; x--)
                if (required[need[x]])
                    foreach (int u in tasks[need[x]].Inputs) if (dropped[u] && !live[u]) required[u] = true;
            foreach (int a in need)
            {
                next[a]++;
                if (!required[a]) continue;
                required[a] = false;
                steps.Add(new Step(rebuilt[a] ? StepKind.Backward : deferred[a] && !ran[a] ? StepKind.Compute : StepKind.Recompute, a));
                ran[a] = true;
                live[a] = true;
                held.Add(a);
            }
            steps.Add(new Step(StepKind.Backward, backward[j]));
            if (rebuilt[backward[j]] && neededAt[backward[j]] is not null)
            {
                live[backward[j]] = true;
                held.Add(backward[j]);
            }
            held.RemoveAll(a =>
            {
                var at = neededAt[a]!;
                // A deferred buffer stays up to its last need whatever the window (kept from the forward pass it would
                // have stayed longer), unless the fitted lowering releases it.
                bool keep = next[a] < at.Count && (window == int.MaxValue || deferred[a] || at[next[a]] - j <= window) && release?.Contains((a, j)) != true;
                if (!keep) live[a] = false;
                return !keep;
            });
        }
        return (new Schedule(training, Liveness.InsertFrees(training, steps), solver, budget), neededAt, pairs, deferred, backward);
    }

    /// <summary>
    /// The forward buffers whose first run waits until the backward pass first needs them: those only backward tasks
    /// read (a layer norm's saved mean and inverse deviation, a dropout mask), not pinned, whose every input is dropped,
    /// deferred too, or read by one of the buffer's own backward readers. Such an input is live at that reader
    /// anyway, or recomputed for it (a dropped input), so running the buffer there holds nothing longer, while
    /// computing it in the forward pass holds it through the whole forward pass and every backward task before its
    /// reader. The relaxation counts nothing for such a buffer at a cut before its readers (it is no ancestor of the
    /// cut): ConvNeXt-T at 50 % holds 22 layer norms' statistics, 5 MiB, at the guide's cut that way, and SqueezeNet at
    /// 50 % its classifier's dropout mask, 11 MiB.
    /// </summary>
    internal static bool[] Deferred(TrainingGraph training, bool[] dropped, IReadOnlySet<int> neverRecompute)
    {
        var tasks = training.Tasks;
        var deferred = new bool[tasks.Length];
        for (int s = 0; s < tasks.Length; s++) // ids are topological: an input is decided before its readers
        {
            var task = tasks[s];
            if (task.Kind != TaskKind.Forward || task.Bytes == 0 || neverRecompute.Contains(s)) continue;
            var readers = training.Readers(s);
            if (readers.IsEmpty) continue;
            bool backwardOnly = true;
            foreach (int r in readers) if (tasks[r].Kind != TaskKind.Backward) { backwardOnly = false; break; }
            if (!backwardOnly) continue;
            bool inputsLive = true;
            foreach (int u in task.Inputs)
            {
                if (dropped[u] || deferred[u]) continue;
                bool shared = false;
                foreach (int r in readers) if (tasks[r].Inputs.IndexOf(u) >= 0) { shared = true; break; }
                if (!shared) { inputsLive = false; break; }
            }
            deferred[s] = inputsLive;
        }
        return deferred;
    }
}
