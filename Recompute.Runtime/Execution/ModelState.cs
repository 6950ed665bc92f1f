using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>
/// The resident tensors of a model: parameters (from given weights, such as an ONNX file's initializers, or else
/// initialised deterministically from a seed), constants, and the accumulated parameter gradients of the last step.
/// </summary>
public sealed class ModelState
{
    private readonly Tensor?[] _resident;
    private readonly Tensor?[] _gradients;
    private readonly bool[] _hasGradient;
    // Per parameter: its gradient buffer may hold non-zero values while no contribution of this step has marked it.
    private readonly bool[] _stale;

    private ModelState(ComputationGraph graph, Arena arena)
    {
        Graph = graph; Arena = arena;
        _resident = new Tensor?[graph.Count];
        _gradients = new Tensor?[graph.Count];
        _hasGradient = new bool[graph.Count];
        _stale = new bool[graph.Count];
    }

    public ComputationGraph Graph { get; }
    public Arena Arena { get; }

    /// <summary>Graph node ids of the parameters, in graph order.</summary>
    public IReadOnlyList<int> Parameters { get; private set; } = [];

    /// <summary>The value of a parameter or constant.</summary>
    public Tensor Value(int node) => _resident[node] ?? throw new InvalidOperationException($"'{Graph[node].Name}' is not a resident tensor");

    public bool IsResident(int node) => _resident[node] is not null;

    /// <summary>The accumulated gradient of a parameter (zero when no gradient reached it in the last step).</summary>
    public Tensor Gradient(int node) => _gradients[node] ?? throw new InvalidOperationException($"'{Graph[node].Name}' is not a parameter");

    /// <summary>True when some operation contributed to the parameter's gradient in the last step.</summary>
    public bool HasGradient(int node) => _hasGradient[node];

    internal void MarkGradient(int node) => _hasGradient[node] = true;

    /// <summary>Zeroes every parameter gradient before a step.</summary>
    public void ZeroGradients()
    {
        foreach (var p in Parameters)
        {
            var g = _gradients[p]!.Buffer;
            Kernels.ParallelRanges.Clear(g, g.Length);
            _hasGradient[p] = false;
            _stale[p] = false;
        }
    }

    /// <summary>
    /// Starts a step's parameter gradients without zeroing them: the executor writes a parameter's first contribution
    /// over its buffer (a backward overwrites its target), so only the gradients that no contribution reaches need
    /// zeroing, which <see cref="FinishGradients"/> does. With <paramref name="poison"/> every gradient buffer is
    /// filled with NaN first, so that a contribution that does not overwrite all of it shows in the step's result.
    /// </summary>
    internal void BeginGradients(bool poison)
    {
        foreach (var p in Parameters)
        {
            if (_hasGradient[p]) _stale[p] = true;
            _hasGradient[p] = false;
            if (poison) { _gradients[p]!.Span.Fill(float.NaN); _stale[p] = true; }
        }
    }

    /// <summary>Zeroes the gradients no contribution reached in the step that <see cref="BeginGradients"/> started,
    /// where they may hold an earlier step's values, so that every unmarked gradient reads zero.</summary>
    internal void FinishGradients()
    {
        foreach (var p in Parameters)
        {
            if (_hasGradient[p] || !_stale[p]) continue;
            var g = _gradients[p]!.Buffer;
            Kernels.ParallelRanges.Clear(g, g.Length);
            _stale[p] = false;
        }
    }

    /// <summary>The current parameter values by parameter name (copies), for saving or comparing.</summary>
    public ModelWeights ExportWeights() =>
        new(Parameters.Select(p => Data.NamedArray.Of(Graph[p].Name, Value(p).Span.ToArray(), Value(p).Shape)));

    /// <summary>Overwrites parameters with the given weights (every name must be a parameter of the same shape).</summary>
    /// <exception cref="ArgumentException">A weight names no parameter, or its shape differs.</exception>
    public void LoadWeights(ModelWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        foreach (var a in weights.Arrays)
        {
            if (!Graph.TryFind(a.Name, out int id) || Graph[id].Kind != NodeKind.Parameter)
                throw new ArgumentException($"weight '{a.Name}' is not a parameter of graph '{Graph.Name}'", nameof(weights));
            Copy(Graph[id], a, _resident[id]!);
        }
    }

    private void Copy(Node p, Data.NamedArray a, Tensor into)
    {
        if (!a.Shape.SequenceEqual(into.Shape))
            throw new ArgumentException($"weight '{a.Name}' has shape {a.ShapeText}, parameter '{p.Name}' of graph '{Graph.Name}' has [{string.Join(",", into.Shape)}]");
        a.Floats.AsSpan().CopyTo(into.Span);
    }

    /// <summary>Allocates and initialises parameters (deterministically from <paramref name="seed"/>) and constants.</summary>
    public static ModelState Initialize(ComputationGraph graph, Arena arena, int seed) => Initialize(graph, arena, seed, null);

    /// <summary>
    /// Allocates parameters and constants; a parameter takes its value from <paramref name="weights"/> when it has one by
    /// its name (the shapes must agree), else it is initialised deterministically from <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A weight's shape differs from its parameter's.</exception>
    public static ModelState Initialize(ComputationGraph graph, Arena arena, int seed, ModelWeights? weights)
    {
        var state = new ModelState(graph, arena);
        var parameters = new List<int>();
        foreach (var node in graph.Nodes)
        {
            if (node.Kind == NodeKind.Parameter)
            {
                var t = arena.Allocate(MemoryCategory.Parameter, DTypes.Shape(node), ElementTypes.BytesOf(node.DType));
                if (weights is not null && weights.TryGet(node.Name, out var w)) state.Copy(node, w, t);
                else ParameterInitializer.Fill(graph, node, t.Span, (ulong)seed);
                state._resident[node.Id] = t;
                state._gradients[node.Id] = arena.Allocate(MemoryCategory.ParameterGradient, DTypes.Shape(node), ElementTypes.BytesOf(node.DType));
                parameters.Add(node.Id);
            }
            else if (node.Kind == NodeKind.Constant)
            {
                var t = arena.Allocate(MemoryCategory.Parameter, DTypes.Shape(node), ElementTypes.BytesOf(node.DType));
                if (!ConstantValues.Fill(node, t.Span))
                {
                    // A constant nobody computes with needs no value; one that is read must carry it.
                    if (graph.Successors(node.Id).Length > 0)
                        throw new GraphFormatException(graph.Source, $"tensor '{node.Name}'", "constant has no value attribute");
                }
                state._resident[node.Id] = t;
            }
        }
        state.Parameters = parameters;
        return state;
    }
}

/// <summary>
/// Deterministic weight initialisation chosen from how a parameter is used: He-normal for convolution kernels,
/// LeCun-normal for matrix weights, 0.02-normal for embeddings, one for scales, zero for biases and means.
/// </summary>
internal static class ParameterInitializer
{
    public static void Fill(ComputationGraph graph, Node p, Span<float> values, ulong seed)
    {
        var rng = new DeterministicRandom(DeterministicRandom.Derive(seed, p.Name));
        var shape = DTypes.Shape(p);
        var (kind, fanIn) = Role(graph, p, shape);
        switch (kind)
        {
            case Init.Zero: values.Clear(); break;
            case Init.One: values.Fill(1f); break;
            default:
            {
                double std = kind switch
                {
                    Init.He => Math.Sqrt(2.0 / Math.Max(1, fanIn)),
                    Init.LeCun => Math.Sqrt(1.0 / Math.Max(1, fanIn)),
                    _ => 0.02,
                };
                for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextNormal() * std);
                break;
            }
        }
    }

    private enum Init { Zero, One, He, LeCun, Small }

    /// <summary>He scaling keeps the signal's variance through a ReLU; LeCun scaling suits linear outputs.</summary>
    private static bool FeedsRectifier(ComputationGraph graph, Node op)
    {
        foreach (var s in graph.Successors(op.Id))
            if (graph[s].Op is "Relu" or "Clip") return true;
        return false;
    }

    private static (Init Kind, int FanIn) Role(ComputationGraph graph, Node p, int[] shape)
    {
        foreach (var s in graph.Successors(p.Id))
        {
            var r = graph[s];
            int k = r.Inputs.IndexOf(p.Id);
            switch (r.Op)
            {
                case "Conv" or "ConvTranspose":
                    return k == 1 ? (Init.He, shape.Length > 1 ? shape[1..].Aggregate(1, (a, b) => a * b) : 1) : (Init.Zero, 0);
                case "Gemm":
                    if (k == 2) return (Init.Zero, 0);
                    bool trans = r.AttributeLong(k == 1 ? "transB" : "transA", 0) != 0;
                    int fan = shape.Length == 2 ? (k == 1 ? (trans ? shape[1] : shape[0]) : (trans ? shape[0] : shape[1])) : shape[^1];
                    return (FeedsRectifier(graph, r) ? Init.He : Init.LeCun, fan);
                case "MatMul":
                    return (FeedsRectifier(graph, r) ? Init.He : Init.LeCun,
                        shape.Length >= 2 ? (k == 1 ? shape[^2] : shape[^1]) : shape.Length == 1 ? shape[0] : 1);
                case "BatchNormalization":
                    return (k is 1 or 4 ? Init.One : Init.Zero, 0);
                case "Mul" or "Div":
                    return (Init.One, 0);
                case "Add" or "Sub":
                    return (Init.Zero, 0);
                case "Gather":
                    return (Init.Small, 0);
            }
        }
        return (Init.LeCun, shape.Length > 0 ? shape[^1] : 1);
    }
}
