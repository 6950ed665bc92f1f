using System.Collections.Immutable;
using QuikGraph;

namespace Recompute.Planner.Graph;

/// <summary>Everything that describes one tensor before the graph is frozen. Inputs are builder ids.</summary>
public sealed record NodeSpec(string Name, string Op, NodeKind Kind)
{
    public IReadOnlyList<int> Inputs { get; init; } = [];
    public long Bytes { get; init; }
    public double Time { get; init; }
    /// <summary>Backward time; when null, <see cref="Node.DefaultBackwardTime"/> of <see cref="Time"/>.</summary>
    public double? BackwardTime { get; init; }
    public IReadOnlyList<long> Shape { get; init; } = [];
    public string DType { get; init; } = "float32";
    public IReadOnlyDictionary<string, object>? Attributes { get; init; }
    public int OutputIndex { get; init; }
    public bool IsBackward { get; init; }
    /// <summary>Builder id of the forward node whose gradient this backward node computes, or -1.</summary>
    public int ForwardOf { get; init; } = -1;
    /// <summary>Operand positions whose values the backward reads; null means every operand.</summary>
    public IReadOnlyList<int>? BackwardNeeds { get; init; }
    /// <summary>The backward reads the op's own output (ReLU).</summary>
    public bool BackwardNeedsOutput { get; init; }
    /// <summary>What the backward reads follows <see cref="SavedTensors"/> per operand (see <see cref="Node.SavedByRule"/>).</summary>
    public bool SavedByRule { get; init; }
}

/// <summary>
/// Builds a <see cref="ComputationGraph"/> in code or from an importer. The builder keeps the graph in a
/// QuikGraph <see cref="BidirectionalGraph{TVertex,TEdge}"/>; <see cref="Build"/> validates it (cycles,
/// dangling inputs, duplicate names, negative sizes, byte totals that overflow 64 bits) and freezes it with ids
/// renumbered into a topological order that keeps the insertion order wherever the edges allow.
/// </summary>
/// <example>
/// <code>
/// var b = new GraphBuilder("mlp");
/// int x = b.Input("x", 4096);
/// int w = b.Parameter("w", 65536);
/// int h = b.Activation("h", "MatMul", [x, w], bytes: 4096, time: 1);
/// b.Loss("loss", "ReduceMean", [h], bytes: 4, time: 1);
/// ComputationGraph g = b.Build();
/// </code>
/// </example>
public sealed class GraphBuilder
{
    private readonly List<NodeSpec> _specs = [];
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);
    private readonly BidirectionalGraph<int, TaggedEdge<int, int>> _graph = new(allowParallelEdges: true);
    private readonly List<string> _duplicates = [];

    public GraphBuilder(string name, string timeUnit = "unit", string? source = null)
    {
        Name = name; TimeUnit = timeUnit; Source = source;
    }

    public string Name { get; }
    public string TimeUnit { get; set; }
    /// <summary>File the graph is read from; named in every validation error.</summary>
    public string? Source { get; }
    public int Count => _specs.Count;

    public NodeSpec this[int id] => _specs[id];

    public bool TryGetId(string name, out int id) => _byName.TryGetValue(name, out id);

    /// <summary>Adds a tensor; inputs may refer to ids added later (importers of unordered files).</summary>
    public int Add(NodeSpec spec)
    {
        int id = _specs.Count;
        _specs.Add(spec);
        _graph.AddVertex(id);
        if (!_byName.TryAdd(spec.Name, id)) _duplicates.Add(spec.Name);
        return id;
    }

    /// <summary>Replaces the spec of a node already added (inputs are re-read at <see cref="Build"/>).</summary>
    public void Replace(int id, NodeSpec spec)
    {
        if (spec.Name != _specs[id].Name) throw new ArgumentException("a replaced node keeps its name", nameof(spec));
        _specs[id] = spec;
    }

    public int Input(string name, long bytes, IReadOnlyList<long>? shape = null, string dtype = "float32") =>
        Add(new NodeSpec(name, "Input", NodeKind.Input) { Bytes = bytes, Shape = shape ?? [], DType = dtype });

    public int Parameter(string name, long bytes, IReadOnlyList<long>? shape = null) =>
        Add(new NodeSpec(name, "Parameter", NodeKind.Parameter) { Bytes = bytes, Shape = shape ?? [] });

    /// <summary>Adds an operation's output.</summary>
    /// <param name="backwardNeeds">Operand positions whose values the op's backward reads; null means every operand.</param>
    /// <param name="backwardNeedsOutput">The backward reads the op's own output (ReLU, Sigmoid, Tanh, Softmax, ...), so
    /// the planner keeps or recomputes that output for it.</param>
    public int Activation(string name, string op, IReadOnlyList<int> inputs, long bytes, double time,
        IReadOnlyList<long>? shape = null, IReadOnlyDictionary<string, object>? attributes = null, IReadOnlyList<int>? backwardNeeds = null,
        bool backwardNeedsOutput = false) =>
        Add(new NodeSpec(name, op, NodeKind.Activation)
        {
            Inputs = inputs, Bytes = bytes, Time = time, Shape = shape ?? [], Attributes = attributes, BackwardNeeds = backwardNeeds,
            BackwardNeedsOutput = backwardNeedsOutput,
        });

    public int Loss(string name, string op, IReadOnlyList<int> inputs, long bytes, double time,
        IReadOnlyList<long>? shape = null, IReadOnlyDictionary<string, object>? attributes = null, IReadOnlyList<int>? backwardNeeds = null) =>
        Add(new NodeSpec(name, op, NodeKind.Loss) { Inputs = inputs, Bytes = bytes, Time = time, Shape = shape ?? [],
            Attributes = attributes, BackwardNeeds = backwardNeeds });

    /// <summary>Validates and freezes the graph. Throws <see cref="GraphFormatException"/> naming the node at fault.</summary>
    public ComputationGraph Build()
    {
        if (_duplicates.Count > 0) Fail($"tensor '{_duplicates[0]}'", "duplicate name");
        if (_specs.Count == 0) Fail(null, "the graph has no nodes");
        int n = _specs.Count;
        for (int id = 0; id < n; id++)
        {
            var s = _specs[id];
            string where = $"tensor '{Shorten(s.Name)}'";
            if (string.IsNullOrEmpty(s.Name)) Fail($"node #{id}", "empty name");
            if (s.Bytes < 0) Fail(where, $"negative size {s.Bytes} bytes");
            if (double.IsNaN(s.Time) || double.IsInfinity(s.Time) || s.Time < 0) Fail(where, $"invalid time {s.Time}");
            if (s.BackwardTime is { } bt && (double.IsNaN(bt) || double.IsInfinity(bt) || bt < 0)) Fail(where, $"invalid backward time {bt}");
            for (int k = 0; k < s.Inputs.Count; k++)
            {
                int p = s.Inputs[k];
                if (p < 0 || p >= n) Fail(where, $"input #{k} refers to a tensor that does not exist (id {p})");
                if (p == id) Fail(where, "reads its own output (self-loop)");
            }
            if (s.ForwardOf >= n) Fail(where, $"forwardOf refers to a tensor that does not exist (id {s.ForwardOf})");
            if (s.BackwardNeeds is { } needs)
                foreach (var k in needs)
                    if (k < 0 || k >= s.Inputs.Count) Fail(where, $"backward needs operand #{k}, but the op has {s.Inputs.Count} operands");
        }
        long total = 0;
        double totalTime = 0;
        foreach (var s in _specs)
        {
            try { total = checked(total + s.Bytes); }
            catch (OverflowException) { Fail($"tensor '{Shorten(s.Name)}'", "the sum of tensor sizes overflows 64 bits"); }
            totalTime += s.Time + (s.BackwardTime ?? Node.DefaultBackwardTime(s.Time));
        }
        if (total > MaxTotalBytes)
            Fail(null, $"the tensors' sizes sum to {total} bytes, over the limit of {MaxTotalBytes} (2^59, 512 PiB): the planner's sums " +
                "(values with their gradients, the paper model's 2·M(V)) must stay within 64 bits");
        if (!(totalTime <= MaxTotalTime))
            Fail(null, $"the tasks' times sum to {(double.IsInfinity(totalTime) ? "more than the largest number" : totalTime.ToString("G3", System.Globalization.CultureInfo.InvariantCulture))}, " +
                $"over the limit of {MaxTotalTime:G0} (times of recomputing schedules are sums of these and must stay finite)");

        // Edges into QuikGraph (parallel edges kept: an op may read one tensor twice).
        _graph.Clear();
        _graph.AddVertexRange(Enumerable.Range(0, n));
        for (int id = 0; id < n; id++)
            for (int k = 0; k < _specs[id].Inputs.Count; k++)
                _graph.AddEdge(new TaggedEdge<int, int>(_specs[id].Inputs[k], id, k));

        var order = StableTopologicalOrder(n);
        var newId = new int[n];
        for (int i = 0; i < n; i++) newId[order[i]] = i;
        var nodes = ImmutableArray.CreateBuilder<Node>(n);
        for (int i = 0; i < n; i++)
        {
            var s = _specs[order[i]];
            var inputs = s.Inputs.Select(p => newId[p]).ToImmutableArray();
            var needs = s.BackwardNeeds is null ? Enumerable.Range(0,
                s.Inputs.Count).ToImmutableArray() : s.BackwardNeeds.Distinct().Order().ToImmutableArray();
            var attrs = s.Attributes is null ? ImmutableSortedDictionary<string, object>.Empty.WithComparers(StringComparer.Ordinal)
                : s.Attributes.ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            nodes.Add(new Node(i, s.Name, s.Op, s.Kind, inputs, s.Bytes, s.Time, s.Shape.ToImmutableArray(), s.DType, attrs,
                s.OutputIndex, s.IsBackward, s.ForwardOf < 0 ? -1 : newId[s.ForwardOf], needs, s.BackwardTime ?? Node.DefaultBackwardTime(s.Time), s.BackwardNeedsOutput) { SavedByRule = s.SavedByRule });
        }
        return new ComputationGraph(Name, TimeUnit, nodes.MoveToImmutable(), Source);
    }

    /// <summary>
    /// Kahn's algorithm taking the smallest ready insertion index first: linear-logarithmic, no recursion
    /// (so a 100,000-node chain cannot overflow the stack), and it keeps the file's order when that is topological.
    /// </summary>
    private int[] StableTopologicalOrder(int n)
    {
        var indeg = new int[n];
        for (int v = 0; v < n; v++) indeg[v] = _graph.InDegree(v);
        var ready = new PriorityQueue<int, int>();
        for (int v = 0; v < n; v++) if (indeg[v] == 0) ready.Enqueue(v, v);
        var order = new int[n];
        int count = 0;
        while (ready.TryDequeue(out int v, out _))
        {
            order[count++] = v;
            foreach (var e in _graph.OutEdges(v))
                if (--indeg[e.Target] == 0) ready.Enqueue(e.Target, e.Target);
        }
        if (count < n)
        {
            // Name one node on a cycle: walk back along unfinished inputs until a node repeats.
            int v = Enumerable.Range(0, n).First(i => indeg[i] > 0);
            var seen = new HashSet<int>();
            while (seen.Add(v)) v = _graph.InEdges(v).First(e => indeg[e.Source] > 0).Source;
            Fail($"tensor '{Shorten(_specs[v].Name)}'", "is on a cycle: the graph must be acyclic");
        }
        return order;
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";

    /// <summary>
    /// The largest sum of tensor sizes a graph may have: 2^59 bytes (512 PiB). Every memory figure the planner
    /// computes (a peak with values and gradients live, the paper model's cached + 2·M(V) + M(A) + M(B)) is at
    /// most 8 times this sum, so no sum of sizes anywhere can overflow 64 bits, with a factor 2 to spare.
    /// </summary>
    public const long MaxTotalBytes = 1L << 59;

    /// <summary>
    /// The largest sum of task times (forward and backward) a graph may have: 1e100 in its time unit, which leaves
    /// every schedule's total time (each task run a bounded number of times) finite, far from double's 1.8e308.
    /// </summary>
    public const double MaxTotalTime = 1e100;

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(string? location, string problem) => throw new GraphFormatException(Source, location, problem);
}
