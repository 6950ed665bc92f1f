using Recompute.Planner.Graph;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>The values of a graph's input tensors for one training step (data and labels), by graph node id.</summary>
public sealed class TrainingBatch : IDisposable
{
    private readonly Dictionary<int, Tensor> _inputs;

    public TrainingBatch(IReadOnlyDictionary<int, Tensor> inputs) { _inputs = new Dictionary<int, Tensor>(inputs); }

    public Tensor this[int node] => _inputs.TryGetValue(node, out var t) ? t : throw new KeyNotFoundException($"the batch has no value for input #{node}");

    public bool Contains(int node) => _inputs.ContainsKey(node);

    public void Dispose()
    {
        foreach (var t in _inputs.Values) if (!t.IsReleased) t.Dispose();
        _inputs.Clear();
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
            var t = arena.Allocate(MemoryCategory.Parameter, DTypes.Shape(node), DTypes.SizeOf(node.DType));
            var rng = new DeterministicRandom(DeterministicRandom.Derive((ulong)seed, node.Name, step));
            var span = t.Span;
            if (DTypes.IsInteger(node.DType))
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
