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

    public Schedule Lower(ReadOnlySpan<TensorChoice> choice, string solver, long? budgetBytes, long? hostBudgetBytes)
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

        // Offloaded values: where they are computed, last read in the forward, first and last read in the backward.
        int m = work.Count;
        var computedAt = new int[n];
        var lastForwardRead = new int[n];
        var firstBackwardRead = new int[n];
        Array.Fill(computedAt, -1); Array.Fill(firstBackwardRead, -1);
        for (int i = 0; i < m; i++)
        {
            var s = work[i];
            if (s.Kind == StepKind.Compute) { computedAt[s.Task] = i; lastForwardRead[s.Task] = i; }
            foreach (int p in tasks[s.Task].Inputs)
            {
                if (i < _split) lastForwardRead[p] = i;
                else if (firstBackwardRead[p] < 0) firstBackwardRead[p] = i;
            }
        }
        var offloaded = new bool[n];
        for (int t = 0; t < n; t++)
            offloaded[t] = choice[t] == TensorChoice.Offload && computedAt[t] >= 0 && firstBackwardRead[t] >= 0 && CanOffload(t);

        // The compute clock without stalls: clock[i] is when work step i starts.
        var clock = new double[m + 1];
        for (int i = 0; i < m; i++) clock[i + 1] = clock[i] + tasks[work[i].Task].Time;
        double Seconds(int t) => _link.LatencySeconds + tasks[t].Bytes / _link.BytesPerSecond;

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
            int slot = Math.Max(lastForwardRead[t] + 1, FirstSlotAtOrAfter(clock, finish));
            slot = Math.Min(slot, firstBackwardRead[t]);
            waitSlot[t] = slot;
            (waitOffloadAt[slot] ??= []).Add(t);
        }

        // Prefetches, latest first: each must end before its reader and before the next one on the link starts.
        var needed = Enumerable.Range(0, n).Where(t => offloaded[t]).OrderBy(t => firstBackwardRead[t]).ThenBy(t => t).ToArray();
        var prefetchAt = new List<int>?[m + 1];
        double nextStart = double.PositiveInfinity;
        for (int k = needed.Length - 1; k >= 0; k--)
        {
            int t = needed[k];
            int need = firstBackwardRead[t];
            double start = Math.Min(clock[need], nextStart) - Seconds(t);
            int slot = Math.Clamp(LastSlotAtOrBefore(clock, start, need), waitSlot[t], need);
            nextStart = Math.Max(start, clock[slot]);
            (prefetchAt[slot] ??= []).Add(t);
        }

        // Frees: every buffer instance after its last reader; an offloaded value's forward copy after its wait, and
        // its prefetched copy after its last backward reader.
        var freeAfter = new List<int>?[m];
        var lastUse = new int[n];
        var instanceOpen = new bool[n];
        void Close(int t)
        {
            if (offloaded[t] && lastUse[t] < _split) return; // freed after the wait on its offload
            (freeAfter[lastUse[t]] ??= []).Add(t);
        }
        for (int i = 0; i < m; i++)
        {
            int a = work[i].Task;
            foreach (int p in tasks[a].Inputs) lastUse[p] = i;
            if (instanceOpen[a]) Close(a);
            instanceOpen[a] = true;
            lastUse[a] = i;
        }
        for (int t = 0; t < n; t++)
        {
            if (!instanceOpen[t]) continue;
            // An offloaded value read in the backward was brought back: that copy ends after its last reader.
            Close(t);
        }

        var steps = ImmutableArray.CreateBuilder<Step>(m * 2 + needed.Length * 5);
        var waitPrefetch = new List<int>?[m];
        foreach (int t in needed) (waitPrefetch[firstBackwardRead[t]] ??= []).Add(t);
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
            if (waitPrefetch[i] is { } arriving)
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
