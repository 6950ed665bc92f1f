using System.Collections.Immutable;

namespace Recompute.Planner.Solvers;

/// <summary>
/// The dynamic programs of Kusumoto et al. (2019) over a family of lower sets: state (L, t) → least cached memory,
/// transitions L ⊊ L' with V' = L' \ L, feasible when m + 2M(V') + M(A') + M(B') ≤ budget; plus a min-max variant
/// that finds the smallest budget any chain of the family fits.
/// </summary>
internal sealed class CanonicalDp
{
    private readonly LowerSetFamily _f;
    private readonly ulong[] _keep;
    private readonly ulong[] _recompute;
    private readonly double _unit;

    /// <param name="keep">Dense indices that must be checkpoints (kept) when computed.</param>
    /// <param name="recompute">Dense indices that must not be checkpoints.</param>
    /// <param name="unit">Time quantum: overheads are summed in multiples of it.</param>
    public CanonicalDp(LowerSetFamily family, IEnumerable<int> keep, IEnumerable<int> recompute, double unit)
    {
        _f = family;
        _keep = family.Dag.NewSet();
        _recompute = family.Dag.NewSet();
        // A tensor without readers can never be a checkpoint; a keep pin on it is vacuous.
        foreach (var k in keep) if (family.Dag.Succ[k].Length > 0) ForwardDag.Add(_keep, k);
        foreach (var r in recompute) ForwardDag.Add(_recompute, r);
        _unit = unit;
    }

    /// <summary>Quantum for a graph's times: 1 when they are small integers (paper units), else total/buckets.</summary>
    public static double ChooseUnit(ForwardDag dag, int buckets)
    {
        double total = dag.Time.Sum();
        bool integral = dag.Time.All(t => t == Math.Floor(t));
        if (integral && total <= 4 * buckets) return 1;
        return total > 0 ? total / buckets : 1;
    }

    private bool PinsAllow(int a, int b)
    {
        if (_keep.Length == 0) return true;
        var sa = _f.Set(a);
        var sb = _f.Set(b);
        var bd = _f.BoundaryOf(b);
        for (int w = 0; w < sa.Length; w++)
        {
            ulong vp = sb[w] & ~sa[w];
            if ((vp & _keep[w] & ~bd[w]) != 0) return false;
            if ((vp & _recompute[w] & bd[w]) != 0) return false;
        }
        return true;
    }

    private long StepMemory(int a, int b) => 2 * (_f.Mem[b] - _f.Mem[a]) + _f.MemA[b] + _f.MemB[b];

    private (long Cache, long Tau) Transition(int a, int b)
    {
        var (mIn, tIn) = _f.BoundaryWithin(b, a);
        long cache = _f.MemBoundary[b] - mIn;
        double t = (_f.Time[b] - _f.Time[a]) - (_f.TimeBoundary[b] - tIn);
        return (cache, (long)Math.Round(Math.Max(0, t) / _unit));
    }

    private readonly record struct Entry(long M, int Prev, long PrevTau);

    /// <summary>Time-centric (least overhead) or memory-centric (most overhead) chain under the budget, or null.</summary>
    public CanonicalStrategy? Solve(long budget, Objective objective, CancellationToken ct)
    {
        int n = _f.Count;
        var fronts = new Dictionary<long, Entry>?[n];
        fronts[0] = new() { [0] = new Entry(0, -1, -1) };
        for (int a = 0; a < n; a++)
        {
            var front = fronts[a];
            if (front is null || a == _f.Full) continue;
            if ((a & 255) == 0) ct.ThrowIfCancellationRequested();
            var entries = Prune(front, objective);
            fronts[a] = entries.ToDictionary(e => e.Tau, e => e.Entry);
            long minM = entries.Min(e => e.Entry.M);
            long room = budget - minM;
            if (room < 0) continue;
            for (int b = a + 1; b < n; b++)
            {
                if (2 * (_f.Mem[b] - _f.Mem[a]) > room) break;
                if (!_f.IsProperSubset(a, b) || !PinsAllow(a, b)) continue;
                long step = StepMemory(a, b);
                if (minM + step > budget) continue;
                var (cache, tau) = Transition(a, b);
                var target = fronts[b] ??= new Dictionary<long, Entry>();
                foreach (var (t, e) in entries)
                {
                    if (e.M + step > budget) continue;
                    long nt = t + tau, nm = e.M + cache;
                    if (!target.TryGetValue(nt, out var old) || nm < old.M || (nm == old.M && a < old.Prev))
                        target[nt] = new Entry(nm, a, t);
                }
            }
        }
        var last = fronts[_f.Full];
        if (last is null || last.Count == 0) return null;
        long best = objective == Objective.Time ? last.Keys.Min() : last.Keys.Max();
        return Reconstruct(fronts, best);
    }

    private static List<(long Tau, Entry Entry)> Prune(Dictionary<long, Entry> front, Objective objective)
    {
        // Time-centric: keep entries whose memory is below every entry of smaller time.
        // Memory-centric: keep entries whose memory is below every entry of larger time.
        var list = front.Select(kv => (Tau: kv.Key, Entry: kv.Value)).OrderBy(e => e.Tau).ToList();
        if (objective == Objective.Memory) list.Reverse();
        var kept = new List<(long, Entry)>(list.Count);
        long bestM = long.MaxValue;
        foreach (var e in list)
            if (e.Entry.M < bestM) { kept.Add(e); bestM = e.Entry.M; }
        return kept;
    }

    private CanonicalStrategy Reconstruct(Dictionary<long, Entry>?[] fronts, long tau)
    {
        var chain = new List<int>();
        int set = _f.Full;
        while (set > 0)
        {
            chain.Add(set);
            var e = fronts[set]![tau];
            set = e.Prev;
            tau = e.PrevTau;
        }
        chain.Reverse();
        return ToStrategy(chain);
    }

    private CanonicalStrategy ToStrategy(List<int> chain)
    {
        var blocks = ImmutableArray.CreateBuilder<ImmutableArray<int>>(chain.Count);
        int prev = 0;
        foreach (var s in chain)
        {
            blocks.Add(_f.Difference(s, prev).Select(i => _f.Dag.NodeOf[i]).ToImmutableArray());
            prev = s;
        }
        return new CanonicalStrategy(blocks.MoveToImmutable());
    }

    private readonly record struct PeakEntry(long M, long Peak, int Prev, int PrevIndex);

    /// <summary>
    /// The least paper-model peak over all chains of the family, found by a min-max DP whose states keep a Pareto
    /// front of (cached memory, peak so far). Transitions that would exceed <paramref name="upperBound"/> are skipped.
    /// </summary>
    public (long Peak, CanonicalStrategy Strategy)? MinimumPeak(long upperBound, CancellationToken ct)
    {
        int n = _f.Count;
        var fronts = new List<PeakEntry>?[n];
        fronts[0] = [new PeakEntry(0, 0, -1, -1)];
        for (int a = 0; a < n; a++)
        {
            var front = fronts[a];
            if (front is null || a == _f.Full) continue;
            if ((a & 255) == 0) ct.ThrowIfCancellationRequested();
            front = fronts[a] = PrunePeaks(front);
            long minM = front.Min(e => e.M);
            long room = upperBound - minM;
            if (room < 0) continue;
            for (int b = a + 1; b < n; b++)
            {
                if (2 * (_f.Mem[b] - _f.Mem[a]) > room) break;
                if (!_f.IsProperSubset(a, b) || !PinsAllow(a, b)) continue;
                long step = StepMemory(a, b);
                if (minM + step > upperBound) continue;
                var (cache, _) = Transition(a, b);
                var target = fronts[b] ??= [];
                for (int i = 0; i < front.Count; i++)
                {
                    var e = front[i];
                    long peak = Math.Max(e.Peak, e.M + step);
                    if (peak > upperBound) continue;
                    target.Add(new PeakEntry(e.M + cache, peak, a, i));
                }
                if (target.Count > 4096) fronts[b] = PrunePeaks(target);
            }
        }
        var last = fronts[_f.Full];
        if (last is null || last.Count == 0) return null;
        int bestIdx = 0;
        for (int i = 1; i < last.Count; i++)
            if (last[i].Peak < last[bestIdx].Peak) bestIdx = i;
        long best = last[bestIdx].Peak;
        var chain = new List<int>();
        int set = _f.Full, idx = bestIdx;
        while (set > 0)
        {
            chain.Add(set);
            var e = fronts[set]![idx];
            set = e.Prev;
            idx = e.PrevIndex;
        }
        chain.Reverse();
        return (best, ToStrategy(chain));
    }

    /// <summary>Keeps entries not dominated in (cached memory, peak); stable so back-pointers stay valid only for kept fronts.</summary>
    private static List<PeakEntry> PrunePeaks(List<PeakEntry> front)
    {
        var sorted = front.OrderBy(e => e.M).ThenBy(e => e.Peak).ThenBy(e => e.Prev).ThenBy(e => e.PrevIndex).ToList();
        var kept = new List<PeakEntry>();
        long bestPeak = long.MaxValue;
        foreach (var e in sorted)
            if (e.Peak < bestPeak) { kept.Add(e); bestPeak = e.Peak; }
        return kept;
    }
}
