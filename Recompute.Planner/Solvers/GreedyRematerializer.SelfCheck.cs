using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>The self-check tests switch on: every eviction of the queue compared with a scan over every task.</summary>
internal sealed partial class GreedyRematerializer
{
    /// <summary>
    /// Tests set this to compare every eviction of the queue with a scan over every task, needs by the formula over
    /// every reader (<see cref="CheckVictim"/>), for
    /// the calling flow only; an internal switch, off in every command and library call.
    /// </summary>
    internal static bool SelfCheck { get => SelfCheckFlow.Value; set => SelfCheckFlow.Value = value; }

    private static readonly AsyncLocal<bool> SelfCheckFlow = new();

    /// <summary>Evictions compared by <see cref="SelfCheck"/> so far, in every flow (so tests see that the check ran).</summary>
    internal static long SelfChecksRun => Interlocked.Read(ref _selfChecksRun);

    private static long _selfChecksRun;

    /// <summary>
    /// The need of every task by the formula over every reader: min(next first-run use, need of every ran, non-live
    /// reader), in reverse topological order. O(tasks + edges): for <see cref="SelfCheck"/> only.
    /// </summary>
    private int[] ReferenceNeeds()
    {
        var need = new int[_need.Length];
        _reverseTopological ??= ReverseTopological(_training);
        foreach (int r in _reverseTopological)
        {
            int best = NextUse(r);
            foreach (int q in _training.Readers(r))
                if (_ran[q] && !_live[q] && need[q] < best) best = need[q];
            need[r] = best;
        }
        return need;
    }

    /// <summary>
    /// The victim of a scan over every task (the rule the queue keeps: the first dead buffer by id, else the least
    /// score, the larger buffer on ties, then the earlier task), with needs by the formula: what the queue must pick.
    /// </summary>
    private int ScanVictim(int[] need)
    {
        int victim = -1;
        double best = double.MaxValue;
        long victimBytes = 0;
        for (int t = 0; t < _live.Length; t++)
        {
            if (!_live[t] || _pins[t] > 0 || _training.Tasks[t].Bytes == 0) continue;
            if (need[t] == int.MaxValue) return t;
            if (_neverRecompute[t]) continue;
            double s = Score(t, need[t]);
            long b = _training.Tasks[t].Bytes;
            if (s < best || (s == best && b > victimBytes)) { best = s; victim = t; victimBytes = b; }
        }
        return victim;
    }

    /// <summary>Under <see cref="SelfCheck"/>: throws when the queue's victim or a need differs from the scan's.</summary>
    private void CheckVictim(int victim)
    {
        Interlocked.Increment(ref _selfChecksRun);
        var need = ReferenceNeeds();
        for (int t = 0; t < _live.Length; t++)
            if (_live[t] && _pins[t] == 0 && NeededAt(t) != need[t])
                throw new InvalidOperationException($"greedy need of '{_training.Tasks[t].Name}' is {NeededAt(t)}, by every reader {need[t]}");
        int scanned = ScanVictim(need);
        if (scanned != victim)
            throw new InvalidOperationException($"greedy's queue evicts {TaskName(victim)} where the scan evicts {TaskName(scanned)}");
    }

    private string TaskName(int t) => t < 0 ? "nothing" : $"'{_training.Tasks[t].Name}'";
}
