using System.Numerics;

namespace Recompute.Planner.Graph;

/// <summary>
/// The forward graph the canonical solvers plan over: planned, forward tensors only, densely numbered 0..n-1 in
/// topological order, with predecessor and successor lists, sizes and times. Resident tensors (inputs,
/// parameters, constants) are not part of it; explicit backward nodes neither; nor are dead ends, tensors from
/// which no loss can be reached (BatchNormalization's running statistics, Dropout masks nobody reads): they need
/// no gradient and no checkpoint, are freed as soon as they are made, and left in the DAG they would multiply the
/// lower sets (each is a free-floating sink) and force every chain through their ancestor sets.
/// </summary>
internal sealed class ForwardDag
{
    public ForwardDag(ComputationGraph graph)
    {
        Graph = graph;
        var forward = graph.Nodes.Where(n => n.IsPlanned && !n.IsBackward).ToArray();
        var live = new bool[graph.Count];
        bool hasLoss = forward.Any(n => n.Kind == NodeKind.Loss);
        for (int i = forward.Length - 1; i >= 0; i--)
        {
            var n = forward[i];
            if (!hasLoss || n.Kind == NodeKind.Loss || graph.Successors(n.Id).ToArray().Any(s => live[s] && !graph[s].IsBackward)) live[n.Id] = true;
        }
        DeadEnds = forward.Where(n => !live[n.Id]).Select(n => n.Id).ToArray();
        var nodes = forward.Where(n => live[n.Id]).Select(n => n.Id).ToArray();
        NodeOf = nodes;
        Count = nodes.Length;
        IndexOf = Enumerable.Repeat(-1, graph.Count).ToArray();
        for (int i = 0; i < nodes.Length; i++) IndexOf[nodes[i]] = i;
        Bytes = nodes.Select(v => graph[v].Bytes).ToArray();
        Time = nodes.Select(v => graph[v].Time).ToArray();
        Pred = new int[Count][];
        Succ = new int[Count][];
        var succ = new List<int>[Count];
        for (int i = 0; i < Count; i++) succ[i] = [];
        for (int i = 0; i < Count; i++)
        {
            Pred[i] = graph[nodes[i]].Inputs.Select(p => IndexOf[p]).Where(p => p >= 0).Distinct().Order().ToArray();
            foreach (var p in Pred[i]) succ[p].Add(i);
        }
        for (int i = 0; i < Count; i++) Succ[i] = succ[i].ToArray();
        Words = (Count + 63) / 64;
    }

    public ComputationGraph Graph { get; }
    public int Count { get; }
    /// <summary>Planned forward tensors left out of the DAG because no loss depends on them (graph node ids, topological order).</summary>
    public int[] DeadEnds { get; }
    /// <summary>Number of 64-bit words in a node bitset.</summary>
    public int Words { get; }
    /// <summary>Graph node id of each dense index.</summary>
    public int[] NodeOf { get; }
    /// <summary>Dense index of each graph node, or -1.</summary>
    public int[] IndexOf { get; }
    public long[] Bytes { get; }
    public double[] Time { get; }
    public int[][] Pred { get; }
    public int[][] Succ { get; }

    public ulong[] NewSet() => new ulong[Words];

    public static bool Contains(ReadOnlySpan<ulong> set, int i) => (set[i >> 6] & (1UL << (i & 63))) != 0;
    public static void Add(Span<ulong> set, int i) => set[i >> 6] |= 1UL << (i & 63);

    public static int CountOf(ReadOnlySpan<ulong> set)
    {
        int c = 0;
        foreach (var w in set) c += BitOperations.PopCount(w);
        return c;
    }

    /// <summary>Enumerates members of a bitset in increasing order.</summary>
    public static IEnumerable<int> Members(ulong[] set)
    {
        for (int w = 0; w < set.Length; w++)
        {
            ulong bits = set[w];
            while (bits != 0)
            {
                int b = BitOperations.TrailingZeroCount(bits);
                yield return w * 64 + b;
                bits &= bits - 1;
            }
        }
    }

    /// <summary>L^v = {v} ∪ ancestors(v), as a bitset.</summary>
    public ulong[] AncestorClosure(int v)
    {
        var set = NewSet();
        var stack = new Stack<int>();
        stack.Push(v);
        Add(set, v);
        while (stack.Count > 0)
            foreach (var p in Pred[stack.Pop()])
                if (!Contains(set, p)) { Add(set, p); stack.Push(p); }
        return set;
    }
}
