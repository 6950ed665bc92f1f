using System.Collections.Immutable;

namespace Recompute.Planner.Graph;

/// <summary>Whether a task is part of the forward pass or computes a gradient.</summary>
public enum TaskKind { Forward, Backward }

/// <summary>
/// One unit of work of a training step that produces one buffer: a forward tensor, or the gradient of a
/// forward tensor (for explicit training graphs: one backward node of the file).
/// </summary>
/// <param name="Id">Index in <see cref="TrainingGraph.Tasks"/> (a topological order).</param>
/// <param name="Name">Forward tasks: the tensor name; derived gradient tasks: <c>grad(name)</c>.</param>
/// <param name="Node">Graph node: the tensor computed (forward), the tensor whose gradient is computed (derived backward),
/// or the explicit backward node itself.</param>
/// <param name="ForwardNode">The forward node this task belongs to (itself for forward tasks), or -1.</param>
/// <param name="Inputs">Tasks whose buffers must be live while this task runs.</param>
public sealed record TrainingTask(int Id, string Name, TaskKind Kind, int Node, int ForwardNode, long Bytes, double Time, ImmutableArray<int> Inputs)
{
    /// <summary>Graph nodes whose operation's parameter gradients this task accumulates (derived graphs; see <see cref="TrainingGraph"/>).</summary>
    public ImmutableArray<int> ParameterGradientsOf { get; init; } = [];
}

/// <summary>
/// The explicit DAG of a training step: every buffer the planner controls is one task. It is derived from a
/// forward graph (one forward task per planned tensor, one gradient task per planned tensor that the loss
/// depends on), or taken as it is from a graph with an explicit backward pass. Lowering, the simulator, the
/// optimal solver and the runtime all work on this DAG, so they share one memory model:
/// a task's inputs and its output are live while it runs; a buffer lives until it is freed.
/// </summary>
/// <remarks>
/// The gradient task of tensor v reads the gradient of every reader s of v and the forward values that the
/// backward of s needs for that operand (<see cref="Node.SavedFor"/>, which follows <see cref="SavedTensors"/>).
/// Parameter gradients (outside the budget) of an operation o
/// are accumulated by the gradient task of o's first operand that takes a gradient, which reads grad(o) and o's
/// needed values anyway; only when no operand takes a gradient (the first layer) does grad(o) do it, reading o's
/// needed values itself. Accumulating them in grad(o) instead would keep o's input alive beside grad(o), its
/// reader's gradient and o's own needs: on a chain of large convolutions that is a third more memory.
/// </remarks>
public sealed class TrainingGraph
{
    /// <summary>
    /// Inputs arrays at least this long may be one array that many tasks share (a W-wide Concat's gradients all read
    /// its W operands); shorter ones are expanded per task. Passes over tasks' inputs remember arrays of this length
    /// by reference, so a shared one is walked once, not once per reader.
    /// </summary>
    internal const int SharedInputsLength = 64;

    private readonly int[] _forwardTask;
    private readonly int[] _gradTask;
    private readonly int[][] _readers;
    private readonly ViewOf?[] _views;
    private readonly int[] _gradientAlias;
    private readonly int[]? _inPlaceSource;

    private TrainingGraph(ComputationGraph graph, ImmutableArray<TrainingTask> tasks, int[] forwardTask, int[] gradTask, bool explicitBackward,
        ViewOf?[]? views = null, int[]? gradientAlias = null, int[]? inPlaceSource = null)
    {
        Graph = graph; Tasks = tasks; _forwardTask = forwardTask; _gradTask = gradTask; IsExplicit = explicitBackward;
        _views = views ?? new ViewOf?[graph.Count];
        _gradientAlias = gradientAlias ?? Enumerable.Repeat(-1, graph.Count).ToArray();
        _inPlaceSource = inPlaceSource is not null && inPlaceSource.Any(s => s >= 0) ? inPlaceSource : null;
        _readers = ReadersOf(tasks);
        ForwardTime = tasks.Where(t => t.Kind == TaskKind.Forward).Sum(t => t.Time);
        BackwardTime = tasks.Where(t => t.Kind == TaskKind.Backward).Sum(t => t.Time);
    }

    public ComputationGraph Graph { get; }
    /// <summary>Tasks in a topological order: forward tasks first (graph order), then backward tasks.</summary>
    public ImmutableArray<TrainingTask> Tasks { get; }
    /// <summary>True when the backward tasks came from the file rather than being derived.</summary>
    public bool IsExplicit { get; }
    public double ForwardTime { get; }
    public double BackwardTime { get; }

    public int Count => Tasks.Length;

    /// <summary>The forward task of a graph node, or -1 for resident nodes.</summary>
    public int ForwardTaskOf(int node) => _forwardTask[node];
    /// <summary>The gradient task of a graph node, or -1 when no gradient flows to it.</summary>
    public int GradTaskOf(int node) => _gradTask[node];
    /// <summary>The view a forward tensor is (<see cref="Views"/>): its task owns no bytes and reads the base's buffer; null otherwise.</summary>
    public ViewOf? ViewOf(int node) => _views[node];

    /// <summary>
    /// The node whose gradient buffer the gradient of <paramref name="node"/> is, reshaped (its one gradient-carrying
    /// reader is a whole view of it, so d(base) = reshape(d(view)); a transposed view keeps its gradient in its base's
    /// layout, so the same holds), or -1 when the gradient has a buffer of its own.
    /// </summary>
    public int GradientAliasOf(int node) => _gradientAlias[node];

    /// <summary>Tasks that read a task's buffer.</summary>
    public ReadOnlySpan<int> Readers(int task) => _readers[task];

    /// <summary>
    /// The input whose buffer a task may take over (ReLU in place), or -1: for a forward Relu, its one input when that
    /// has the Relu's bytes; for the gradient of a Relu's or a BatchNormalization's input whose one gradient-carrying
    /// reader is that op (dX = dY·(y &gt; 0), or the normalisation's per-channel affine map of dY and x), the op's output
    /// gradient dY when it has dX's bytes. Whether a given step of the task
    /// runs in place depends on the schedule (<see cref="Scheduling.InPlaceSteps"/>): the source must die at that step.
    /// </summary>
    public int InPlaceSource(int task) => _inPlaceSource is null ? -1 : _inPlaceSource[task];

    /// <summary>True when some task may run in place (<see cref="InPlaceSource"/>).</summary>
    public bool HasInPlace => _inPlaceSource is not null;

    /// <summary>
    /// The most a step of the task can save by running in place: its source's bytes, 0 for a task with no source.
    /// Anything that counts a task's inputs and output as live together at its step (the memory floor, the bounds'
    /// relaxations) subtracts this to stay below the simulator's count.
    /// </summary>
    public long InPlaceSaving(int task) => InPlaceSource(task) is >= 0 and var s ? Tasks[s].Bytes : 0;

    /// <summary>The readers array itself: tasks read by the same groups of tasks share one (for caches keyed by it).</summary>
    internal int[] ReadersArray(int task) => _readers[task];

    /// <summary>True when the DAG has backward tasks (derived or explicit): the canonical solvers need that split.</summary>
    public bool HasBackward => Tasks.Any(t => t.Kind == TaskKind.Backward);

    /// <summary>
    /// The readers of every task, sorted. Tasks that share one inputs array (<see cref="TaskSet"/> interns them) are
    /// one group, and buffers read by the same groups share one readers array: one input read by W branches joined by
    /// a Concat whose backward reads every operand gives W gradient tasks that read the same W + 1 buffers, which is
    /// W² edges but only one distinct inputs array and one distinct readers array.
    /// </summary>
    private static int[][] ReadersOf(ImmutableArray<TrainingTask> tasks)
    {
        var groupOf = new Dictionary<int[], int>(ReferenceEqualityComparer.Instance);
        var groups = new List<(int[] Inputs, List<int> Tasks)>();
        foreach (var t in tasks)
        {
            var inputs = System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsArray(t.Inputs) ?? [];
            if (inputs.Length == 0) continue;
            if (!groupOf.TryGetValue(inputs, out int g)) { groupOf[inputs] = g = groups.Count; groups.Add((inputs, [])); }
            groups[g].Tasks.Add(t.Id);
        }
        var signature = new List<int>?[tasks.Length];
        for (int g = 0; g < groups.Count; g++)
            foreach (int p in groups[g].Inputs) (signature[p] ??= []).Add(g);
        var shared = new Dictionary<int[], int[]>(SequenceComparer.Instance);
        var readers = new int[tasks.Length][];
        for (int p = 0; p < tasks.Length; p++)
        {
            if (signature[p] is not { } sig) { readers[p] = []; continue; }
            var key = sig.ToArray();
            if (!shared.TryGetValue(key, out var r))
            {
                var all = new List<int>();
                foreach (int g in key) all.AddRange(groups[g].Tasks);
                all.Sort();
                shared[key] = r = [.. all];
            }
            readers[p] = r;
        }
        return readers;
    }

    /// <summary>Equality of int arrays by content (interning inputs and readers arrays).</summary>
    private sealed class SequenceComparer : IEqualityComparer<int[]>
    {
        public static readonly SequenceComparer Instance = new();
        public bool Equals(int[]? x, int[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));
        public int GetHashCode(int[] a)
        {
            var h = new HashCode();
            h.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()));
            return h.ToHashCode();
        }
    }

    /// <summary>
    /// The buffers one gradient task reads, collected without a sorted set per task: members are marked in an array
    /// over the tasks, and the sorted result is interned, so tasks that read the same buffers share one array.
    /// </summary>
    private sealed class TaskSet(int capacity)
    {
        private readonly int[] _mark = new int[capacity];
        private readonly List<int> _members = [];
        private readonly Dictionary<int[], ImmutableArray<int>> _interned = new(SequenceComparer.Instance);
        private int _stamp = 1;

        public void Add(int task)
        {
            if (_mark[task] == _stamp) return;
            _mark[task] = _stamp;
            _members.Add(task);
        }

        /// <summary>The members in the order added, not interned; the set is empty afterwards.</summary>
        public List<int> TakeMembers()
        {
            var members = new List<int>(_members);
            _members.Clear();
            _stamp++;
            return members;
        }

        /// <summary>The members, sorted and interned; the set is empty afterwards.</summary>
        public ImmutableArray<int> TakeSorted()
        {
            int[] sorted;
            if (_members.Count * 16L > _mark.Length)
            {
                // Dense: a scan of the marks is cheaper than sorting (and linear in the tasks).
                sorted = new int[_members.Count];
                for (int t = 0, i = 0; t < _mark.Length; t++) if (_mark[t] == _stamp) sorted[i++] = t;
            }
            else { _members.Sort(); sorted = [.. _members]; }
            _members.Clear();
            _stamp++;
            if (!_interned.TryGetValue(sorted,
                out var shared)) _interned[sorted] = shared = System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsImmutableArray(sorted);
            return shared;
        }
    }

    /// <summary>Derives the training DAG of a graph (or takes its explicit backward pass as given).</summary>
    public static TrainingGraph Derive(ComputationGraph g) => g.HasExplicitBackward ? FromExplicit(g) : FromForward(g);

    /// <summary>
    /// The DAG as the file gives it, with no derived gradients: every planned node is one task that reads its
    /// planned inputs, in graph order (the file's order wherever it is topological). A graph with explicit backward
    /// nodes gives the same tasks as <see cref="Derive"/>; a forward-only graph (Moccasin's random layered graphs)
    /// gives forward tasks only, and any of them may be recomputed.
    /// </summary>
    public static TrainingGraph AsGiven(ComputationGraph g)
    {
        if (g.HasExplicitBackward) return FromExplicit(g);
        var fwd = Enumerable.Repeat(-1, g.Count).ToArray();
        var grad = Enumerable.Repeat(-1, g.Count).ToArray();
        var tasks = ImmutableArray.CreateBuilder<TrainingTask>();
        AddForwardTasks(g, fwd, tasks);
        return new TrainingGraph(g, tasks.ToImmutable(), fwd, grad, explicitBackward: true);
    }

    /// <summary>One forward task per planned tensor, in graph order, reading the tasks of its planned inputs.</summary>
    /// <remarks>
    /// With <paramref name="root"/> (the buffer owner of every tensor, itself unless it is a view of a planned tensor): a
    /// view's task owns no bytes and costs no time, and whatever reads a view also reads the view's root, so that the
    /// root's buffer lives as long as any alias of it is read and is freed after the last one (the bytes belong to the
    /// base). A view of a parameter (a weight's transpose) is its own root: the parameter is resident.
    /// </remarks>
    private static void AddForwardTasks(ComputationGraph g, int[] fwd, ImmutableArray<TrainingTask>.Builder tasks, int[]? root = null, ViewOf?[]? views = null)
    {
        foreach (var node in g.Nodes)
        {
            if (!node.IsPlanned) continue;
            int id = tasks.Count;
            fwd[node.Id] = id;
            var reads = new SortedSet<int>();
            foreach (int p in node.Inputs)
            {
                if (!g[p].IsPlanned) continue;
                reads.Add(fwd[p]);
                if (root is not null) reads.Add(fwd[root[p]]);
            }
            bool view = views is not null && views[node.Id] is not null;
            tasks.Add(new TrainingTask(id, node.Name, TaskKind.Forward, node.Id, node.Id, view ? 0 : node.Bytes, view ? 0 : node.Time, [.. reads]));
        }
    }

    private static TrainingGraph FromExplicit(ComputationGraph g)
    {
        var fwd = Enumerable.Repeat(-1, g.Count).ToArray();
        var grad = Enumerable.Repeat(-1, g.Count).ToArray();
        var tasks = ImmutableArray.CreateBuilder<TrainingTask>();
        var taskOf = Enumerable.Repeat(-1, g.Count).ToArray();
        foreach (var pass in new[] { false, true })
            foreach (var n in g.Nodes)
            {
                if (!n.IsPlanned || n.IsBackward != pass) continue;
                int id = tasks.Count;
                taskOf[n.Id] = id;
                if (!pass) fwd[n.Id] = id; else if (n.ForwardOf >= 0) grad[n.ForwardOf] = id;
                tasks.Add(new TrainingTask(id, n.Name, pass ? TaskKind.Backward : TaskKind.Forward, n.Id, pass ? n.ForwardOf : n.Id,
                    n.Bytes, n.Time, []));
            }
        for (int i = 0; i < tasks.Count; i++)
        {
            var n = g[tasks[i].Node];
            var inputs = n.Inputs.Select(p => taskOf[p]).Where(t => t >= 0).Distinct().Order().ToImmutableArray();
            if (inputs.Any(t => t >= i))
                throw new GraphFormatException(g.Source, $"tensor '{n.Name}'", "a forward node reads a backward node");
            tasks[i] = tasks[i] with { Inputs = inputs };
        }
        return new TrainingGraph(g, tasks.ToImmutable(), fwd, grad, explicitBackward: true);
    }

    private static TrainingGraph FromForward(ComputationGraph g)
    {
        int n = g.Count;
        var fwd = Enumerable.Repeat(-1, n).ToArray();
        var grad = Enumerable.Repeat(-1, n).ToArray();
        var tasks = ImmutableArray.CreateBuilder<TrainingTask>();
        var views = new ViewOf?[n];
        var root = new int[n];
        for (int v = 0; v < n; v++)
        {
            views[v] = Views.Of(g, g[v]);
            root[v] = views[v] is { } w && g[w.Base].IsPlanned ? root[w.Base] : v;
        }
        AddForwardTasks(g, fwd, tasks, root, views);

        // Which planned tensors need a gradient: those from which a loss is reachable through planned tensors.
        var needsGrad = new bool[n];
        for (int v = n - 1; v >= 0; v--)
        {
            var node = g[v];
            if (!node.IsPlanned) continue;
            if (node.Kind == NodeKind.Loss) { needsGrad[v] = true; continue; }
            foreach (var s in g.Successors(v))
                if (needsGrad[s] && GradientFlows(g[s], v)) { needsGrad[v] = true; break; }
        }

        // The gradient of a tensor whose one gradient-carrying reader is a whole view of it is that view's gradient
        // under the tensor's shape: no buffer of its own (gradRoot: the gradient buffer each gradient lives in). A
        // transposed view's gradient is written in its base's layout, so it aliases the same way.
        var alias = Enumerable.Repeat(-1, n).ToArray();
        var gradRoot = Enumerable.Range(0, n).ToArray();
        for (int v = n - 1; v >= 0; v--)
        {
            if (!needsGrad[v] || g[v].Kind == NodeKind.Loss) continue;
            var readers = g.Successors(v).ToArray().Distinct().Where(s => needsGrad[s] && GradientFlows(g[s], v)).ToList();
            if (readers.Count != 1 || views[readers[0]] is not { } w || w.Base != v || !w.IsWhole(g)
                || g[readers[0]].Inputs.Count(p => p == v) != 1) continue;
            alias[v] = readers[0];
            gradRoot[v] = gradRoot[readers[0]];
        }

        // Gradient tasks in reverse topological order of the forward graph.
        for (int v = n - 1; v >= 0; v--)
        {
            if (!needsGrad[v]) continue;
            grad[v] = tasks.Count;
            bool aliased = alias[v] >= 0;
            tasks.Add(new TrainingTask(tasks.Count, $"grad({g[v].Name})", TaskKind.Backward, v, v, aliased ? 0 : g[v].Bytes,
                aliased ? 0 : g[v].BackwardTime, []));
        }
        var reads = new TaskSet(tasks.Count);
        var hasParameters = g.Nodes.Select(node => HasParameters(g, node)).ToArray(); // once per op, not per operand
        var recipes = new ReadRecipes();
        for (int i = 0; i < tasks.Count; i++)
        {
            var t = tasks[i];
            if (t.Kind != TaskKind.Backward) continue;
            var v = g[t.Node];
            var paramOps = new List<int>();
            recipes.Begin();
            foreach (var s in g.Successors(v.Id))
            {
                if (!needsGrad[s] || !GradientFlows(g[s], v.Id)) continue;
                recipes.Single(grad[s]);
                recipes.Single(grad[gradRoot[s]]);
                var reader = g[s];
                // Every operand index at which the reader reads v, saved-for once together (an op may read v 200,000 times).
                var at = new List<int>();
                for (int k = 0; k < reader.Inputs.Length; k++)
                    if (reader.Inputs[k] == v.Id) at.Add(k);
                recipes.Saved(g, reader, reader.SavedForAny(at), fwd, root, reads);
                if (hasParameters[s] && FirstGradientOperand(g, reader, needsGrad) == v.Id)
                {
                    AddParameterSaved(g, reader, fwd, root, reads, recipes);
                    paramOps.Add(s);
                }
            }
            if (hasParameters[v.Id] && FirstGradientOperand(g, v, needsGrad) < 0)
            {
                AddParameterSaved(g, v, fwd, root, reads, recipes);
                paramOps.Add(v.Id);
            }
            paramOps.Sort();
            tasks[i] = t with { Inputs = recipes.Take(reads), ParameterGradientsOf = [.. paramOps] };
        }
        var inPlace = InPlaceSources(g, tasks, fwd, grad, views, alias, needsGrad);
        return new TrainingGraph(g, tasks.ToImmutable(), fwd, grad, explicitBackward: false, views, alias, inPlace);
    }

    /// <summary>
    /// Per task, the input whose buffer it may take over (<see cref="InPlaceSource"/>), or -1. A forward Relu y = max(x, 0)
    /// reads one buffer, x (not a view: a view's reader reads its root too), of its own bytes. The gradient of x whose
    /// one gradient-carrying reader is a Relu y (x read once by it) is dX = dY·(y &gt; 0), element by element over dY of
    /// its own bytes; it accumulates no parameter gradient but its own op's (which reads dX itself). The same holds for
    /// the data gradient of a BatchNormalization's input, whose scale and bias gradients, read from dY, the runtime
    /// accumulates before it writes dX.
    /// </summary>
    private static int[] InPlaceSources(ComputationGraph g, ImmutableArray<TrainingTask>.Builder tasks, int[] fwd, int[] grad, ViewOf?[] views,
        int[] alias, bool[] needsGrad)
    {
        var source = Enumerable.Repeat(-1, tasks.Count).ToArray();
        foreach (var node in g.Nodes)
        {
            if (node.Op != "Relu" || !node.IsPlanned || views[node.Id] is not null || fwd[node.Id] < 0 || node.Inputs.Length != 1) continue;
            var t = tasks[fwd[node.Id]];
            var x = g[node.Inputs[0]];
            if (t.Bytes > 0 && t.Inputs.Length == 1 && t.Inputs[0] == fwd[x.Id] && x.IsPlanned && tasks[t.Inputs[0]].Bytes == t.Bytes && x.DType == node.DType)
                source[t.Id] = t.Inputs[0];
        }
        for (int v = 0; v < g.Count; v++)
        {
            if (grad[v] < 0 || alias[v] >= 0 || g[v].Kind == NodeKind.Loss) continue;
            var t = tasks[grad[v]];
            int reader = -1, readers = 0;
            foreach (var s in g.Successors(v).ToArray().Distinct())
                if (needsGrad[s] && GradientFlows(g[s], v)) { reader = s; readers++; }
            if (readers != 1) continue;
            var r = g[reader];
            if (grad[reader] < 0 || alias[reader] >= 0 || r.DType != g[v].DType) continue;
            // Relu: dX = dY·(y > 0). BatchNormalization (v its data operand only, its scale and bias gradients
            // accumulated here from dY before dX is written): dX = a·(x − μ) + b·dY + k per channel, element by
            // element over dY once the channel's sums over dY are taken.
            bool relu = r.Op == "Relu" && r.Inputs.Length == 1;
            bool norm = r.Op == "BatchNormalization" && r.OutputIndex == 0 && r.Inputs.Length >= 3 && r.Inputs[0] == v && r.Inputs.Skip(1).All(i => i != v);
            if (!relu && !norm) continue;
            int dy = grad[reader];
            if (t.Bytes == 0 || tasks[dy].Bytes != t.Bytes || !t.Inputs.Contains(dy) || t.ParameterGradientsOf.Any(o => o != v && !(norm && o == reader))) continue;
            source[t.Id] = dy;
        }
        return source;
    }

    /// <summary>Shape-only and index operands (Reshape's shape, Gather's indices) carry no gradient.</summary>
    private static bool GradientFlows(Node reader,
        int operand) => reader.Inputs.Contains(operand) && reader.DType is not ("int64" or "int32" or "bool");

    private static bool HasParameters(ComputationGraph g, Node op) => op.Inputs.Any(p => g[p].Kind == NodeKind.Parameter);

    /// <summary>The first operand of an op that takes a gradient, or -1.</summary>
    private static int FirstGradientOperand(ComputationGraph g, Node op, bool[] needsGrad)
    {
        foreach (var p in op.Inputs)
            if (g[p].IsPlanned && needsGrad[p] && GradientFlows(op, p)) return p;
        return -1;
    }

    /// <summary>The planned values a vector-Jacobian product reads, given what it saves (<see cref="Node.SavedFor"/>,
    /// <see cref="Node.SavedForAny"/>).</summary>
    /// <remarks>A view read for the backward keeps its root's buffer alive too (see <see cref="AddForwardTasks"/>).</remarks>
    private static void AddSaved(ComputationGraph g, Node op, (ImmutableArray<int> Inputs, bool Output,
        ImmutableArray<int> OtherOutputs) saved, int[] fwd, int[] root, TaskSet reads)
    {
        var (inputs, output, others) = saved;
        foreach (int j in inputs)
        {
            int p = op.Inputs[j];
            if (!g[p].IsPlanned) continue;
            reads.Add(fwd[p]);
            reads.Add(fwd[root[p]]);
        }
        if (output && op.IsPlanned)
        {
            reads.Add(fwd[op.Id]);
            reads.Add(fwd[root[op.Id]]);
        }
        foreach (int index in others)
            if (g.OutputOf(op.Id, index) is >= 0 and var o && g[o].IsPlanned)
            {
                reads.Add(fwd[o]);
                reads.Add(fwd[root[o]]);
            }
    }

    /// <summary>What the gradients of an op's parameters read.</summary>
    private static void AddParameterSaved(ComputationGraph g, Node op, int[] fwd, int[] root, TaskSet reads, ReadRecipes recipes)
    {
        var ks = new List<int>();
        for (int k = 0; k < op.Inputs.Length; k++)
            if (g[op.Inputs[k]].Kind == NodeKind.Parameter) ks.Add(k);
        if (ks.Count > 0) recipes.Saved(g, op, op.SavedForAny(ks), fwd, root, reads);
    }

    /// <summary>
    /// What one gradient task reads, as a recipe: single buffers and the saved values of whole ops. An op whose saved
    /// operands are one shared array (a native op's <c>backwardNeeds</c>, every operand when it has none) gives every
    /// gradient task that reads it the same part, expanded once; a recipe met before gives its interned inputs
    /// without expanding anything. A W-wide Concat whose backward reads every operand otherwise enumerated W reads
    /// for each of its W operands' gradients: 4·10⁸ at W = 20,000.
    /// </summary>
    private sealed class ReadRecipes
    {
        private readonly List<int> _singles = [];
        private readonly List<int> _parts = [];
        private readonly Dictionary<(int Op, int[] Inputs, bool Output), int> _partOf = [];
        private readonly List<int[]> _partTasks = [];
        private readonly Dictionary<string, ImmutableArray<int>> _interned = [];

        public void Begin() { _singles.Clear(); _parts.Clear(); }

        public void Single(int task) => _singles.Add(task);

        /// <summary>The planned values an op's vector-Jacobian product reads (<see cref="AddSaved"/>), as singles or one shared part.</summary>
        public void Saved(ComputationGraph g, Node op, (ImmutableArray<int> Inputs, bool Output, ImmutableArray<int> OtherOutputs) saved, int[] fwd, int[] root, TaskSet scratch)
        {
            var array = System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsArray(saved.Inputs);
            if (array is null || array.Length < SharedInputsLength || !saved.OtherOutputs.IsDefaultOrEmpty)
            {
                AddSaved(g, op, saved, fwd, root, scratch);
                foreach (int t in scratch.TakeMembers()) _singles.Add(t);
                return;
            }
            var key = (op.Id, array, saved.Output);
            if (!_partOf.TryGetValue(key, out int part))
            {
                AddSaved(g, op, saved, fwd, root, scratch);
                _partOf[key] = part = _partTasks.Count;
                _partTasks.Add([.. scratch.TakeMembers()]);
            }
            _parts.Add(part);
        }

        /// <summary>The recipe's buffers, sorted and interned.</summary>
        public ImmutableArray<int> Take(TaskSet scratch)
        {
            if (_parts.Count == 0)
            {
                foreach (int t in _singles) scratch.Add(t);
                return scratch.TakeSorted();
            }
            _singles.Sort();
            _parts.Sort();
            string key = string.Join(',', _singles) + "|" + string.Join(',', _parts);
            if (_interned.TryGetValue(key, out var inputs)) return inputs;
            foreach (int t in _singles) scratch.Add(t);
            foreach (int p in _parts) foreach (int t in _partTasks[p]) scratch.Add(t);
            return _interned[key] = scratch.TakeSorted();
        }
    }
}
