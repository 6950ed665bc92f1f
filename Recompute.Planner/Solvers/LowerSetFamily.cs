using System.Numerics;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>
/// The number of lower sets passed the limit the user set (<c>--max-lower-sets</c>), or listing them would take more
/// memory than <see cref="LowerSetFamily.MaxListingBytes"/>.
/// </summary>
internal sealed class LowerSetLimitException : Exception
{
    public LowerSetLimitException(long limit, int nodes)
        : base($"the graph has more than {limit} lower sets ({nodes} forward tensors): the exact DP would not finish; " +
               $"use --solver {SolverName.DpApprox}, or raise --max-lower-sets")
    {
        Limit = limit;
    }

    public LowerSetLimitException(long limit, int nodes, long bytes)
        : base($"the graph has more than {limit} lower sets ({nodes} forward tensors), and listing more would take over " +
               $"{bytes / (1 << 20)} MiB: the exact DP would not finish; use --solver dp-approx")
    {
        Limit = limit;
    }

    /// <summary>The number of lower sets the graph is known to have more than.</summary>
    public long Limit { get; }
}

/// <summary>
/// A family of lower sets of a <see cref="ForwardDag"/> with what the paper's cost model needs of each, sorted by
/// (size, bytes): since L ⊊ L' implies |L| &lt; |L'|, that order is a linear extension of inclusion, so a DP may
/// process sets in it (the official code's DFS-id order is not, and misses transitions). Sets of one size are
/// incomparable, so a DP may process them in parallel; within a size, sorting by bytes makes the subsets a set can
/// be reached from under a budget a contiguous range.
/// </summary>
internal sealed class LowerSetFamily
{
    private LowerSetFamily(ForwardDag dag, List<ulong[]> sets)
    {
        Dag = dag;
        int w = dag.Words;
        var stats = sets.Select(s => (Set: s, Mem: MemOf(dag, s), Size: ForwardDag.CountOf(s))).ToList();
        // Ties broken by the bit pattern so that the order, and every plan, is deterministic.
        stats.Sort((a, b) =>
        {
            int c = a.Size.CompareTo(b.Size);
            if (c != 0) return c;
            c = a.Mem.CompareTo(b.Mem);
            if (c != 0) return c;
            for (int i = w - 1; i >= 0; i--) { c = a.Set[i].CompareTo(b.Set[i]); if (c != 0) return c; }
            return 0;
        });
        Count = stats.Count;
        Sets = new ulong[Count * w];
        Boundary = new ulong[Count * w];
        Mem = new long[Count];
        Size = new int[Count];
        Time = new double[Count];
        MemBoundary = new long[Count];
        TimeBoundary = new double[Count];
        MemA = new long[Count];
        MemB = new long[Count];
        _boundaryStart = new int[Count + 1];
        _maximalStart = new int[Count + 1];
        var boundaryMembers = new List<int>();
        var maximalMembers = new List<int>();
        // Marks stamped with the set's index + 1: no clearing of n-sized arrays per set.
        var inA = new int[dag.Count];
        var inB = new int[dag.Count];
        var outside = new List<int>();
        for (int k = 0; k < Count; k++)
        {
            int stamp = k + 1;
            var s = stats[k].Set;
            s.CopyTo(Sets, k * w);
            Mem[k] = stats[k].Mem;
            Size[k] = stats[k].Size;
            outside.Clear();
            long ma = 0, mb = 0, mbd = 0;
            double t = 0, tbd = 0;
            // Members in increasing order, so that the time sums are added in the same order as ever.
            for (int word = 0; word < w; word++)
            {
                ulong bits = s[word];
                while (bits != 0)
                {
                    int v = word * 64 + BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    t += dag.Time[v];
                    bool boundary = false, maximal = true;
                    foreach (int u in dag.Succ[v])
                        if (!ForwardDag.Contains(s, u))
                        {
                            boundary = true;
                            if (inA[u] != stamp) { inA[u] = stamp; ma += dag.Bytes[u]; outside.Add(u); }
                        }
                        else maximal = false;
                    if (boundary)
                    {
                        ForwardDag.Add(Boundary.AsSpan(k * w, w), v);
                        boundaryMembers.Add(v);
                        mbd += dag.Bytes[v];
                        tbd += dag.Time[v];
                    }
                    if (maximal) maximalMembers.Add(v);
                }
            }
            foreach (int u in outside)
                foreach (int p in dag.Pred[u])
                    if (!ForwardDag.Contains(s, p) && inB[p] != stamp) { inB[p] = stamp; mb += dag.Bytes[p]; }
            Time[k] = t;
            MemA[k] = ma;
            MemB[k] = mb;
            MemBoundary[k] = mbd;
            TimeBoundary[k] = tbd;
            _boundaryStart[k + 1] = boundaryMembers.Count;
            _maximalStart[k + 1] = maximalMembers.Count;
        }
        _boundaryMembers = boundaryMembers.ToArray();
        _maximalMembers = maximalMembers.ToArray();
        var starts = new int[dag.Count + 2];
        int idx = 0;
        for (int size = 0; size <= dag.Count + 1; size++)
        {
            while (idx < Count && Size[idx] < size) idx++;
            starts[size] = idx;
        }
        SizeStart = starts;
    }

    /// <summary>∂(L) of each set as a sorted list of members (CSR): a transition reads it in O(|∂(L)|) instead of O(n/64).</summary>
    private readonly int[] _boundaryStart;
    private readonly int[] _boundaryMembers;
    /// <summary>Maximal members of each set (no successor inside it), CSR: L ⊆ L' exactly when they all lie in L'.</summary>
    private readonly int[] _maximalStart;
    private readonly int[] _maximalMembers;

    public ForwardDag Dag { get; }
    public int Count { get; }

    /// <summary>Index of the first set of each size; <c>SizeStart[s + 1]</c> ends it (length n + 2).</summary>
    public int[] SizeStart { get; private set; } = [];

    /// <summary>First index in [from, to) whose bytes are at least <paramref name="mem"/> (sets of one size are sorted by bytes).</summary>
    public int LowerBoundByMem(int from, int to, long mem)
    {
        int lo = from, hi = to;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Mem[mid] < mem) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
    /// <summary>Bitsets of the sets, <see cref="ForwardDag.Words"/> words each, in family order (index 0 is ∅).</summary>
    public ulong[] Sets { get; }
    /// <summary>∂(L): members with a successor outside L.</summary>
    public ulong[] Boundary { get; }
    public long[] Mem { get; }
    public int[] Size { get; }
    public double[] Time { get; }
    public long[] MemBoundary { get; }
    public double[] TimeBoundary { get; }
    /// <summary>M(A) with A = δ+(L) \ L: the successors whose gradients must be alive.</summary>
    public long[] MemA { get; }
    /// <summary>M(B) with B = δ−(A) \ L: the other forward inputs of those successors.</summary>
    public long[] MemB { get; }

    public ReadOnlySpan<ulong> Set(int k) => Sets.AsSpan(k * Dag.Words, Dag.Words);
    public ReadOnlySpan<ulong> BoundaryOf(int k) => Boundary.AsSpan(k * Dag.Words, Dag.Words);

    /// <summary>Index of the full set V (always the last set: it has the most bytes and members).</summary>
    public int Full => Count - 1;

    /// <summary>True when set a is a proper subset of set b.</summary>
    /// <remarks>
    /// Both are lower sets, so a ⊆ b exactly when b holds every maximal member of a: O(|max(a)|) instead of a
    /// word-by-word comparison (one member for an ancestral set L^v, against n/64 words on a 100,000-node graph).
    /// </remarks>
    public bool IsProperSubset(int a, int b)
    {
        if (Size[a] >= Size[b]) return false;
        int from = _maximalStart[a], to = _maximalStart[a + 1];
        var sb = Set(b);
        if (to - from <= sb.Length)
        {
            for (int i = from; i < to; i++) if (!ForwardDag.Contains(sb, _maximalMembers[i])) return false;
            return true;
        }
        var sa = Set(a);
        for (int i = 0; i < sa.Length; i++) if ((sa[i] & ~sb[i]) != 0) return false;
        return true;
    }

    /// <summary>Bytes and time of ∂(L_b) ∩ L_a (checkpoints of L_b that were already computed in L_a).</summary>
    public (long Mem, double Time) BoundaryWithin(int b, int a)
    {
        var sa = Set(a);
        long m = 0;
        double t = 0;
        int from = _boundaryStart[b], to = _boundaryStart[b + 1];
        if (to - from <= sa.Length)
        {
            // The members in increasing order, as the word-by-word walk below adds them.
            for (int i = from; i < to; i++)
            {
                int v = _boundaryMembers[i];
                if (!ForwardDag.Contains(sa, v)) continue;
                m += Dag.Bytes[v];
                t += Dag.Time[v];
            }
            return (m, t);
        }
        var bd = BoundaryOf(b);
        for (int w = 0; w < bd.Length; w++)
        {
            ulong bits = bd[w] & sa[w];
            while (bits != 0)
            {
                int v = w * 64 + BitOperations.TrailingZeroCount(bits);
                m += Dag.Bytes[v];
                t += Dag.Time[v];
                bits &= bits - 1;
            }
        }
        return (m, t);
    }

    /// <summary>Members of set b that are not in set a, in topological order.</summary>
    public int[] Difference(int b, int a)
    {
        var list = new List<int>();
        Difference(b, a, list);
        return list.ToArray();
    }

    /// <summary>Members of set b that are not in set a, in topological order, appended to <paramref name="list"/>.</summary>
    public void Difference(int b, int a, List<int> list)
    {
        var sb = Set(b);
        var sa = Set(a);
        for (int w = 0; w < sb.Length; w++)
        {
            ulong bits = sb[w] & ~sa[w];
            while (bits != 0)
            {
                list.Add(w * 64 + BitOperations.TrailingZeroCount(bits));
                bits &= bits - 1;
            }
        }
    }

    private static long MemOf(ForwardDag dag, ulong[] s)
    {
        long m = 0;
        foreach (int v in ForwardDag.Members(s)) m += dag.Bytes[v];
        return m;
    }

    /// <summary>The approximate family {∅} ∪ {L^v : v ∈ V} ∪ {V} (|V|+1 sets, plus V when the graph has several sinks).</summary>
    /// <param name="maxSets">Past this many, only the ancestral sets of every k-th tensor in topological order.</param>
    /// <remarks>Built once per forward graph and size limit: the planner's budget search runs the DP over it many times.</remarks>
    public static LowerSetFamily Ancestral(ForwardDag dag, int maxSets = int.MaxValue)
    {
        var cache = AncestralCache.GetValue(dag, _ => new Dictionary<int, LowerSetFamily>());
        lock (cache)
        {
            if (cache.TryGetValue(maxSets, out var family)) return family;
            family = BuildAncestral(dag, maxSets);
            cache[maxSets] = family;
            return family;
        }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ForwardDag, Dictionary<int, LowerSetFamily>> AncestralCache = new();

    private static LowerSetFamily BuildAncestral(ForwardDag dag, int maxSets)
    {
        var sets = new List<ulong[]> { dag.NewSet() };
        var seen = new HashSet<ulong[]>(BitsetComparer.Instance) { sets[0] };
        int stride = dag.Count + 2 <= maxSets ? 1 : (dag.Count + maxSets - 3) / Math.Max(1, maxSets - 2);
        var stack = new int[Math.Max(1, dag.Count)];
        for (int v = stride - 1; v < dag.Count; v += stride)
        {
            // L^v by a depth-first walk over predecessors with an explicit stack (no recursion on deep graphs).
            var s = dag.NewSet();
            ForwardDag.Add(s, v);
            int top = 0;
            stack[top++] = v;
            while (top > 0)
                foreach (int p in dag.Pred[stack[--top]])
                    if (!ForwardDag.Contains(s, p)) { ForwardDag.Add(s, p); stack[top++] = p; }
            if (seen.Add(s)) sets.Add(s);
        }
        var full = dag.NewSet();
        for (int v = 0; v < dag.Count; v++) ForwardDag.Add(full, v);
        if (seen.Add(full)) sets.Add(full);
        return new LowerSetFamily(dag, sets);
    }

    /// <summary>Most bytes the exact family's bitsets may take (the sets, their boundaries and the hash set that finds them).</summary>
    public const long MaxListingBytes = 1L << 30;

    /// <summary>Every lower set, found breadth-first from ∅ by adding one ready node at a time.</summary>
    /// <exception cref="LowerSetLimitException">More than <paramref name="limit"/> sets, or more than fit in
    /// <see cref="MaxListingBytes"/>. A graph with a level of w tensors has at least 2^w lower sets (each subset of
    /// the level, an antichain, spans its own), so a wide graph stops before listing any.</exception>
    public static LowerSetFamily All(ForwardDag dag, long limit, CancellationToken cancellation = default)
    {
        int width = WidestLevel(dag);
        if (width >= 62 || (1L << width) > limit) throw new LowerSetLimitException(limit, dag.Count);
        long perSet = 3L * dag.Words * sizeof(ulong) + 96;
        long fit = MaxListingBytes / perSet;
        var sets = new List<ulong[]> { dag.NewSet() };
        // The ready tensors of each listed set (outside it, every input inside), ascending; a set's children are it
        // plus one of them, and their ready tensors follow from its own: O(|ready| + degree) per child, not O(n).
        var ready = new List<int[]?> { Enumerable.Range(0, dag.Count).Where(v => dag.Pred[v].Length == 0).ToArray() };
        var seen = new HashSet<ulong[]>(BitsetComparer.Instance) { sets[0] };
        var next = new List<int>();
        for (int head = 0; head < sets.Count; head++)
        {
            if ((head & 1023) == 0) cancellation.ThrowIfCancellationRequested();
            var s = sets[head];
            var r = ready[head]!;
            ready[head] = null;
            foreach (int v in r)
            {
                var t = (ulong[])s.Clone();
                ForwardDag.Add(t, v);
                if (!seen.Add(t)) continue;
                sets.Add(t);
                if (sets.Count > limit) throw new LowerSetLimitException(limit, dag.Count);
                if (sets.Count > fit) throw new LowerSetLimitException(fit, dag.Count, MaxListingBytes);
                next.Clear();
                foreach (int u in r) if (u != v) next.Add(u);
                foreach (int w in dag.Succ[v])
                {
                    bool inputsIn = true;
                    foreach (int p in dag.Pred[w]) if (!ForwardDag.Contains(t, p)) { inputsIn = false; break; }
                    if (inputsIn) next.Add(w);
                }
                next.Sort();
                ready.Add(next.ToArray());
            }
        }
        return new LowerSetFamily(dag, sets);
    }

    /// <summary>The most tensors of one depth (longest path from a source): tensors of one depth are pairwise incomparable.</summary>
    private static int WidestLevel(ForwardDag dag)
    {
        var depth = new int[dag.Count];
        var width = new Dictionary<int, int>();
        int widest = 0;
        for (int v = 0; v < dag.Count; v++)
        {
            foreach (int p in dag.Pred[v]) depth[v] = Math.Max(depth[v], depth[p] + 1);
            width[depth[v]] = width.GetValueOrDefault(depth[v]) + 1;
            widest = Math.Max(widest, width[depth[v]]);
        }
        return widest;
    }

    /// <summary>Counts lower sets up to a limit (for <c>inspect</c>); returns null past the limit.</summary>
    public static long? CountAll(ForwardDag dag, long limit)
    {
        try { return All(dag, limit).Count; }
        catch (LowerSetLimitException) { return null; }
    }

    private sealed class BitsetComparer : IEqualityComparer<ulong[]>
    {
        public static readonly BitsetComparer Instance = new();
        public bool Equals(ulong[]? x, ulong[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(ulong[] obj)
        {
            var h = new HashCode();
            foreach (var w in obj) h.Add(w);
            return h.ToHashCode();
        }
    }
}
