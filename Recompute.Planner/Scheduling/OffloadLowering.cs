using System.Collections.Immutable;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>What a plan with offloading does with one forward value across the forward/backward gap.</summary>
internal enum TensorChoice : byte
{
    /// <summary>Stays on the device from its computation to its last reader.</summary>
    Keep,
    /// <summary>Copied to the host after it is computed, freed on the device, copied back before backward reads it.</summary>
    Offload,
    /// <summary>Freed after its last forward reader and recomputed when backward needs it.</summary>
    Recompute,
}

/// <summary>
/// Lowers a choice per forward value (keep, offload, recompute) to a schedule with transfer steps. The order of work
/// is the store-all schedule's: every forward task, then every backward task; before a backward task, the values it
/// reads that were dropped are recomputed (their missing inputs first), as <see cref="Lowering"/> does. An offloaded
/// value's copy to the host starts right after it is computed; the wait on it (and the free of its device copy) is
/// placed at the first step the copy is predicted to have finished by (never before its last forward reader, never
/// after the step that first needs it back). Its prefetch is placed as late as lets it arrive, by the predicted
/// compute clock, before that step, prefetches queueing on their link in the order they are needed; the wait on the
/// prefetch is just before that step. Placement uses the compute clock without stalls; the simulator times the result.
/// </summary>
internal sealed class OffloadLowering
{
    private readonly TrainingGraph _training;
    private readonly HostLink _link;
    private readonly int[] _order;
    private readonly int _split;

    /// <param name="storeAll">The store-all schedule, whose order of tasks this lowering keeps.</param>
    public OffloadLowering(TrainingGraph training, Schedule storeAll, HostLink link)
    {
        _training = training; _link = link;
        _order = storeAll.Steps.Where(s => s.Allocates).Select(s => s.Task).ToArray();
        _split = Array.FindIndex(_order, t => training.Tasks[t].Kind == TaskKind.Backward);
        if (_split < 0) _split = _order.Length;
    }

    public TrainingGraph Training => _training;

    /// <summary>Forward values an offload could apply to: own a buffer (not views) and are read by a backward task.</summary>
    public bool CanOffload(int task)
    {
        var t = _training.Tasks[task];
        if (t.Kind != TaskKind.Forward || t.Bytes == 0 || _training.ViewOf(t.Node) is not null) return false;
        foreach (int r in _training.Readers(task)) if (_training.Tasks[r].Kind == TaskKind.Backward) return true;
        return false;
    }

    /// <param name="eager">Place for memory rather than time (<see cref="Emit"/>).</param>
    public Schedule Lower(ReadOnlySpan<TensorChoice> choice, string solver, long? budgetBytes, long? hostBudgetBytes, bool eager = false)
    {
        var tasks = _training.Tasks;
        int n = tasks.Length;
        // The work: (task, kind), forward first, then backward with the recomputations it needs.
        var work = new List<Step>(_order.Length + 16);
        var available = new bool[n];
        for (int i = 0; i < _split; i++) work.Add(new Step(StepKind.Compute, _order[i]));
        for (int t = 0; t < n; t++) available[t] = tasks[t].Kind == TaskKind.Forward && choice[t] != TensorChoice.Recompute;
        var stack = new Stack<(int Task, bool Expanded)>();
        for (int i = _split; i < _order.Length; i++)
        {
            int bt = _order[i];
            foreach (int p in tasks[bt].Inputs)
            {
                if (available[p]) continue;
                stack.Push((p, false));
                while (stack.Count > 0)
                {
                    var (t, expanded) = stack.Pop();
                    if (available[t]) continue;
                    if (tasks[t].Kind != TaskKind.Forward) throw new InvalidOperationException($"backward task '{tasks[t].Name}' is needed before it was computed");
                    if (expanded) { work.Add(new Step(StepKind.Recompute, t)); available[t] = true; continue; }
                    stack.Push((t, true));
                    var inputs = tasks[t].Inputs;
                    for (int k = inputs.Length - 1; k >= 0; k--) if (!available[inputs[k]]) stack.Push((inputs[k], false));
                }
            }
            work.Add(new Step(StepKind.Backward, bt));
            available[bt] = true;
        }

        // Offloaded values come back where backward first reads them.
        int m = work.Count;
        var computedAt = new int[n];
        var firstBackwardRead = new int[n];
        Array.Fill(computedAt, -1); Array.Fill(firstBackwardRead, -1);
        for (int i = 0; i < m; i++)
        {
            var s = work[i];
            if (s.Kind == StepKind.Compute) computedAt[s.Task] = i;
            if (i >= _split)
                foreach (int p in tasks[s.Task].Inputs)
                    if (firstBackwardRead[p] < 0) firstBackwardRead[p] = i;
        }
        var back = new int[n];
        Array.Fill(back, -1);
        for (int t = 0; t < n; t++)
            if (choice[t] == TensorChoice.Offload && computedAt[t] >= 0 && firstBackwardRead[t] >= 0 && CanOffload(t)) back[t] = firstBackwardRead[t];
        return Emit(work, back, solver, budgetBytes, hostBudgetBytes, eager);
    }

    /// <summary>
    /// A keep-or-recompute schedule with some of its recomputations replaced by offloads: for each value in
    /// <paramref name="offload"/> computed once before the schedule's first backward step and recomputed after it, the
    /// first such recomputation becomes a prefetch of the copy offloaded after its computation, and recomputations
    /// that then feed nothing are dropped. A value in <paramref name="offload"/> that the schedule keeps across the
    /// split (computed once before it, read after it, never recomputed) is offloaded too and comes back for its first
    /// read after the split. The schedule's order of work is kept.
    /// </summary>
    /// <param name="eager">Place for memory rather than time (<see cref="Emit"/>).</param>
    public Schedule LowerFrom(Schedule plain, ReadOnlySpan<bool> offload, string solver, long? budgetBytes, long? hostBudgetBytes, bool eager = false)
    {
        var tasks = _training.Tasks;
        int n = tasks.Length;
        var work = plain.Steps.Where(s => s.Allocates).ToList();
        int split = work.FindIndex(s => s.Kind == StepKind.Backward);
        if (split < 0) split = work.Count;
        // The recomputation each offloaded value replaces: its first after the split, when it was computed once before.
        var allocationsBefore = new int[n];
        for (int i = 0; i < split; i++) allocationsBefore[work[i].Task]++;
        var replaced = new bool[work.Count];
        var seen = new bool[n];
        for (int i = split; i < work.Count; i++)
        {
            int t = work[i].Task;
            if (work[i].Kind != StepKind.Recompute || seen[t]) continue;
            seen[t] = true;
            if (offload[t] && allocationsBefore[t] == 1 && CanOffload(t)) replaced[i] = true;
        }
        // Steps as (step, comes back here): a replaced recomputation marks the next step as where its value is back.
        var kept = new List<Step>(work.Count);
        var pendingBack = new List<int>();
        var marks = new Dictionary<int, List<int>>();
        for (int i = 0; i < work.Count; i++)
        {
            // Values kept across the split come back for their first read after it.
            if (i == split)
                for (int t = 0; t < n; t++)
                    if (offload[t] && !seen[t] && allocationsBefore[t] == 1 && CanOffload(t)) pendingBack.Add(t);
            if (replaced[i]) { pendingBack.Add(work[i].Task); continue; }
            if (pendingBack.Count > 0) { marks[kept.Count] = [.. pendingBack]; pendingBack.Clear(); }
            kept.Add(work[i]);
        }
        // Recomputations whose value nothing reads before it is made again are dead work: drop them until none is.
        for (bool dropped = true; dropped;)
        {
            dropped = false;
            var read = new bool[kept.Count];
            var open = new int[n];
            Array.Fill(open, -1);
            for (int i = 0; i < kept.Count; i++)
            {
                if (marks.TryGetValue(i, out var back)) foreach (int t in back) open[t] = -1;
                foreach (int p in tasks[kept[i].Task].Inputs) if (open[p] >= 0) read[open[p]] = true;
                open[kept[i].Task] = i;
            }
            var next = new List<Step>(kept.Count);
            var nextMarks = new Dictionary<int, List<int>>();
            var carry = new List<int>();
            for (int i = 0; i < kept.Count; i++)
            {
                if (marks.TryGetValue(i, out var back)) carry.AddRange(back);
                if (kept[i].Kind == StepKind.Recompute && !read[i]) { dropped = true; continue; }
                if (carry.Count > 0) { nextMarks[next.Count] = [.. carry]; carry.Clear(); }
                next.Add(kept[i]);
            }
            kept = next;
            marks = nextMarks;
        }
        // Where each value comes back: the first read at or after its mark (none: it was not needed, nothing to offload).
        var result = new int[n];
        Array.Fill(result, -1);
        var waiting = new List<int>();
        for (int i = 0; i < kept.Count; i++)
        {
            if (marks.TryGetValue(i, out var back)) waiting.AddRange(back);
            for (int k = waiting.Count - 1; k >= 0; k--)
            {
                int t = waiting[k];
                if (tasks[kept[i].Task].Inputs.Contains(t)) { result[t] = i; waiting.RemoveAt(k); }
                else if (kept[i].Task == t) waiting.RemoveAt(k);
            }
        }
        return Emit(kept, result, solver, budgetBytes, hostBudgetBytes, eager);
    }

    /// <summary>
    /// A list of work in which a <see cref="StepKind.Prefetch"/> marks where an offloaded value comes back (greedy with
    /// a link, <see cref="Solvers.GreedyRematerializer.PlanWithOffload"/>): the value is offloaded after its computation
    /// and is back for the next step of work; the copies, waits and frees are placed as <see cref="Emit"/> does.
    /// </summary>
    public Schedule LowerMarked(IReadOnlyList<Step> marked, string solver, long? budgetBytes, long? hostBudgetBytes, bool eager)
    {
        var work = new List<Step>(marked.Count);
        var back = new int[_training.Count];
        Array.Fill(back, -1);
        foreach (var s in marked)
        {
            if (s.Kind == StepKind.Prefetch) { if (back[s.Task] < 0) back[s.Task] = work.Count; }
            else work.Add(s);
        }
        for (int t = 0; t < back.Length; t++)
            if (back[t] >= work.Count || (back[t] >= 0 && !CanOffload(t))) back[t] = -1;
        return Emit(work, back, solver, budgetBytes, hostBudgetBytes, eager);
    }

    /// <summary>
    /// The schedule of a list of work (compute, recompute and backward steps) in which each value with
    /// <paramref name="back"/>[v] ≥ 0 is offloaded after its computation and is back, by prefetch, for step back[v]:
    /// every read of v from that step on, up to its next computation, reads the prefetched copy. By default the waits
    /// and prefetches are placed by the predicted clock so that transfers hide behind compute; with
    /// <paramref name="eager"/> each device copy lives as briefly as the order of work allows (the wait on the
    /// offload right after the last forward read, the prefetch just before the step that needs it), which stalls on
    /// every transfer but is the least memory a choice of offloads can take.
    /// </summary>
    private Schedule Emit(List<Step> work, int[] back, string solver, long? budgetBytes, long? hostBudgetBytes, bool eager)
    {
        var tasks = _training.Tasks;
        int n = tasks.Length;
        int m = work.Count;
        var offloaded = new bool[n];
        var computedAt = new int[n];
        Array.Fill(computedAt, -1);
        var backAt = new List<int>?[m];
        for (int t = 0; t < n; t++)
            if (back[t] >= 0) { offloaded[t] = true; (backAt[back[t]] ??= []).Add(t); }
        for (int i = 0; i < m; i++)
            if (work[i].Kind == StepKind.Compute && offloaded[work[i].Task]) computedAt[work[i].Task] = i;
        for (int t = 0; t < n; t++)
            if (offloaded[t] && (computedAt[t] < 0 || computedAt[t] >= back[t])) { offloaded[t] = false; backAt[back[t]]!.Remove(t); }

        // The compute clock without stalls: clock[i] is when work step i starts.
        var clock = new double[m + 1];
        for (int i = 0; i < m; i++) clock[i + 1] = clock[i] + tasks[work[i].Task].Time;
        double Seconds(int t) => _link.LatencySeconds + tasks[t].Bytes / _link.BytesPerSecond;

        // Frees: every buffer instance after its last reader; an offloaded value's first copy after the wait on its
        // offload, and its prefetched copy after its last reader.
        var freeAfter = new List<int>?[m];
        var lastUse = new int[n];
        var lastFirstCopyRead = new int[n];
        var instanceOpen = new bool[n];
        var firstCopy = new bool[n];
        void Close(int t)
        {
            if (firstCopy[t]) { firstCopy[t] = false; return; } // freed after the wait on its offload
            (freeAfter[lastUse[t]] ??= []).Add(t);
        }
        for (int i = 0; i < m; i++)
        {
            if (backAt[i] is { } returning)
                foreach (int t in returning) { lastFirstCopyRead[t] = lastUse[t]; Close(t); lastUse[t] = i; }
            int a = work[i].Task;
            foreach (int p in tasks[a].Inputs) lastUse[p] = i;
            if (instanceOpen[a]) Close(a);
            instanceOpen[a] = true;
            firstCopy[a] = offloaded[a] && work[i].Kind == StepKind.Compute;
            lastUse[a] = i;
        }
        for (int t = 0; t < n; t++)
            if (instanceOpen[t]) Close(t);

        // Offloads start in the order computed; each wait goes to the first step its copy has finished by.
        var waitOffloadAt = new List<int>?[m + 1];
        var waitSlot = new int[n];
        double toHost = 0;
        for (int i = 0; i < m; i++)
        {
            int t = work[i].Task;
            if (work[i].Kind != StepKind.Compute || !offloaded[t]) continue;
            double finish = Math.Max(clock[i + 1], toHost) + Seconds(t);
            toHost = finish;
            int slot = Math.Max(lastFirstCopyRead[t] + 1, eager ? i + 1 : FirstSlotAtOrAfter(clock, finish));
            slot = Math.Min(slot, back[t]);
            waitSlot[t] = slot;
            (waitOffloadAt[slot] ??= []).Add(t);
        }

        // Prefetches, latest first: each must end before its reader and before the next one on the link starts.
        var needed = Enumerable.Range(0, n).Where(t => offloaded[t]).OrderBy(t => back[t]).ThenBy(t => t).ToArray();
        var prefetchAt = new List<int>?[m + 1];
        double nextStart = double.PositiveInfinity;
        for (int k = needed.Length - 1; k >= 0; k--)
        {
            int t = needed[k];
            int need = back[t];
            double start = Math.Min(clock[need], nextStart) - Seconds(t);
            int slot = eager ? need : Math.Clamp(LastSlotAtOrBefore(clock, start, need), waitSlot[t], need);
            nextStart = Math.Max(start, clock[slot]);
            (prefetchAt[slot] ??= []).Add(t);
        }

        var steps = ImmutableArray.CreateBuilder<Step>(m * 2 + needed.Length * 5);
        for (int i = 0; i <= m; i++)
        {
            if (waitOffloadAt[i] is { } waits)
            {
                waits.Sort();
                foreach (int t in waits) { steps.Add(new Step(StepKind.Wait, t)); steps.Add(new Step(StepKind.FreeValue, t)); }
            }
            if (prefetchAt[i] is { } prefetches)
            {
                // Added latest-needed first: issue them in the order they are needed.
                prefetches.Reverse();
                foreach (int t in prefetches) steps.Add(new Step(StepKind.Prefetch, t));
            }
            if (i == m) break;
            if (backAt[i] is { } arriving)
            {
                arriving.Sort();
                foreach (int t in arriving) steps.Add(new Step(StepKind.Wait, t));
            }
            steps.Add(work[i]);
            if (freeAfter[i] is { } frees)
            {
                frees.Sort();
                foreach (int t in frees) steps.Add(new Step(tasks[t].Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t));
            }
            if (work[i].Kind == StepKind.Compute && offloaded[work[i].Task]) steps.Add(new Step(StepKind.Offload, work[i].Task));
        }
        return new Schedule(_training, steps.ToImmutable(), solver, budgetBytes) { Link = _link, HostBudgetBytes = hostBudgetBytes };
    }

    /// <summary>The first i with clock[i] ≥ time (clock is non-decreasing), or the last index.</summary>
    private static int FirstSlotAtOrAfter(double[] clock, double time)
    {
        int lo = 0, hi = clock.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            if (clock[mid] >= time) hi = mid; else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>The last i ≤ <paramref name="limit"/> with clock[i] ≤ time, or 0.</summary>
    private static int LastSlotAtOrBefore(double[] clock, double time, int limit)
    {
        int lo = 0, hi = limit;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >> 1;
            if (clock[mid] <= time) lo = mid; else hi = mid - 1;
        }
        return lo;
    }
}
