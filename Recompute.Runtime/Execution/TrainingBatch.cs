using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Runtime.Data;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>The values of a graph's input tensors for one training step (data and labels), by graph node id.</summary>
public sealed class TrainingBatch : IDisposable
{
    private readonly Dictionary<int, Tensor> _inputs;

    public TrainingBatch(IReadOnlyDictionary<int, Tensor> inputs) { _inputs = new Dictionary<int, Tensor>(inputs); }

    public Tensor this[int node] => _inputs.TryGetValue(node,
        out var t) ? t : throw new KeyNotFoundException($"the batch has no value for input #{node}");

    public bool Contains(int node) => _inputs.ContainsKey(node);

    public void Dispose()
    {
        foreach (var t in _inputs.Values) if (!t.IsReleased) t.Dispose();
        _inputs.Clear();
    }

    /// <summary>
    /// Checks arrays known by name, type and shape alone (an .npz's headers, before its data is read) against the
    /// graph's inputs: one array per input, of its type and shape, and no other.
    /// </summary>
    /// <exception cref="ArgumentException">A name, type or shape that does not match; the message names both.</exception>
    public static void CheckDeclared(ComputationGraph graph, IEnumerable<(string Name, string DType, IReadOnlyList<int> Shape)> arrays)
    {
        var byName = new Dictionary<string, (string DType, IReadOnlyList<int> Shape)>(StringComparer.Ordinal);
        foreach (var (name, dtype, shape) in arrays)
            if (!byName.TryAdd(name, (dtype, shape))) throw new ArgumentException($"array '{name}' is given twice");
        var inputs = graph.Nodes.Where(n => n.Kind == NodeKind.Input).ToList();
        string Expected() => string.Join(", ",
            inputs.Select(n => $"'{n.Name}' {(ElementTypes.IsIntegral(n.DType) ? "int64" : "float32")}[{string.Join(",", n.Shape)}]"));
        foreach (var name in byName.Keys)
            if (!graph.TryFind(name, out int id) || graph[id].Kind != NodeKind.Input)
                throw new ArgumentException($"array '{name}' is not an input of graph '{graph.Name}' (its inputs: {Expected()})");
        foreach (var node in inputs)
        {
            if (!byName.TryGetValue(node.Name, out var a))
                throw new ArgumentException($"no array for input '{node.Name}' of graph '{graph.Name}' (its inputs: {Expected()})");
            string want = ElementTypes.IsIntegral(node.DType) ? "int64" : "float32";
            var shape = DTypes.Shape(node);
            if (a.DType != want || !a.Shape.SequenceEqual(shape))
                throw new ArgumentException($"array '{node.Name}' is {a.DType}[{string.Join(",", a.Shape)}], input '{node.Name}' of graph '{graph.Name}' needs {want}[{string.Join(",", shape)}]");
        }
    }

    /// <summary>
    /// A batch from named arrays, one per graph input by the input's name: float32 arrays for floating-point inputs,
    /// int64 arrays for integer inputs (labels, token ids), each of the input's exact shape.
    /// </summary>
    /// <exception cref="ArgumentException">An input has no array, an array names no input, or a shape or type differs;
    /// the message names the array and what the graph expects.</exception>
    public static TrainingBatch FromArrays(ComputationGraph graph, Arena arena, IEnumerable<NamedArray> arrays)
    {
        ArgumentNullException.ThrowIfNull(graph); ArgumentNullException.ThrowIfNull(arena); ArgumentNullException.ThrowIfNull(arrays);
        var byName = new Dictionary<string, NamedArray>(StringComparer.Ordinal);
        foreach (var a in arrays)
            if (!byName.TryAdd(a.Name, a)) throw new ArgumentException($"array '{a.Name}' is given twice");
        CheckDeclared(graph, byName.Values.Select(a => (a.Name, a.DType, a.Shape)));
        var inputs = graph.Nodes.Where(n => n.Kind == NodeKind.Input).ToList();
        foreach (var node in inputs)
        {
            var a = byName[node.Name];
            if (ElementTypes.IsIntegral(node.DType))
                foreach (var v in a.Longs!)
                    // Integer tensors live in float storage (exact below 2^24; see Tensor).
                    // Compared on both sides rather than through Math.Abs, which overflows on -2^63.
                    if (v >= 1 << 24 || v <= -(1 << 24))
                        throw new ArgumentException($"array '{a.Name}' holds {v}, beyond the ±2^24 the runtime stores exactly");
        }
        var tensors = new Dictionary<int, Tensor>();
        try
        {
            foreach (var node in inputs)
            {
                var a = byName[node.Name];
                var t = arena.Allocate(MemoryCategory.Parameter, DTypes.Shape(node), ElementTypes.BytesOf(node.DType));
                tensors[node.Id] = t;
                if (a.Floats is { } f) f.AsSpan().CopyTo(t.Span);
                else { var span = t.Span; var l = a.Longs!; for (int i = 0; i < l.Length; i++) span[i] = l[i]; }
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new TrainingBatch(tensors);
    }

    /// <summary>
    /// Synthetic data, deterministic from (seed, step): float inputs are standard normal; integer inputs are
    /// uniform integers below the number of classes (labels of a loss) or the table size (indices of a Gather).
    /// </summary>
    public static TrainingBatch Synthetic(ComputationGraph graph, Arena arena, int seed, int step)
    {
        var inputs = new Dictionary<int, Tensor>();
        foreach (var node in graph.Nodes)
        {
            if (node.Kind != NodeKind.Input) continue;
            var t = arena.Allocate(MemoryCategory.Parameter, DTypes.Shape(node), ElementTypes.BytesOf(node.DType));
            var rng = new DeterministicRandom(DeterministicRandom.Derive((ulong)seed, node.Name, step));
            var span = t.Span;
            if (ElementTypes.IsIntegral(node.DType))
            {
                int range = IndexRange(graph, node);
                for (int i = 0; i < span.Length; i++) span[i] = rng.NextInt(range);
            }
            else
                for (int i = 0; i < span.Length; i++) span[i] = (float)rng.NextNormal();
            inputs[node.Id] = t;
        }
        return new TrainingBatch(inputs);
    }

    private static int IndexRange(ComputationGraph graph, Node input)
    {
        foreach (var s in graph.Successors(input.Id))
        {
            var r = graph[s];
            int k = r.Inputs.IndexOf(input.Id);
            if (r.Op == "SoftmaxCrossEntropyLoss" && k == 1) return (int)graph[r.Inputs[0]].Shape[1];
            // Labels reshaped before the loss ([batch, tokens] flattened) take the range of what reads the view.
            if (Views.IsWholeViewOp(r.Op) && k == 0) return IndexRange(graph, r);
            if (r.Op == "Gather" && k == 1)
            {
                var data = graph[r.Inputs[0]].Shape;
                long axis = r.AttributeLong("axis", 0);
                return (int)data[(int)(axis < 0 ? axis + data.Length : axis)];
            }
        }
        return 2;
    }
}
