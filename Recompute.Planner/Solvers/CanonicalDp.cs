using System.Collections.Immutable;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>
/// The dynamic programs of Kusumoto et al. (2019) over a family of lower sets: state (L, t) → least cached memory,
/// transitions L ⊊ L' with V' = L' \ L, feasible when m + 2M(V') + M(A') + M(B') ≤ budget; plus a min-max variant
/// that finds the smallest budget any chain of the family fits.
/// </summary>
/// <remarks>
/// The DP "pulls": each set's front is built from all its subsets at once, in a dense scratch array over the
/// discretised time axis. Sets are processed size by size; sets of one size are incomparable, so they are filled in
/// parallel, each from the finished fronts of smaller sets, and the result does not depend on the thread count.
/// </remarks>
internal sealed class CanonicalDp
{
    private readonly LowerSetFamily _f;
    private readonly ulong[] _keep;
    private readonly ulong[] _recompute;
    private readonly bool _pinned;
    private readonly double _unit;
    private readonly int _threads;
    private readonly LivenessBlockCost? _liveness;
    private readonly DpWork? _work;

    /// <summary>Lower bound of a block's memory as a multiple of its bytes: 2 (values and gradients) in the paper model, 1 by replay.</summary>
    private int BlockFactor => _liveness is null ? 2 : 1;

    /// <param name="keep">Dense indices that must be checkpoints (kept) when computed.</param>
    /// <param name="recompute">Dense indices that must not be checkpoints.</param>
    /// <param name="unit">Time quantum: overheads are summed in multiples of it.</param>
    /// <param name="liveness">When given, blocks are sized by replaying the schedule the lowering emits
    /// (<see cref="LivenessBlockCost"/>) instead of the paper's bound.</param>
    /// <param name="work">When given, the DPs count their transitions into it and stop (<see cref="DpWorkLimitException"/>)
    /// at its limit, checked between size classes: the point where they stop does not depend on the machine or the threads.</param>
    public CanonicalDp(LowerSetFamily family, IEnumerable<int> keep, IEnumerable<int> recompute, double unit, int threads = 0,
        LivenessBlockCost? liveness = null, DpWork? work = null)
    {
        _work = work;
        _f = family;
        _liveness = liveness;
        _keep = family.Dag.NewSet();
        _recompute = family.Dag.NewSet();
        // A tensor without readers can never be a checkpoint; a keep pin on it is vacuous.
        foreach (var k in keep) if (family.Dag.Succ[k].Length > 0) { ForwardDag.Add(_keep, k); _pinned = true; }
        foreach (var r in recompute) { ForwardDag.Add(_recompute, r); _pinned = true; }
        _unit = unit;
        if (liveness is not null && family.Count <= ReplayMemoSets)
        {
            _replayMemo = new long[(long)family.Count * family.Count];
            Array.Fill(_replayMemo, -1L);
        }
        _threads = threads <= 0 ? Environment.ProcessorCount : threads;
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
        if (!_pinned) return true;
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

    /// <summary>The paper's block memory: 2·M(V') + M(A') + M(B').</summary>
    private long PaperStep(int a, int b) => 2 * (_f.Mem[b] - _f.Mem[a]) + _f.MemA[b] + _f.MemB[b];

    /// <summary>The block's memory by replay (callers take the smaller of it and the paper's bound).</summary>
    /// <param name="work">Gets the replay's cost (<see cref="ReplayWorkPerNode"/> per node of the block) when it replays.</param>
    private long StepMemory(int a, int b, LivenessBlockCost.Scratch? scratch, ref long work)
    {
        if (_replayMemo is null)
        {
            work += ReplayWorkPerNode * (_f.Size[b] - _f.Size[a]);
            return _liveness!.Peak(a, b, scratch!);
        }
        // Only the thread filling set b writes entries (·, b), and a later run reads them: no race.
        long index = (long)a * _f.Count + b;
        long peak = _replayMemo[index];
        if (peak < 0)
        {
            work += ReplayWorkPerNode * (_f.Size[b] - _f.Size[a]);
            _replayMemo[index] = peak = _liveness!.Peak(a, b, scratch!);
        }
        return peak;
    }

    /// <summary><see cref="DpWork"/> units a replayed block costs per node (a replay walks each node's readers twice).</summary>
    private const long ReplayWorkPerNode = 16;

    /// <summary>Largest family whose replayed block peaks are remembered across the deepening runs (a count² table).</summary>
    private const int ReplayMemoSets = 2048;

    /// <summary>Replayed block peaks by (a, b), −1 when not computed yet; null for large families.</summary>
    private readonly long[]? _replayMemo;

    private (long Cache, long Tau) Transition(int a, int b)
    {
        var (mIn, tIn) = _f.BoundaryWithin(b, a);
        long cache = _f.MemBoundary[b] - mIn;
        double t = (_f.Time[b] - _f.Time[a]) - (_f.TimeBoundary[b] - tIn);
        return (cache, (long)Math.Round(Math.Max(0, t) / _unit));
    }

    /// <summary>Runs <paramref name="fill"/> for every set, size class by size class, in parallel within a class.</summary>
    private void SizeBySize<TScratch>(Func<TScratch> newScratch, Action<int, TScratch> fill, CancellationToken ct)
    {
        int n = _f.Dag.Count;
        var options = new ParallelOptions { MaxDegreeOfParallelism = _threads, CancellationToken = ct };
        // One scratch for every size class filled serially: fill leaves it clean, and a thinned family of a large
        // graph has a class per set, each of which would otherwise allocate a scratch over the whole time axis.
        var serial = new Lazy<TScratch>(newScratch, LazyThreadSafetyMode.None);
        for (int size = 1; size <= n; size++)
        {
            int from = _f.SizeStart[size], to = _f.SizeStart[size + 1];
            if (from == to) continue;
            ct.ThrowIfCancellationRequested();
            _work?.Check();
            if (to - from < 8 || _threads == 1)
            {
                var scratch = serial.Value;
                for (int b = from; b < to; b++) fill(b, scratch);
            }
            else
                Parallel.For(from, to, options, newScratch, (b, _, scratch) => { fill(b, scratch); return scratch; }, _ => { });
        }
    }

    /// <summary>Front of one set: entries sorted by time, with back-pointers (previous set, its time).</summary>
    private sealed record Front(long[] Tau, long[] M, int[] Prev, long[] PrevTau)
    {
        public static readonly Front Empty = new([], [], [], []);
        public int Count => Tau.Length;
        public long MinM => M.Length == 0 ? long.MaxValue : M.Min();

        /// <summary>
        /// Time-centric fronts hold memory strictly decreasing with time (except V's, which keeps every entry, but
        /// nothing reads from V): the entries within <paramref name="limit"/> are a suffix, found by bisection.
        /// Memory-centric fronts are scanned from the start.
        /// </summary>
        public int FirstWithin(long limit, Objective objective)
        {
            if (objective != Objective.Time) return 0;
            int lo = 0, hi = M.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (M[mid] > limit) lo = mid + 1; else hi = mid;
            }
            return lo;
        }
    }

    private sealed class TimeScratch(int size, LivenessBlockCost.Scratch? block)
    {
        public readonly LivenessBlockCost.Scratch? Block = block;
        public readonly long[] BestM = Enumerable.Repeat(long.MaxValue, size).ToArray();
        public readonly int[] Prev = new int[size];
        public readonly long[] PrevTau = new long[size];
        public readonly List<long> Touched = [];
    }

    /// <summary>Time-centric (least overhead) or memory-centric (most overhead) chain under the budget, or null.</summary>
    /// <param name="overheadUpperBound">For the time-centric objective: the overhead of a chain known to fit (e.g. the
    /// approximate DP's); states whose overhead already exceeds it cannot lead to a better chain and are dropped.</param>
    /// <remarks>
    /// The time-centric DP deepens its time cap: it first keeps only states whose overhead is at most a small cap,
    /// doubling the cap until a chain reaches V (or the cap reaches the upper bound). A state's overhead never
    /// decreases along a chain, so the states under a cap, their fronts and back-pointers are exactly those of the
    /// uncapped DP restricted to that cap: the first capped run that reaches V returns the same chain as the full
    /// DP. Runs under small caps are cheap (few states survive), so this costs at most about twice the run at the
    /// optimum's cap, instead of a run whose fronts span the whole upper bound, which can be far above the optimum.
    /// </remarks>
    public CanonicalStrategy? Solve(long budget, Objective objective, CancellationToken ct, double? overheadUpperBound = null)
    {
        if (objective != Objective.Time) return SolveUncapped(budget, objective, ct);
        // Rounding each block to the quantum can move a chain's total by half a quantum per block.
        long tauCap = overheadUpperBound is { } ub
            ? Math.Min(MaxTau, (long)Math.Ceiling(ub / _unit) + (_unit == 1 ? 0 : _f.Dag.Count))
            : MaxTau;
        for (long cap = Math.Min(FirstCap, tauCap); ; cap = Math.Min(tauCap, 2 * cap))
        {
            var strategy = SolveCapped(budget, objective, cap, ct);
            if (strategy is not null || cap >= tauCap) return strategy;
        }
    }

    /// <summary>The DP with no time cap (the memory-centric DP, and what <see cref="Solve"/> must agree with).</summary>
    internal CanonicalStrategy? SolveUncapped(long budget, Objective objective, CancellationToken ct) =>
        SolveCapped(budget, objective, MaxTau, ct);

    /// <summary>Largest overhead, in quanta, a chain can reach (every tensor recomputed, plus rounding).</summary>
    private int MaxTau => (int)Math.Min(int.MaxValue - 1, Math.Ceiling(_f.Time[_f.Full] / _unit) + _f.Dag.Count + 2);

    /// <summary>The time-centric DP's first cap, in quanta.</summary>
    private const long FirstCap = 8;

    private CanonicalStrategy? SolveCapped(long budget, Objective objective, long tauCap, CancellationToken ct)
    {
        int count = _f.Count;
        var fronts = new Front[count];
        Array.Fill(fronts, Front.Empty);
        fronts[0] = new Front([0], [0], [-1], [-1]);
        var minM = new long[count];
        Array.Fill(minM, long.MaxValue);
        minM[0] = 0;
        var maxM = new long[count];
        Array.Fill(maxM, long.MinValue);
        maxM[0] = 0;

        SizeBySize(() => new TimeScratch((int)tauCap + 1, _liveness?.NewScratch()), (b, s) =>
        {
            long work = 0;
            for (int size = 0; size < _f.Size[b]; size++)
            {
                int from = _f.SizeStart[size], to = _f.SizeStart[size + 1];
                // factor·(M(L') − M(L)) ≤ budget − m with m ≥ 0 bounds M(L) from below.
                long floor = _f.Mem[b] - budget / BlockFactor;
                int first = floor <= 0 ? from : _f.LowerBoundByMem(from, to, floor);
                work += to - first;
                for (int a = first; a < to; a++)
                {
                    if (minM[a] == long.MaxValue) continue;
                    if (minM[a] > budget - BlockFactor * (_f.Mem[b] - _f.Mem[a]) || !_f.IsProperSubset(a, b) || !PinsAllow(a, b)) continue;
                    if (_liveness is not null && minM[a] > budget - _liveness.InitialBytes(b)) continue;
                    // Replaying a block costs O(|V'|); the paper's O(1) bound is an upper estimate of it, so when every
                    // state of L fits under that bound the replay cannot change which states pass.
                    long paper = PaperStep(a, b);
                    long step = _liveness is null || maxM[a] <= budget - paper ? paper : Math.Min(paper, StepMemory(a, b, s.Block, ref work));
                    if (minM[a] > budget - step) continue;
                    var (cache, tau) = Transition(a, b);
                    var fa = fronts[a];
                    int within = fa.FirstWithin(budget - step, objective);
                    work += fa.Count - within;
                    for (int i = within; i < fa.Count; i++)
                    {
                        long m = fa.M[i];
                        if (m > budget - step) continue;
                        long nt = fa.Tau[i] + tau, nm = m + cache;
                        if (nt > tauCap) break;
                        long cur = s.BestM[nt];
                        if (nm < cur || (nm == cur && a < s.Prev[nt]))
                        {
                            if (cur == long.MaxValue) s.Touched.Add(nt);
                            s.BestM[nt] = nm;
                            s.Prev[nt] = a;
                            s.PrevTau[nt] = fa.Tau[i];
                        }
                    }
                }
            }
            _work?.Add(work);
            fronts[b] = Harvest(s, objective, keepAll: b == _f.Full);
            minM[b] = fronts[b].Count == 0 ? long.MaxValue : fronts[b].MinM;
            maxM[b] = fronts[b].Count == 0 ? long.MinValue : fronts[b].M.Max();
        }, ct);

        var last = fronts[_f.Full];
        if (last.Count == 0) return null;
        int best = objective == Objective.Time ? 0 : last.Count - 1;
        var chain = new List<int>();
        int set = _f.Full;
        long t = last.Tau[best];
        while (set > 0)
        {
            chain.Add(set);
            var f = fronts[set];
            int i = Array.BinarySearch(f.Tau, t);
            set = f.Prev[i];
            t = f.PrevTau[i];
        }
        chain.Reverse();
        return ToStrategy(chain);
    }

    /// <summary>
    /// Turns the scratch into a pruned front and resets it. Time-centric: keep entries whose memory is below every
    /// entry of smaller time; memory-centric: below every entry of larger time.
    /// </summary>
    private static Front Harvest(TimeScratch s, Objective objective, bool keepAll)
    {
        s.Touched.Sort();
        var keep = new List<long>(s.Touched.Count);
        if (keepAll) keep.AddRange(s.Touched);
        else if (objective == Objective.Time)
        {
            long best = long.MaxValue;
            foreach (var t in s.Touched) if (s.BestM[t] < best) { keep.Add(t); best = s.BestM[t]; }
        }
        else
        {
            long best = long.MaxValue;
            for (int i = s.Touched.Count - 1; i >= 0; i--)
            {
                long t = s.Touched[i];
                if (s.BestM[t] < best) { keep.Add(t); best = s.BestM[t]; }
            }
            keep.Reverse();
        }
        var front = new Front(keep.ToArray(), keep.Select(t => s.BestM[t]).ToArray(), keep.Select(t => s.Prev[t]).ToArray(),
            keep.Select(t => s.PrevTau[t]).ToArray());
        foreach (var t in s.Touched) s.BestM[t] = long.MaxValue;
        s.Touched.Clear();
        return front;
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
    /// <remarks>
    /// Like the time-centric DP, it deepens a cap: a run that drops every state whose peak passes the cap finds the
    /// least peak whenever that peak is at most the cap, so caps grow by half from an eighth of M(V) until a run finds
    /// a chain. Low caps prune most states, so a few small runs cost less than one run under
    /// <paramref name="upperBound"/> over fronts of every (memory, peak) trade-off.
    /// </remarks>
    public (long Peak, CanonicalStrategy Strategy)? MinimumPeak(long upperBound, CancellationToken ct)
    {
        long cap = Math.Max(1, _f.Mem[_f.Full] / 8);
        while (true)
        {
            cap = Math.Min(cap, upperBound);
            var found = MinimumPeakCapped(cap, ct);
            if (found is not null || cap >= upperBound) return found;
            cap += cap / 2 + 1;
        }
    }

    private (long Peak, CanonicalStrategy Strategy)? MinimumPeakCapped(long upperBound, CancellationToken ct)
    {
        int count = _f.Count;
        var fronts = new PeakEntry[count][];
        Array.Fill(fronts, []);
        fronts[0] = [new PeakEntry(0, 0, -1, -1)];
        var minM = new long[count];
        Array.Fill(minM, long.MaxValue);
        minM[0] = 0;

        SizeBySize(() => (Candidates: new List<PeakEntry>(), Block: _liveness?.NewScratch()), (b, scratch) =>
        {
            var candidates = scratch.Candidates;
            long work = 0;
            for (int size = 0; size < _f.Size[b]; size++)
            {
                int from = _f.SizeStart[size], to = _f.SizeStart[size + 1];
                long floor = _f.Mem[b] - upperBound / BlockFactor;
                int first = floor <= 0 ? from : _f.LowerBoundByMem(from, to, floor);
                work += to - first;
                for (int a = first; a < to; a++)
                {
                    if (minM[a] == long.MaxValue) continue;
                    if (minM[a] > upperBound - BlockFactor * (_f.Mem[b] - _f.Mem[a]) || !_f.IsProperSubset(a, b) || !PinsAllow(a, b)) continue;
                    long paper = PaperStep(a, b);
                    long step = _liveness is null ? paper : Math.Min(paper, StepMemory(a, b, scratch.Block, ref work));
                    if (minM[a] > upperBound - step) continue;
                    var (cache, _) = Transition(a, b);
                    var fa = fronts[a];
                    work += fa.Length;
                    for (int i = 0; i < fa.Length; i++)
                    {
                        var e = fa[i];
                        long peak = Math.Max(e.Peak, e.M + step);
                        if (peak > upperBound) continue;
                        candidates.Add(new PeakEntry(e.M + cache, peak, a, i));
                    }
                }
            }
            _work?.Add(work);
            fronts[b] = PrunePeaks(candidates);
            minM[b] = fronts[b].Length == 0 ? long.MaxValue : fronts[b].Min(e => e.M);
            candidates.Clear();
        }, ct);

        var last = fronts[_f.Full];
        if (last.Length == 0) return null;
        int bestIdx = 0;
        for (int i = 1; i < last.Length; i++)
            if (last[i].Peak < last[bestIdx].Peak) bestIdx = i;
        long best = last[bestIdx].Peak;
        var chain = new List<int>();
        int set = _f.Full, idx = bestIdx;
        while (set > 0)
        {
            chain.Add(set);
            var e = fronts[set][idx];
            set = e.Prev;
            idx = e.PrevIndex;
        }
        chain.Reverse();
        return (best, ToStrategy(chain));
    }

    /// <summary>Keeps entries not dominated in (cached memory, peak), ties broken deterministically.</summary>
    private static PeakEntry[] PrunePeaks(List<PeakEntry> candidates)
    {
        candidates.Sort((x, y) =>
        {
            int c = x.M.CompareTo(y.M);
            if (c == 0) c = x.Peak.CompareTo(y.Peak);
            if (c == 0) c = x.Prev.CompareTo(y.Prev);
            if (c == 0) c = x.PrevIndex.CompareTo(y.PrevIndex);
            return c;
        });
        var kept = new List<PeakEntry>();
        long bestPeak = long.MaxValue;
        foreach (var e in candidates)
            if (e.Peak < bestPeak) { kept.Add(e); bestPeak = e.Peak; }
        return kept.ToArray();
    }
}

/// <summary>
/// A work limit shared by the canonical DP runs of one planning call: transitions and front entries scanned,
/// counted per set and checked between size classes (so the runs stop at the same point on any machine and with
/// any thread count). <see cref="Planning.AutoPortfolio"/> gives the exact DP its share of the time limit this way.
/// </summary>
internal sealed class DpWork(long limit)
{
    private long _done;

    /// <summary>Work units a second on this project's reference machine (2 cores): the exact DP on PSPNet's 12,533
    /// lower sets (the <c>dp-work</c> benchmark table).</summary>
    public const double UnitsPerSecond = 2e8;

    /// <summary>A work-limited DP run is stopped by the wall clock only at this many times its share of the time
    /// limit (a machine that busy gives a plan that may differ between runs, and the caller says so).</summary>
    public const double WallClockSafety = 3;

    /// <summary>The work of about <paramref name="time"/> on the reference machine.</summary>
    public static DpWork For(TimeSpan time) => new((long)Math.Min(long.MaxValue / 2, Math.Max(0, time.TotalSeconds) * UnitsPerSecond));

    public long Done => Interlocked.Read(ref _done);
    public void Add(long work) => Interlocked.Add(ref _done, work);

    /// <summary>Throws <see cref="DpWorkLimitException"/> once the work done passes the limit.</summary>
    public void Check()
    {
        if (Done > limit) throw new DpWorkLimitException(limit);
    }
}

/// <summary>A canonical DP stopped at its <see cref="DpWork"/> limit.</summary>
internal sealed class DpWorkLimitException(long limit) : OperationCanceledException($"the DP stopped at its work limit of {limit} units");
