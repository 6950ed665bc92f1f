using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A schedule built straight from a set of forward buffers to drop (<see cref="RelaxationGuide"/>'s reading of a cut
/// relaxation's solution), with no eviction scores: every forward task runs once in order, a dropped buffer is freed
/// after its last forward reader, every other forward buffer stays until its last reader, and before each backward
/// task the dropped buffers it needs (the dropped inputs it reads, and the dropped inputs of those, recursively) are
/// recomputed, inputs first. After the backward task a recomputed buffer stays live only when a task at most
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
        Build(training, order, drop, neverRecompute, window, null, solver, budget, cancellation, deepFirst)?.Schedule;

    /// <summary>
    /// A lowering that keeps each recomputed buffer until the next task that needs it, except where that overflows
    /// the budget. Each round takes the first step whose live memory exceeds the budget and, of the buffers live there
    /// that neither it nor the rest of its backward task's sub-run reads, frees the largest recomputed one (then the
    /// cheapest to recompute, then the lowest id) after its last read up to that backward task instead of holding it
    /// for its next need; where no recomputed buffer is such, it drops one more buffer kept from the forward pass (not
    /// pinned by <paramref name="neverRecompute"/>): the cheapest to recompute per byte, then the lowest id. At most
    /// <paramref name="rounds"/> rounds, each one lowering and one simulation. Null when it does not fit by then or
    /// within <see cref="MaxFitWork"/>, when no buffer is left to free at an overflow, or as <see cref="Lower"/>.
    /// </summary>
    public static (Schedule Schedule, SimulationResult Simulation)? Fitted(TrainingGraph training, IReadOnlyList<int> order, IReadOnlySet<int> drop,
        IReadOnlySet<int> neverRecompute, int rounds, string solver, long budget, CancellationToken cancellation = default, bool deepFirst = false)
    {
        var tasks = training.Tasks;
        var release = new HashSet<(int Task, int After)>();
        var grown = new HashSet<int>(drop);
        long work = 0;
        for (int round = 0; round <= rounds; round++)
        {
            cancellation.ThrowIfCancellationRequested();
            var built = Build(training, order, grown, neverRecompute, int.MaxValue, release, solver, budget, cancellation, deepFirst);
            if (built is null) return null;
            var (schedule, neededAt, pairs) = built.Value;
            work += schedule.Steps.Length + pairs;
            if (work > MaxFitWork) return null;
            var simulation = Simulator.Measure(schedule);
            if (simulation.Fits(budget)) return (schedule, simulation);
            var steps = schedule.Steps;
            int over = 0;
            while (simulation.LiveBytes[over] <= budget) over++;
            // Live buffers at the overflow, the step where each live instance began, and the backward task (its index
            // among backward tasks) whose sub-run the overflow is in.
            var startedAt = new int[tasks.Length];
            Array.Fill(startedAt, -1);
            int current = 0;
            for (int i = 0; i <= over; i++)
            {
                var step = steps[i];
                if (step.Allocates)
                {
                    startedAt[step.Task] = i;
                    if (step.Kind == StepKind.Backward && i < over) current++;
                }
                else if (step.Frees) startedAt[step.Task] = -1;
            }
            // What the overflow step and the rest of its sub-run (up to and with its backward task) read.
            var readLater = new HashSet<int> { steps[over].Task };
            for (int i = over; i < steps.Length; i++)
            {
                if (!steps[i].Allocates) continue;
                readLater.UnionWith(tasks[steps[i].Task].Inputs);
                if (steps[i].Kind == StepKind.Backward) break;
            }
            int pick = -1, pickAfter = -1;
            for (int a = 0; a < tasks.Length; a++)
            {
                if (startedAt[a] < 0 || steps[startedAt[a]].Kind != StepKind.Recompute || readLater.Contains(a)) continue;
                var at = neededAt[a];
                if (at is null) continue;
                int found = at.BinarySearch(current);
                int last = found >= 0 ? found : ~found - 1;
                if (last < 0 || release.Contains((a, at[last]))) continue;
                if (pick < 0 || (tasks[a].Bytes, -tasks[a].Time).CompareTo((tasks[pick].Bytes, -tasks[pick].Time)) > 0) (pick, pickAfter) = (a, at[last]);
            }
            if (pick >= 0)
            {
                release.Add((pick, pickAfter));
                continue;
            }
            // No recomputed buffer to free there: drop one more buffer kept from the forward pass, the cheapest to
            // recompute per byte (then the lowest id) of those live there that the rest of the sub-run does not read.
            int extra = -1;
            for (int a = 0; a < tasks.Length; a++)
            {
                if (startedAt[a] < 0 || steps[startedAt[a]].Kind != StepKind.Compute || readLater.Contains(a) || grown.Contains(a)
                    || neverRecompute.Contains(a) || tasks[a].Bytes == 0) continue;
                if (extra < 0 || tasks[a].Time * tasks[extra].Bytes < tasks[extra].Time * tasks[a].Bytes) extra = a;
            }
            if (extra < 0) return null;
            grown.Add(extra);
        }
        return null;
    }

    /// <remarks>
    /// The dropped buffers a backward task needs are recomputed inputs first, each input's own needs before the input.
    /// By default the inputs are taken in reverse order of the task's inputs; with <paramref name="deepFirst"/>, the input
    /// with the longest chain of dropped buffers behind it comes first. On a chain rebuilt through dropped buffers, where
    /// each link reads the link before and a side input (a transformer's residual stream, each Add reading the stream
    /// and a Dropout output rebuilt from its kept input), the default order rebuilds every side input before the first
    /// link and holds them all (ViT-B/16 at 50 %: 24 Dropout outputs, 221 MiB, 148 MiB over the budget); deepest first
    /// holds one link's inputs at a time.
    /// </remarks>
    private static (Schedule Schedule, List<int>?[] NeededAt, long Pairs)? Build(TrainingGraph training, IReadOnlyList<int> order, IReadOnlySet<int> drop,
        IReadOnlySet<int> neverRecompute, int window, HashSet<(int Task, int After)>? release, string solver, long budget, CancellationToken cancellation,
        bool deepFirst)
    {
        var tasks = training.Tasks;
        int n = tasks.Length;
        var dropped = new bool[n];
        foreach (int t in drop)
        {
            if (tasks[t].Kind != TaskKind.Forward || neverRecompute.Contains(t)) return null;
            dropped[t] = true;
        }
        var steps = new List<Step>(n + drop.Count * 2);
        var backward = new List<int>();
        foreach (int t in order)
        {
            if (tasks[t].Kind == TaskKind.Forward)
            {
                if (backward.Count > 0) return null;
                steps.Add(new Step(StepKind.Compute, t));
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
                steps.Add(new Step(StepKind.Recompute, a));
                live[a] = true;
                held.Add(a);
            }
            steps.Add(new Step(StepKind.Backward, backward[j]));
            held.RemoveAll(a =>
            {
                var at = neededAt[a]!;
                bool keep = next[a] < at.Count && (window == int.MaxValue || at[next[a]] - j <= window) && release?.Contains((a, j)) != true;
                if (!keep) live[a] = false;
                return !keep;
            });
        }
        return (new Schedule(training, Liveness.InsertFrees(training, steps), solver, budget), neededAt, pairs);
    }
}
