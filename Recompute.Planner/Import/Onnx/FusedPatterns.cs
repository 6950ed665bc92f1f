using Google.Protobuf;
using Recompute.Planner.Costs;
using Recompute.Planner.Import.Onnx.Proto;

namespace Recompute.Planner.Import.Onnx;

/// <summary>
/// One decomposed operation found in an ONNX graph: the nodes (positions in the importer's topological order) that
/// together compute what <see cref="Fused"/> computes, and the check the importer runs on operand shapes before it plans
/// them as the fused op.
/// </summary>
/// <param name="Nodes">Positions of the pattern's nodes (Constant nodes feeding it excluded: they stay, folded).</param>
/// <param name="First">The first of them in the order: where the fused node is imported.</param>
/// <param name="Fused">The fused node (standard ONNX: LayerNormalization with its Mean and InvStdDev outputs, or Gelu).</param>
internal sealed record FusedMatch(IReadOnlySet<int> Nodes, int First, NodeProto Fused)
{
    /// <summary>The fused op's operand names whose shapes must be [C], C the last dimension of operand 0 (LayerNorm's scale and bias).</summary>
    public IReadOnlyList<string> PerFeature { get; init; } = [];

    /// <summary>The reduction axis the pattern was written with (−1 or rank − 1 of operand 0), when it has one.</summary>
    public long? Axis { get; init; }
}

/// <summary>
/// Recognises the decomposed forms exporters write for operations every training framework runs fused, so that the
/// memory model keeps what the fused op keeps (a framework never materialises the intermediates):
/// <list type="bullet">
/// <item>LayerNorm as PyTorch exports <c>nn.LayerNorm</c> below opset 17: <c>μ = ReduceMean(x)</c>, <c>d = Sub(x, μ)</c>,
/// <c>Pow(d, 2)</c>, <c>ReduceMean</c>, <c>Add ε</c>, <c>Sqrt</c>, <c>Div(d, ·)</c>, <c>Mul γ</c>, <c>Add β</c> over the last
/// axis → ONNX LayerNormalization(x, γ, β) with outputs Y, Mean (μ, keeping its name) and InvStdDev. Its backward reads
/// x, γ and the two per-row statistics (<see cref="Graph.SavedTensors"/>).</item>
/// <item>GELU, exact: <c>x · (1 + erf(x / √2)) · 0.5</c> (Div by √2 or Mul by 1/√2; the three factors multiplied in any
/// order) → Gelu(x); and the tanh approximation <c>0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))</c> with
/// <c>Pow(x, 3)</c> → Gelu(x, approximate = "tanh"). Its backward reads x.</item>
/// </list>
/// A pattern is recognised only when every intermediate is read by the pattern alone (not by another node, not a graph
/// output): an intermediate read elsewhere must exist, so the nodes stay as they are. Constants must be scalars with the
/// pattern's values (within 1e-4 relative).
/// </summary>
internal sealed class FusedPatterns
{
    private readonly IReadOnlyList<NodeProto> _order;
    private readonly Dictionary<string, int> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(int Node, int Slot)>> _consumers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _graphOutputs;
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly HashSet<string> _names;
    private readonly HashSet<int> _claimed = [];

    private FusedPatterns(GraphProto g, IReadOnlyList<NodeProto> order, HashSet<string> names)
    {
        _order = order;
        _names = names;
        _graphOutputs = g.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        _initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in g.Initializer) _initializers.TryAdd(t.Name, t);
        for (int i = 0; i < order.Count; i++)
        {
            var n = order[i];
            foreach (var o in n.Output) if (!string.IsNullOrEmpty(o)) _producer[o] = i;
            for (int k = 0; k < n.Input.Count; k++)
            {
                if (string.IsNullOrEmpty(n.Input[k])) continue;
                if (!_consumers.TryGetValue(n.Input[k], out var list)) _consumers[n.Input[k]] = list = [];
                list.Add((i, k));
            }
        }
    }

    /// <summary>Every LayerNorm and GELU pattern of the graph (disjoint), in the order of their first node.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="order">Its nodes in the importer's topological order.</param>
    /// <param name="names">Every tensor name of the graph; names made for new outputs are added.</param>
    public static List<FusedMatch> Find(GraphProto g, IReadOnlyList<NodeProto> order, HashSet<string> names)
    {
        var f = new FusedPatterns(g, order, names);
        var found = new List<FusedMatch>();
        for (int i = 0; i < order.Count; i++)
        {
            var m = !IsStandard(order[i], order[i].OpType) ? null : order[i].OpType switch
            {
                "ReduceMean" => f.LayerNorm(i),
                "Erf" => f.Gelu(i, tanh: false),
                "Tanh" => f.Gelu(i, tanh: true),
                _ => null,
            };
            if (m is null || m.Nodes.Any(f._claimed.Contains)) continue;
            f._claimed.UnionWith(m.Nodes);
            found.Add(m);
        }
        return [.. found.OrderBy(m => m.First)];
    }

    // ---- graph queries ------------------------------------------------------------------------------------

    /// <summary>The node of type <paramref name="op"/> (standard domain, one output) that produces <paramref name="name"/>, or null.</summary>
    private NodeProto? Producer(string name, string op) =>
        _producer.TryGetValue(name, out int i) && IsStandard(_order[i], op) ? _order[i] : null;

    /// <summary>A standard-domain node of type <paramref name="op"/> with one named output.</summary>
    private static bool IsStandard(NodeProto n, string op) =>
        n.OpType == op && n.Domain is "" or "ai.onnx" && n.Output.Count == 1 && !string.IsNullOrEmpty(n.Output[0]);

    private int Index(NodeProto n) => _producer[n.Output[0]];

    /// <summary>The single node reading <paramref name="name"/>, when it is of type <paramref name="op"/> and the
    /// tensor is no graph output.</summary>
    private NodeProto? OnlyReader(string name, string op)
    {
        if (_graphOutputs.Contains(name) || !_consumers.TryGetValue(name, out var readers) || readers.Count != 1) return null;
        var r = _order[readers[0].Node];
        return IsStandard(r, op) ? r : null;
    }

    /// <summary>Readers of a tensor that is no graph output (empty when it is one).</summary>
    private IReadOnlyList<(int Node, int Slot)> Readers(string name) =>
        _graphOutputs.Contains(name) || !_consumers.TryGetValue(name, out var r) ? [] : r;

    /// <summary>The other operand of a binary node one of whose operands is <paramref name="known"/>, or null.</summary>
    private static string? Other(NodeProto n, string known) =>
        n.Input.Count != 2 ? null : n.Input[0] == known ? n.Input[1] : n.Input[1] == known ? n.Input[0] : null;

    /// <summary>The value of a scalar (one-element) constant: a Constant node's value or an initializer with data.</summary>
    private double? Scalar(string name)
    {
        TensorProto? t = null;
        if (Producer(name, "Constant") is { } c)
        {
            foreach (var a in c.Attribute)
            {
                if (a.Name == "value" && a.T is not null) t = a.T;
                else if (a.Name == "value_float") return a.F;
            }
        }
        else if (_initializers.TryGetValue(name, out var init)) t = init;
        if (t is null) return null;
        try
        {
            var info = OnnxTensors.Read(t, $"constant '{name}'");
            return info.Value is { Length: 1 } v ? v.Real(0) : null;
        }
        catch (ShapeInferenceException) { return null; }
    }

    private static bool Near(double? value, double want) => value is { } v && Math.Abs(v - want) <= 1e-4 * Math.Abs(want);

    private bool IsScalar(string name, double want) => Near(Scalar(name), want);

    /// <summary>A constant integer list: a Constant node's or an initializer's values.</summary>
    private long[]? Ints(string name)
    {
        TensorProto? t = Producer(name, "Constant")?.Attribute.FirstOrDefault(a => a.Name == "value")?.T
            ?? (_initializers.TryGetValue(name, out var init) ? init : null);
        if (t is null) return null;
        try { return OnnxTensors.Read(t, $"constant '{name}'").Value is { IsInteger: true } v ? v.AsInts() : null; }
        catch (ShapeInferenceException) { return null; }
    }

    /// <summary>The one axis of a ReduceMean that keeps dims (attribute, or operand 1 from opset 18), or null.</summary>
    private long? MeanAxis(NodeProto n)
    {
        if (n.Attribute.FirstOrDefault(a => a.Name == "keepdims") is { } kd && kd.I != 1) return null;
        long[]? axes = n.Attribute.FirstOrDefault(a => a.Name == "axes")?.Ints.ToArray();
        if (axes is null && n.Input.Count > 1 && !string.IsNullOrEmpty(n.Input[1])) axes = Ints(n.Input[1]);
        return axes is [var axis] ? axis : null;
    }

    /// <summary>A tensor name not yet in <paramref name="names"/> (the name itself, or with a numeric suffix), added to it.</summary>
    public static string Fresh(HashSet<string> names, string name)
    {
        string candidate = name;
        for (int k = 1; names.Contains(candidate); k++) candidate = $"{name}_{k}";
        names.Add(candidate);
        return candidate;
    }

    // ---- LayerNorm ----------------------------------------------------------------------------------------

    private FusedMatch? LayerNorm(int first)
    {
        var mean = _order[first];
        if (mean.Input.Count < 1 || string.IsNullOrEmpty(mean.Input[0]) || MeanAxis(mean) is not { } axis) return null;
        string x = mean.Input[0], mu = mean.Output[0];
        if (OnlyReader(mu, "Sub") is not { } sub || sub.Input.Count != 2 || sub.Input[0] != x || sub.Input[1] != mu) return null;
        string d = sub.Output[0];
        // d is read twice, by the square and by the division, and by nothing else.
        var dReaders = Readers(d);
        if (dReaders.Count != 2) return null;
        NodeProto? pow = null, div = null;
        foreach (var (node, slot) in dReaders)
        {
            var r = _order[node];
            if (IsStandard(r, "Pow") && slot == 0 && r.Input.Count == 2 && IsScalar(r.Input[1], 2)) pow = r;
            else if (IsStandard(r, "Div") && slot == 0 && r.Input.Count == 2) div = r;
        }
        if (pow is null || div is null) return null;
        if (OnlyReader(pow.Output[0], "ReduceMean") is not { } variance || MeanAxis(variance) != axis) return null;
        if (OnlyReader(variance.Output[0], "Add") is not { } addEps || Other(addEps, variance.Output[0]) is not { } epsName
            || Scalar(epsName) is not { } eps) return null;
        if (OnlyReader(addEps.Output[0], "Sqrt") is not { } sqrt || sqrt.Input.Count != 1) return null;
        string sd = sqrt.Output[0];
        if (Readers(sd) is not [var sdReader] || _order[sdReader.Node] != div || sdReader.Slot != 1) return null;
        if (OnlyReader(div.Output[0], "Mul") is not { } mul || Other(mul, div.Output[0]) is not { } scale || scale == div.Output[0]) return null;
        if (OnlyReader(mul.Output[0], "Add") is not { } add || Other(add, mul.Output[0]) is not { } bias || bias == mul.Output[0]) return null;

        var fused = new NodeProto { OpType = "LayerNormalization", Name = string.IsNullOrEmpty(add.Name) ? add.Output[0] : add.Name };
        fused.Input.Add(x); fused.Input.Add(scale); fused.Input.Add(bias);
        fused.Output.Add(add.Output[0]); fused.Output.Add(mu); fused.Output.Add(Fresh(_names, sd + "_reciprocal"));
        fused.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 });
        fused.Attribute.Add(new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = (float)eps });
        fused.Attribute.Add(new AttributeProto { Name = "stash_type", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        var nodes = new[] { mean, sub, pow, variance, addEps, sqrt, div, mul, add }.Select(Index).ToHashSet();
        return new FusedMatch(nodes, nodes.Min(), fused) { PerFeature = [scale, bias], Axis = axis };
    }

    // ---- GELU ---------------------------------------------------------------------------------------------

    private const double Sqrt2 = 1.4142135623730951;
    private const double SqrtTwoOverPi = 0.7978845608028654;

    private FusedMatch? Gelu(int at, bool tanh)
    {
        var fn = _order[at];
        if (fn.Input.Count != 1) return null;
        var nodes = new List<NodeProto> { fn };
        string? x = tanh ? TanhArgument(fn.Input[0], nodes) : ErfArgument(fn.Input[0], nodes);
        if (x is null) return null;
        if (OnlyReader(fn.Output[0], "Add") is not { } onePlus || Other(onePlus, fn.Output[0]) is not { } one || !IsScalar(one, 1)) return null;
        nodes.Add(onePlus);
        string a = onePlus.Output[0];
        // y = x · a · 0.5 by two Muls in any order: (x·a)·½, (a·½)·x, (x·½)·a.
        if (OnlyReader(a, "Mul") is not { } m1 || Other(m1, a) is not { } o1) return null;
        nodes.Add(m1);
        NodeProto y;
        if (o1 == x || IsScalar(o1, 0.5))
        {
            if (OnlyReader(m1.Output[0], "Mul") is not { } m2 || Other(m2, m1.Output[0]) is not { } o2) return null;
            if (!(o1 == x ? IsScalar(o2, 0.5) : o2 == x)) return null;
            nodes.Add(m2);
            y = m2;
        }
        else if (Producer(o1, "Mul") is { } half && OnlyReader(o1, "Mul") == m1 && Other(half, x) is { } h && IsScalar(h, 0.5))
        {
            nodes.Add(half);
            y = m1;
        }
        else return null;

        var fused = new NodeProto { OpType = "Gelu", Name = string.IsNullOrEmpty(y.Name) ? y.Output[0] : y.Name };
        fused.Input.Add(x);
        fused.Output.Add(y.Output[0]);
        if (tanh) fused.Attribute.Add(new AttributeProto { Name = "approximate", Type = AttributeProto.Types.AttributeType.String,
            S = ByteString.CopyFromUtf8("tanh") });
        var set = nodes.Select(Index).ToHashSet();
        return new FusedMatch(set, set.Min(), fused);
    }

    /// <summary>Erf's operand as x / √2 or x · (1/√2), read by the Erf alone: x, with the scaling node added.</summary>
    private string? ErfArgument(string s, List<NodeProto> nodes)
    {
        if (!_producer.TryGetValue(s, out int i) || OnlyReader(s, "Erf") is null) return null;
        var scaling = _order[i];
        if (scaling.Input.Count != 2 || !IsStandard(scaling, scaling.OpType)) return null;
        string? x = scaling.OpType switch
        {
            "Div" when IsScalar(scaling.Input[1], Sqrt2) => scaling.Input[0],
            "Mul" when IsScalar(scaling.Input[1], 1 / Sqrt2) => scaling.Input[0],
            "Mul" when IsScalar(scaling.Input[0], 1 / Sqrt2) => scaling.Input[1],
            _ => null,
        };
        if (x is not null) nodes.Add(scaling);
        return x;
    }

    /// <summary>Tanh's operand as √(2/π) · (x + 0.044715 · Pow(x, 3)), each step read by the next alone: x, with its nodes added.</summary>
    private string? TanhArgument(string u, List<NodeProto> nodes)
    {
        if (Producer(u, "Mul") is not { } scaled || OnlyReader(u, "Tanh") is null) return null;
        string? v = scaled.Input.Count != 2 ? null : IsScalar(scaled.Input[0], SqrtTwoOverPi) ? scaled.Input[1] : IsScalar(scaled.Input[1],
            SqrtTwoOverPi) ? scaled.Input[0] : null;
        if (v is null || Producer(v, "Add") is not { } sum || OnlyReader(v, "Mul") != scaled || sum.Input.Count != 2) return null;
        foreach (var (x, w) in new[] { (sum.Input[0], sum.Input[1]), (sum.Input[1], sum.Input[0]) })
        {
            if (Producer(w, "Mul") is not { } cubic || OnlyReader(w, "Add") != sum || cubic.Input.Count != 2) continue;
            string? p = IsScalar(cubic.Input[0], 0.044715) ? cubic.Input[1] : IsScalar(cubic.Input[1], 0.044715) ? cubic.Input[0] : null;
            if (p is null || Producer(p, "Pow") is not { } pow || OnlyReader(p, "Mul") != cubic || pow.Input.Count != 2
                || pow.Input[0] != x || !IsScalar(pow.Input[1], 3)) continue;
            nodes.AddRange([scaled, sum, cubic, pow]);
            return x;
        }
        return null;
    }
}
