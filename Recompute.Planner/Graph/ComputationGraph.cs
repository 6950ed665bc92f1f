using System.Collections.Immutable;
using QuikGraph;

namespace Recompute.Planner.Graph;

/// <summary>
/// A validated, immutable computation graph, frozen to index arrays for the solvers.
/// Node ids are positions in a topological order (inputs before readers). Build one with
/// <see cref="GraphBuilder"/> or load one with <c>GraphLoader</c>.
/// </summary>
public sealed class ComputationGraph
{
    private readonly int[] _succOffsets;
    private readonly int[] _succ;
    private BidirectionalGraph<int, TaggedEdge<int, int>>? _quik;

    internal ComputationGraph(string name, string timeUnit, ImmutableArray<Node> nodes, string? source)
    {
        Name = name;
        TimeUnit = timeUnit;
        Nodes = nodes;
        Source = source;
        // Distinct successors in CSR form (an op that reads a tensor twice is one successor).
        var lists = new List<int>[nodes.Length];
        for (int i = 0; i < nodes.Length; i++) lists[i] = [];
        foreach (var n in nodes)
            foreach (var p in n.Inputs.Distinct())
                lists[p].Add(n.Id);
        _succOffsets = new int[nodes.Length + 1];
        for (int i = 0; i < nodes.Length; i++) _succOffsets[i + 1] = _succOffsets[i] + lists[i].Count;
        _succ = new int[_succOffsets[^1]];
        for (int i = 0; i < nodes.Length; i++) lists[i].CopyTo(_succ, _succOffsets[i]);
        EdgeCount = nodes.Sum(n => n.Inputs.Length);
        _byName = new Dictionary<string, int>(nodes.Length, StringComparer.Ordinal);
        foreach (var n in nodes) _byName[n.Name] = n.Id;
    }

    private readonly Dictionary<string, int> _byName;

    /// <summary>Name of the graph (model name or file name).</summary>
    public string Name { get; }
    /// <summary>Unit of <see cref="Node.Time"/>: "paper" (10 per convolution, 1 otherwise), "flop", "s", or the file's own.</summary>
    public string TimeUnit { get; }
    /// <summary>Nodes in topological order; <c>Nodes[i].Id == i</c>.</summary>
    public ImmutableArray<Node> Nodes { get; }
    /// <summary>
    /// The width its floating-point activations were re-planned at (<c>--dtype</c>: fp32, bf16, fp16; see
    /// <c>Costs.ActivationDTypes</c>), or null when they are as the file has them.
    /// </summary>
    public string? ActivationDType { get; internal set; }

    /// <summary>
    /// The device profile whose seconds the times are (<c>cpu</c>, <c>h100-sxm</c>, a profile file's name), or null when
    /// the times are the file's own, measured ones or the FLOP model's.
    /// </summary>
    public string? Device { get; internal set; }

    /// <summary>How many decomposed LayerNorm and GELU patterns the ONNX import planned as fused ops (0 otherwise).</summary>
    public int FusedPatterns { get; internal set; }

    /// <summary>Path of the file the graph came from, when it came from one.</summary>
    public string? Source { get; }
    /// <summary>Number of operand edges (an op reading a tensor twice counts twice).</summary>
    public int EdgeCount { get; }

    public int Count => Nodes.Length;
    public Node this[int id] => Nodes[id];

    /// <summary>Distinct readers of a tensor, in topological order.</summary>
    public ReadOnlySpan<int> Successors(int id) => _succ.AsSpan(_succOffsets[id], _succOffsets[id + 1] - _succOffsets[id]);

    /// <summary>
    /// Output <paramref name="index"/> of the operation that produced <paramref name="node"/> (one node per output: the
    /// node of the same op reading the same operands with that <see cref="Node.OutputIndex"/>, the nearest one when
    /// several are), or -1 when the graph has no such output.
    /// </summary>
    public int OutputOf(int node, int index)
    {
        var n = Nodes[node];
        if (n.OutputIndex == index) return node;
        if (n.Inputs.Length == 0) return -1;
        int best = -1;
        foreach (int s in Successors(n.Inputs[0]))
        {
            var o = Nodes[s];
            if (o.OutputIndex != index || o.Op != n.Op || o.Kind != n.Kind && !(o.IsPlanned && n.IsPlanned)
                || !o.Inputs.SequenceEqual(n.Inputs)) continue;
            if (best < 0 || Math.Abs(s - node) < Math.Abs(best - node)) best = s;
        }
        return best;
    }

    public bool TryFind(string name, out int id) => _byName.TryGetValue(name, out id);

    public Node Find(string name) => _byName.TryGetValue(name,
        out var id) ? Nodes[id] : throw new KeyNotFoundException($"no tensor named '{name}' in graph '{Name}'");

    /// <summary>True when the graph carries an explicit backward pass (Checkmate training graphs).</summary>
    public bool HasExplicitBackward => Nodes.Any(n => n.IsBackward);

    /// <summary>Sum of bytes of every tensor an operation produces (activations, loss, explicit backward tensors).</summary>
    public long ActivationBytes => Nodes.Where(n => n.IsPlanned).Aggregate(0L, (s, n) => checked(s + n.Bytes));
    public long ParameterBytes => Nodes.Where(n => n.Kind == NodeKind.Parameter).Aggregate(0L, (s, n) => checked(s + n.Bytes));
    public long InputBytes => Nodes.Where(n => n.Kind == NodeKind.Input).Aggregate(0L, (s, n) => checked(s + n.Bytes));
    public long ConstantBytes => Nodes.Where(n => n.Kind == NodeKind.Constant).Aggregate(0L, (s, n) => checked(s + n.Bytes));

    /// <summary>Histogram of operation types over planned tensors, sorted by op name.</summary>
    public ImmutableSortedDictionary<string, int> OpHistogram =>
        Nodes.Where(n => n.IsPlanned).GroupBy(n => n.Op).ToImmutableSortedDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>
    /// Bytes of every tensor an operation produces: planned tensors plus the outputs of constant and shape
    /// operations (not initializers, inputs or parameters). This is the <c>activationBytes</c> of <c>inspect</c>.
    /// </summary>
    public long OperationOutputBytes => Nodes.Where(n => n.Kind is not (NodeKind.Input or NodeKind.Parameter) && n.Op != "Initializer")
        .Aggregate(0L, (s, n) => checked(s + n.Bytes));

    /// <summary>
    /// Histogram of operations by type: every tensor produced by an operation counts once per operation
    /// (a multi-output op counts once), including constant and shape operations; inputs, parameters and
    /// initializers are not operations.
    /// </summary>
    public ImmutableSortedDictionary<string, int> OperationHistogram =>
        Nodes.Where(n => n.Kind is not (NodeKind.Input or NodeKind.Parameter) && n.Op != "Initializer" && n.OutputIndex == 0)
            .GroupBy(n => n.Op).ToImmutableSortedDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    /// <summary>
    /// The graph as a QuikGraph bidirectional graph over node ids; edge tags are operand positions, so
    /// an op that reads a tensor twice has two parallel edges. Built on first use.
    /// </summary>
    public IBidirectionalGraph<int, TaggedEdge<int, int>> AsQuikGraph()
    {
        if (_quik is not null) return _quik;
        var g = new BidirectionalGraph<int, TaggedEdge<int, int>>(allowParallelEdges: true, Count);
        g.AddVertexRange(Enumerable.Range(0, Count));
        foreach (var n in Nodes)
            for (int k = 0; k < n.Inputs.Length; k++)
                g.AddEdge(new TaggedEdge<int, int>(n.Inputs[k], n.Id, k));
        _quik = g;
        return g;
    }
}
