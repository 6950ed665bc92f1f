using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>What one execution of a schedule measured.</summary>
/// <param name="Loss">Value of the loss tensor.</param>
/// <param name="MeasuredPeakBytes">Peak live bytes of activations and activation gradients (comparable with the simulated peak).</param>
/// <param name="ScratchPeakBytes">Peak bytes of kernel scratch buffers (not part of the planned peak).</param>
/// <param name="Seconds">Wall-clock time of the run.</param>
/// <param name="Recomputations">Number of recompute steps executed (each checked bitwise against the first computation when checking is on).</param>
/// <param name="LiveBytes">Live planned bytes after each step (the measured counterpart of the simulator's timeline).</param>
/// <param name="OpSeconds">Seconds spent in each op type, sorted by key: the op's name for its forward and recompute
/// passes, "op ∂input" for its vector-Jacobian products to activations and "op ∂param" for its parameter gradients.</param>
/// <param name="StepSeconds">Seconds of each schedule step by <see cref="ScheduleExecutor.Clock"/>, in order (a compute or
/// recompute step includes allocating its output; a backward step all of its vector-Jacobian products and parameter gradients).</param>
/// <param name="ClockSeconds">Seconds of the whole run by <see cref="ScheduleExecutor.Clock"/> (equal to <paramref
/// name="Seconds"/> for the wall clock).</param>
public sealed record ExecutionResult(float Loss, long MeasuredPeakBytes, long ScratchPeakBytes, double Seconds, int Recomputations, ImmutableArray<long> LiveBytes,
    ImmutableSortedDictionary<string, double> OpSeconds, ImmutableArray<double> StepSeconds = default, double ClockSeconds = double.NaN)
{
    /// <summary>Peak bytes of offloaded values in the host arena (comparable with the simulator's host peak).</summary>
    public long MeasuredHostPeakBytes { get; init; }
}

/// <summary>A recomputed tensor differs from its first computation: a non-deterministic kernel or a bug.</summary>
public sealed class RecomputationMismatchException(string tensor)
    : Exception($"the recomputation of '{tensor}' is not bitwise equal to its first computation");

/// <summary>
/// Runs a <see cref="Schedule"/> step by step on real tensors. Every task's buffer comes from the arena:
/// compute/recompute allocate a forward value, backward allocates the gradient of a tensor (the sum over its
/// readers of their vector-Jacobian products, then the parameter gradients of the ops listed in
/// <see cref="TrainingTask.ParameterGradientsOf"/> are accumulated), and
/// free steps return buffers. The arena's planned peak is therefore the simulator's peak, byte for byte.
/// </summary>
internal sealed partial class ScheduleExecutor
{
    private readonly TrainingGraph _training;
    private readonly ComputationGraph _graph;
    private readonly ModelState _model;
    private readonly Arena _arena;
    private readonly Operator?[] _ops;
    private readonly int[][] _shapes;
    private readonly int[] _elementBytes;
    private readonly int[][] _positions;
    // Per node: a transposed view's element strides in its base's layout (its value's and its gradient's), else null.
    private readonly int[]?[] _strides;
    private readonly Tensor?[] _buffers;
    // Offloaded values: host copies in an arena of their own, so that the device arena measures device memory only.
    private readonly Arena _hostArena = new();
    private readonly Tensor?[] _hostCopies;
    private readonly bool[] _prefetching;
    // Backward tasks whose parameter gradients this run has accumulated: a schedule may run a gradient task again
    // (the simulator allows it), and the parameters must get its contribution once.
    private readonly bool[] _parametersAccumulated;
    private readonly ulong[] _checksums;
    private readonly bool[] _hasChecksum;
    // The tasks the schedule being run computes more than once: only their outputs are checksummed.
    private readonly bool[] _recomputed;
    // Per step of the schedule being run: the task whose buffer the step takes over (ReLU in place), or -1.
    private int[] _inPlace = [];
    // Tasks whose buffer a step in place took over: their free returns nothing.
    private readonly bool[] _passedOn;
    private Schedule? _checkedSchedule;
    private readonly Dictionary<string, long> _opTicks = new(StringComparer.Ordinal);
    // Per node: the keys its op's time is charged to (forward, gradient to activations, parameter gradients), built
    // once so that charging allocates nothing.
    private readonly (string Forward, string Input, string Parameter)[] _opKeys;
    // Per node, reused by every call of its op (calls of one node never overlap, and an op keeps no OpCall): its
    // operands in input order, the same by ONNX position, the shapes and strides by position, and what each operand's
    // backward keeps. A steady-state step then allocates no arrays per op call.
    private readonly Tensor?[][] _callInputs;
    private readonly Tensor?[][] _callValues;
    private readonly int[]?[][] _callShapes;
    private readonly int[]?[]?[] _callStrides;
    private readonly (ImmutableArray<int> Inputs, bool Output, ImmutableArray<int> OtherOutputs)?[][] _savedFor;
    private readonly OpCall?[] _calls;
    // BatchNormalization's running statistics: per node, the slot of the running mean or variance it computes (-1: none).
    private readonly int[] _statisticSlot;
    private readonly List<(int Parameter, float[] Value)> _statistics = [];
    private bool _statisticsComputed;

    public ScheduleExecutor(TrainingGraph training, ModelState model)
    {
        _training = training; _graph = training.Graph; _model = model; _arena = model.Arena;
        if (!ReferenceEquals(model.Graph, _graph)) throw new ArgumentException("the model state belongs to another graph", nameof(model));
        (_ops, _shapes, _elementBytes, _positions) = Prepare(training);
        _strides = new int[]?[_graph.Count];
        foreach (var node in _graph.Nodes)
            if (training.ViewOf(node.Id)?.Strides(_graph) is { } strides) _strides[node.Id] = strides.Select(d => checked((int)d)).ToArray();
        _buffers = new Tensor?[training.Count];
        _hostCopies = new Tensor?[training.Count];
        _prefetching = new bool[training.Count];
        _parametersAccumulated = new bool[training.Count];
        _checksums = new ulong[training.Count];
        _hasChecksum = new bool[training.Count];
        _recomputed = new bool[training.Count];
        _passedOn = new bool[training.Count];
        _opKeys = new (string, string, string)[_graph.Count];
        _callInputs = new Tensor?[_graph.Count][];
        _callValues = new Tensor?[_graph.Count][];
        _callShapes = new int[]?[_graph.Count][];
        _callStrides = new int[]?[]?[_graph.Count];
        _savedFor = new (ImmutableArray<int>, bool, ImmutableArray<int>)?[_graph.Count][];
        _calls = new OpCall?[_graph.Count];
        foreach (var node in _graph.Nodes)
        {
            _opKeys[node.Id] = (node.Op, node.Op + " ∂input", node.Op + " ∂param");
            var positions = _positions[node.Id];
            int arity = positions.Length == 0 ? 0 : positions.Max() + 1;
            _callInputs[node.Id] = new Tensor?[node.Inputs.Length];
            _callValues[node.Id] = new Tensor?[arity];
            _callShapes[node.Id] = new int[]?[arity];
            _savedFor[node.Id] = new (ImmutableArray<int>, bool, ImmutableArray<int>)?[node.Inputs.Length];
            for (int k = 0; k < positions.Length; k++)
            {
                _callShapes[node.Id][positions[k]] = _shapes[node.Inputs[k]];
                if (_strides[node.Inputs[k]] is { } strides) (_callStrides[node.Id] ??= new int[]?[arity])[positions[k]] = strides;
            }
        }
        _statisticSlot = new int[_graph.Count];
        Array.Fill(_statisticSlot, -1);
        foreach (var node in _graph.Nodes)
        {
            // Outputs 1 and 2 in training mode: the updated running mean and variance of the operands at positions 3 and 4.
            if (node.Op != "BatchNormalization" || node.OutputIndex is not (1 or 2) || node.AttributeLong("training_mode", 0) == 0) continue;
            int j = Array.IndexOf(_positions[node.Id], node.OutputIndex + 2);
            if (j < 0 || _graph[node.Inputs[j]].Kind != NodeKind.Parameter) continue;
            _statisticSlot[node.Id] = _statistics.Count;
            _statistics.Add((node.Inputs[j], new float[_model.Value(node.Inputs[j]).Length]));
        }
    }

    /// <summary>
    /// Writes the running mean and variance that the last <see cref="Run"/> computed (BatchNormalization's outputs 1 and 2
    /// in training mode) into the parameters they update, as a framework's training step does. Called by
    /// <see cref="TrainingSession.Step(TrainingBatch, CancellationToken)"/> after the optimizer's update.
    /// </summary>
    internal void ApplyRunningStatistics()
    {
        if (!_statisticsComputed) return;
        foreach (var (parameter, value) in _statistics) value.CopyTo(_model.Value(parameter).Span);
        _statisticsComputed = false;
    }

    /// <summary>Check recomputed values bitwise against their first computation (default on).</summary>
    public bool CheckRecomputation { get; init; } = true;

    /// <summary>The clock of <see cref="ExecutionResult.StepSeconds"/> and <see cref="ExecutionResult.ClockSeconds"/>
    /// (default: wall clock).</summary>
    public ExecutionClock Clock { get; init; } = ExecutionClock.WallClock;

    /// <summary>Called after every compute or recompute step with the step and the value it produced (for tests and tracing).</summary>
    public Action<Step, Tensor>? ValueComputed { get; init; }

    /// <summary>
    /// Checks that the runtime can execute a training graph: every planned op is supported, its declared bytes match
    /// its shape and dtype (so that measured bytes are the planned bytes), and every op's backward reads only what the
    /// memory model keeps for it. Throws <see cref="GraphFormatException"/> naming the tensor at fault.
    /// </summary>
    public static void Check(TrainingGraph training) => Prepare(training);

    private static (Operator?[] Ops, int[][] Shapes, int[] ElementBytes, int[][] Positions) Prepare(TrainingGraph training)
    {
        var graph = training.Graph;
        int n = graph.Count;
        var ops = new Operator?[n];
        var shapes = new int[n][];
        var elementBytes = new int[n];
        var positions = new int[n][];
        foreach (var node in graph.Nodes)
        {
            positions[node.Id] = DTypes.OperandPositions(node);
            shapes[node.Id] = DTypes.Shape(node);
            try { elementBytes[node.Id] = ElementTypes.BytesOf(node.DType); }
            catch (ArgumentException e) { throw new GraphFormatException(graph.Source, $"tensor '{node.Name}'",
                $"the runtime cannot hold it: {e.Message}", e); }
            if (!node.IsPlanned) continue;
            if (node.IsBackward) throw new GraphFormatException(graph.Source, $"tensor '{node.Name}'",
                "graphs with an explicit backward pass cannot be executed; the runtime derives the backward itself");
            ops[node.Id] = OperatorRegistry.For(graph, node);
            long bytes = (long)Tensor.SizeOf(shapes[node.Id]) * elementBytes[node.Id];
            if (bytes != node.Bytes)
                throw new GraphFormatException(graph.Source, $"tensor '{node.Name}'",
                    $"declares {node.Bytes} bytes but its shape [{string.Join(",", node.Shape)}] of {node.DType} holds {bytes}; the runtime cannot match the planned memory");
        }
        // The backward of every op may read only what the memory model keeps for it. Nodes that follow the table keep
        // exactly what it lists; nodes with their own per-node needs (older native files) must keep at least that, or
        // the input where the table reads the output (those backwards recompute the output from it).
        foreach (var node in graph.Nodes)
        {
            if (!node.IsPlanned || node.SavedByRule || training.GradTaskOf(node.Id) < 0) continue;
            for (int k = 0; k < node.Inputs.Length; k++)
            {
                var operand = graph[node.Inputs[k]];
                if (!(operand.IsPlanned || operand.Kind == NodeKind.Parameter) || !ops[node.Id]!.IsDifferentiable(node,
                    positions[node.Id][k])) continue;
                if (SavedTensors.ForGradientOf(node.Op, positions[node.Id][k]) is not { } rule) continue;
                var (kept, keptOutput, _) = node.SavedFor(k);
                bool Kept(int position)
                {
                    int j = Array.IndexOf(positions[node.Id], position);
                    return j < 0 || !graph[node.Inputs[j]].IsPlanned || kept.Contains(j);
                }
                foreach (int position in rule.Operands)
                    if (!Kept(position))
                        throw new GraphFormatException(graph.Source, $"tensor '{node.Name}'",
                            $"the backward of {node.Op} reads operand #{position}, but the graph's backward needs are [{string.Join(",", node.BackwardNeeds)}]");
                if (rule.Output && !keptOutput && !Kept(0))
                    throw new GraphFormatException(graph.Source, $"tensor '{node.Name}'",
                        $"the backward of {node.Op} reads its own output (or its input), but the graph keeps neither for its backward");
            }
        }
        return (ops, shapes, elementBytes, positions);
    }

    /// <summary>Runs one training step (forward and backward) by the schedule; parameter gradients are accumulated in the model state.</summary>
    /// <exception cref="OperationCanceledException">Cancelled between two steps; every buffer of the run is freed, and
    /// parameter gradients are left partial (the caller does not update with them).</exception>
    public ExecutionResult Run(Schedule schedule, TrainingBatch batch, ulong randomSeed, CancellationToken cancellation = default)
    {
        if (!ReferenceEquals(schedule.Training, _training) && !ReferenceEquals(schedule.Training.Graph, _graph))
            throw new ArgumentException("the schedule was planned for another graph", nameof(schedule));
        foreach (var node in _graph.Nodes)
            if (node.Kind == NodeKind.Input && !batch.Contains(node.Id))
                throw new ArgumentException($"the batch has no value for input '{node.Name}'", nameof(batch));
        _model.BeginGradients(poison: RentedMemory == RentedMemory.Poisoned);
        _statisticsComputed = false;
        Array.Clear(_hasChecksum);
        Array.Clear(_parametersAccumulated);
        if (!ReferenceEquals(schedule, _checkedSchedule))
        {
            Array.Clear(_recomputed);
            foreach (var s in schedule.Steps)
                if (s.Kind == StepKind.Recompute) _recomputed[s.Task] = true;
            _inPlace = InPlaceSteps.Of(schedule);
            _checkedSchedule = schedule;
        }
        _opTicks.Clear();
        _arena.ResetPeaks();
        _hostArena.ResetPeaks();
        long baseline = _arena.PlannedLiveBytes;
        var trace = ImmutableArray.CreateBuilder<long>(schedule.Steps.Length);
        var stepTicks = new long[schedule.Steps.Length];
        float loss = float.NaN;
        int recomputations = 0;
        var clock = Stopwatch.StartNew();
        long runStart = ClockSource.Now(Clock);
        try
        {
            for (int i = 0; i < schedule.Steps.Length; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                var step = schedule.Steps[i];
                var task = _training.Tasks[step.Task];
                long stepStart = ClockSource.Now(Clock);
                switch (step.Kind)
                {
                    case StepKind.Compute or StepKind.Recompute:
                    {
                        var value = Forward(task, batch, randomSeed, CheckRecomputation, _inPlace[i]);
                        if (step.Kind == StepKind.Recompute) recomputations++;
                        ValueComputed?.Invoke(step, value);
                        if (_graph[task.Node].Kind == NodeKind.Loss) loss = value.Span[0];
                        if (_statisticSlot[task.Node] >= 0) value.Span.CopyTo(_statistics[_statisticSlot[task.Node]].Value);
                        break;
                    }
                    case StepKind.Backward:
                        Backward(task, batch, randomSeed, _inPlace[i]);
                        break;
                    case StepKind.FreeValue or StepKind.FreeGrad:
                        var buffer = _buffers[task.Id] ?? throw new InvalidScheduleException(i, $"frees '{task.Name}', which is not live");
                        // A buffer a step in place took over is its output's now: nothing to return.
                        if (_passedOn[task.Id]) _passedOn[task.Id] = false;
                        else buffer.Dispose();
                        _buffers[task.Id] = null;
                        break;
                    case StepKind.Offload:
                    {
                        // On the CPU the link is a copy: done when the step is, so the wait on it has nothing to wait for.
                        var value = _buffers[task.Id] ?? throw new InvalidScheduleException(i, $"offloads '{task.Name}', which is not live");
                        // The copy writes every element: the pooled buffer is not cleared first.
                        var host = _hostArena.Allocate(MemoryCategory.Activation, value.Shape, value.ElementBytes, shareShape: false, zeroed: false);
                        value.Span.CopyTo(host.Span);
                        _hostCopies[task.Id] = host;
                        break;
                    }
                    case StepKind.Prefetch:
                    {
                        var host = _hostCopies[task.Id] ?? throw new InvalidScheduleException(i, $"prefetches '{task.Name}', which has no host copy");
                        var value = _arena.Allocate(MemoryCategory.Activation, _shapes[task.Node], _elementBytes[task.Node], shareShape: false, zeroed: false);
                        host.Span.CopyTo(value.Span);
                        _buffers[task.Id] = value;
                        _prefetching[task.Id] = true;
                        break;
                    }
                    case StepKind.Wait:
                        // The wait that ends a prefetch frees the host copy, as the simulator counts it.
                        if (_prefetching[task.Id])
                        {
                            _prefetching[task.Id] = false;
                            _hostCopies[task.Id]!.Dispose();
                            _hostCopies[task.Id] = null;
                        }
                        break;
                }
                stepTicks[i] = ClockSource.Now(Clock) - stepStart;
                trace.Add(_arena.PlannedLiveBytes - baseline);
            }
        }
        finally
        {
            // A failed run must not leak planned bytes into the next one.
            for (int t = 0; t < _buffers.Length; t++)
                if (_buffers[t] is { } b) { if (!_passedOn[t]) b.Dispose(); _buffers[t] = null; }
            Array.Clear(_passedOn);
            for (int t = 0; t < _hostCopies.Length; t++)
                if (_hostCopies[t] is { } h) { h.Dispose(); _hostCopies[t] = null; }
            Array.Clear(_prefetching);
        }
        _model.FinishGradients();
        _statisticsComputed = _statistics.Count > 0;
        clock.Stop();
        double clockSeconds = (ClockSource.Now(Clock) - runStart) * 1e-9;
        return new ExecutionResult(loss, _arena.PlannedPeakBytes - baseline, _arena.PeakBytes(MemoryCategory.Scratch), clock.Elapsed.TotalSeconds,
            recomputations, trace.MoveToImmutable(),
            _opTicks.ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value / (double)Stopwatch.Frequency, StringComparer.Ordinal),
            stepTicks.Select(t => t * 1e-9).ToImmutableArray(), clockSeconds) { MeasuredHostPeakBytes = _hostArena.PlannedPeakBytes };
    }

    /// <summary>
    /// Runs the forward pass alone, in graph order, with the operators of a training step (BatchNormalization by batch
    /// statistics as the graph says, dropout from <paramref name="randomSeed"/>), freeing each value after its last
    /// reader, and returns the loss and copies of the <paramref name="outputs"/> (graph node ids).
    /// </summary>
    public (float Loss, IReadOnlyList<Data.NamedArray> Outputs) Evaluate(TrainingBatch batch, ulong randomSeed, IReadOnlyList<int> outputs,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(batch); ArgumentNullException.ThrowIfNull(outputs);
        foreach (var node in _graph.Nodes)
            if (node.Kind == NodeKind.Input && !batch.Contains(node.Id))
                throw new ArgumentException($"the batch has no value for input '{node.Name}'", nameof(batch));
        var keep = new HashSet<int>(outputs);
        // Readers counted by forward task, as the memory model does: whatever reads a view reads its root too, so a
        // root is released only after the last read of any of its views.
        var remaining = new int[_training.Count];
        foreach (var t in _training.Tasks)
            if (t.Kind == TaskKind.Forward) foreach (var p in t.Inputs) remaining[p]++;
        var copies = new Dictionary<int, Data.NamedArray>();
        float loss = float.NaN;
        try
        {
            foreach (var node in _graph.Nodes)
            {
                cancellation.ThrowIfCancellationRequested();
                if (!node.IsPlanned || _training.ForwardTaskOf(node.Id) < 0) continue;
                var task = _training.Tasks[_training.ForwardTaskOf(node.Id)];
                var value = Forward(task, batch, randomSeed, checkRecomputation: false);
                if (node.Kind == NodeKind.Loss) loss = value.Span[0];
                if (keep.Contains(node.Id)) copies[node.Id] = Copy(node, value);
                foreach (var p in task.Inputs)
                    if (--remaining[p] == 0) Release(p);
                if (remaining[task.Id] == 0) Release(task.Id);
            }
        }
        finally
        {
            for (int t = 0; t < _buffers.Length; t++)
                if (_buffers[t] is { } b) { b.Dispose(); _buffers[t] = null; }
        }
        var list = new List<Data.NamedArray>();
        foreach (int id in outputs)
        {
            var n = _graph[id];
            if (copies.TryGetValue(id, out var c)) list.Add(c);
            else if (n.Kind == NodeKind.Input) list.Add(Copy(n, batch[id]));
            else if (!n.IsPlanned) list.Add(Copy(n, _model.Value(id)));
            else throw new ArgumentException($"output '{n.Name}' is not computed by the forward pass", nameof(outputs));
        }
        return (loss, list);
    }

    private void Release(int task)
    {
        if (_buffers[task] is { } b) { b.Dispose(); _buffers[task] = null; }
    }

    private static Data.NamedArray Copy(Node node, Tensor value) =>
        ElementTypes.IsIntegral(node.DType)
            ? Data.NamedArray.Of(node.Name, value.ToRowMajorArray().Select(v => (long)v).ToArray(), value.Shape)
            : Data.NamedArray.Of(node.Name, value.ToRowMajorArray(), value.Shape);

    /// <param name="inPlaceOf">The task whose buffer the output takes over (a step in place, <see cref="InPlaceSteps"/>), or -1.</param>
    private Tensor Forward(TrainingTask task, TrainingBatch batch, ulong seed, bool checkRecomputation, int inPlaceOf = -1)
    {
        var node = _graph[task.Node];
        if (_buffers[task.Id] is not null) throw new InvalidOperationException($"'{task.Name}' is computed while still live");
        if (_training.ViewOf(node.Id) is not null)
        {
            // A view computes nothing and owns nothing: its value is its root's buffer in place (read afresh by Value).
            _ = Value(node.Inputs[0], batch, required: true);
            var view = ViewValue(node.Id, batch);
            _buffers[task.Id] = view;
            return view;
        }
        var inputs = _callInputs[node.Id];
        // In place, the input is read from the buffer the kernel writes (an element-wise op reads element i before it
        // writes it): passed on first, so that the input's value is the output's tensor.
        var output = inPlaceOf >= 0 ? PassOn(inPlaceOf, node.Id) : null;
        for (int k = 0; k < inputs.Length; k++) inputs[k] = Value(node.Inputs[k], batch, required: true);
        output ??= Rent(MemoryCategory.Activation, node.Id);
        _buffers[task.Id] = output;
        long start = Stopwatch.GetTimestamp();
        _ops[node.Id]!.Forward(Call(node, inputs, seed), output);
        Charge(_opKeys[node.Id].Forward, start);
        if (checkRecomputation && _recomputed[task.Id])
        {
            ulong sum = Checksum(output.Span);
            if (_hasChecksum[task.Id] && _checksums[task.Id] != sum) throw new RecomputationMismatchException(node.Name);
            _checksums[task.Id] = sum; _hasChecksum[task.Id] = true;
        }
        return output;
    }

    /// <param name="inPlaceOf">The task whose buffer the gradient takes over (a step in place: the Relu's output
    /// gradient, which its vector-Jacobian product reads element by element), or -1.</param>
    private void Backward(TrainingTask task, TrainingBatch batch, ulong seed, int inPlaceOf = -1)
    {
        var v = _graph[task.Node];
        if (_buffers[task.Id] is not null) throw new InvalidOperationException($"'{task.Name}' is computed while still live");
        bool aliased = _training.GradientAliasOf(v.Id) >= 0;
        // The gradient of a tensor whose one gradient-carrying reader is a whole view of it is that reader's gradient
        // in place: nothing to allocate and nothing to compute, only its op's parameter gradients below.
        var grad = aliased ? GradientValue(v.Id) : inPlaceOf >= 0 ? PassOn(inPlaceOf, v.Id) : Rent(MemoryCategory.ActivationGradient, v.Id);
        _buffers[task.Id] = grad;
        bool written = aliased;
        if (v.Kind == NodeKind.Loss) { grad.Span.Fill(1f); written = true; }
        Tensor? partial = null;
        try
        {
            // The parameter gradients of v's readers first (the ops whose first differentiable operand v is): they read
            // those readers' gradients, and a step in place writes v's gradient over its reader's (BatchNormalization's
            // scale and bias gradients read dY, whose buffer dX takes over). Each is its own computation, so the order
            // changes no value.
            ParameterGradients(task, v, grad, batch, seed, readers: true);
            // The gradient of v: the sum, in graph order of readers and operands, of each reader's VJP.
            foreach (var s in aliased ? [] : _graph.Successors(v.Id))
            {
                int gs = _training.GradTaskOf(s);
                var reader = _graph[s];
                // The same rule as the training DAG: no gradient flows back through integer-valued results.
                if (gs < 0 || reader.DType is "int64" or "int32" or "bool") continue;
                var op = _ops[s]!;
                var positions = _positions[s];
                for (int k = 0; k < reader.Inputs.Length; k++)
                {
                    if (reader.Inputs[k] != v.Id || !op.IsDifferentiable(reader, positions[k])) continue;
                    var readerGrad = GradientValue(s);
                    long start = Stopwatch.GetTimestamp();
                    if (_strides[s] is not null)
                    {
                        // A transposed view's gradient is already in v's layout: its vector-Jacobian product is the identity.
                        if (!written) { readerGrad.Span.CopyTo(grad.Span); written = true; }
                        else Accumulate(grad.Span, readerGrad.Span);
                        Charge(_opKeys[s].Input, start);
                        continue;
                    }
                    if (written && op.PassesGradient(reader, positions[k]) && _shapes[v.Id].AsSpan().SequenceEqual(_shapes[s]))
                    {
                        // The reader passes its gradient on unchanged: added in directly, the same sum as through a copy.
                        Charge(_opKeys[s].Input, start);
                        Accumulate(grad.Span, readerGrad.Span);
                        continue;
                    }
                    var call = BackwardCall(reader, k, batch, seed);
                    if (!written) { op.Backward(call, readerGrad.Span, positions[k], grad.Span); written = true; Charge(_opKeys[s].Input, start); continue; }
                    partial ??= RentScratch(grad.Length);
                    op.Backward(call, readerGrad.Span, positions[k], partial.Span);
                    Charge(_opKeys[s].Input, start);
                    Accumulate(grad.Span, partial.Span);
                }
            }
            partial?.Dispose(); partial = null;
            // No reader contributed (none carries a gradient to v): the gradient is zero, and was rented unzeroed.
            if (!written) Zero(grad.Buffer, grad.Length);
            // Then the parameter gradients of v's own op, which read v's gradient.
            ParameterGradients(task, v, grad, batch, seed, readers: false);
        }
        finally { partial?.Dispose(); }
        _parametersAccumulated[task.Id] = true;
    }

    /// <summary>
    /// The parameter gradients a backward task accumulates (<see cref="TrainingTask.ParameterGradientsOf"/>): those of
    /// v's readers (<paramref name="readers"/>) or of v's own op, from their op's gradient and the operands their
    /// backward reads. Nothing when the task already accumulated them (a backward task run again).
    /// </summary>
    private void ParameterGradients(TrainingTask task, Node v, Tensor grad, TrainingBatch batch, ulong seed, bool readers)
    {
        if (_parametersAccumulated[task.Id]) return;
        foreach (int o in task.ParameterGradientsOf)
        {
            if ((o != v.Id) != readers) continue;
            var opNode = _graph[o];
            var op = _ops[o]!;
            var opGrad = o == v.Id ? grad : GradientValue(o);
            for (int k = 0; k < opNode.Inputs.Length; k++)
            {
                int p = opNode.Inputs[k];
                int position = _positions[o][k];
                if (_graph[p].Kind != NodeKind.Parameter || !op.IsDifferentiable(opNode, position)) continue;
                var pg = _model.Gradient(p);
                if (_strides[o] is not null)
                {
                    // A weight's transposed view: its gradient is in the weight's layout, copied as it is for the
                    // parameter's first contribution (its gradient is not zeroed before the step), else added.
                    long begin = Stopwatch.GetTimestamp();
                    if (!_model.HasGradient(p)) opGrad.Span.CopyTo(pg.Span);
                    else Accumulate(pg.Span, opGrad.Span);
                    Charge(_opKeys[o].Parameter, begin);
                    _model.MarkGradient(p);
                    continue;
                }
                var opCall = BackwardCall(opNode, k, batch, seed);
                if (!_model.HasGradient(p))
                {
                    // The parameter's first contribution this step: written in place (a backward overwrites its
                    // target), not into scratch and added to the zeroed gradient, which gives the same values.
                    long first = Stopwatch.GetTimestamp();
                    op.Backward(opCall, opGrad.Span, position, pg.Span);
                    Charge(_opKeys[o].Parameter, first);
                    _model.MarkGradient(p);
                    continue;
                }
                using var contribution = RentScratch(pg.Length);
                long start = Stopwatch.GetTimestamp();
                op.Backward(opCall, opGrad.Span, position, contribution.Span);
                Charge(_opKeys[o].Parameter, start);
                Accumulate(pg.Span, contribution.Span);
                _model.MarkGradient(p);
            }
        }
    }

    /// <summary>
    /// The buffer of task <paramref name="source"/>, passed on to a new tensor of node <paramref name="node"/>'s shape
    /// (a step in place); the source's free step, right after, returns nothing. The arena's planned bytes do not change.
    /// </summary>
    private Tensor PassOn(int source, int node)
    {
        var buffer = _buffers[source] ?? throw new InvalidOperationException($"'{_training.Tasks[source].Name}' is taken over in place but not live");
        var output = buffer.PassOn(_shapes[node]);
        // The source reads as the output until its free (the step's own kernel reads it there).
        _buffers[source] = output;
        _passedOn[source] = true;
        return output;
    }

    private void Charge(string op, long start) =>
        _opTicks[op] = _opTicks.GetValueOrDefault(op) + (Stopwatch.GetTimestamp() - start);

}
