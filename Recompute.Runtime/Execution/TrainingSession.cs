using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>How a <see cref="TrainingSession"/> plans and trains.</summary>
public sealed record TrainingOptions
{
    /// <summary>
    /// Budget for activations and their gradients, in bytes (positive). When neither this nor <see cref="BudgetFraction"/>
    /// is set, or the budget holds the store-all peak, the session trains store-all: nothing is recomputed.
    /// </summary>
    public long? BudgetBytes { get; init; }
    /// <summary>
    /// Budget as a fraction of the store-all peak, in (0, 1] (0.4 = 40%); 1 is store-all exactly. Values outside
    /// the range, and setting both this and <see cref="BudgetBytes"/>, are errors.
    /// </summary>
    public double? BudgetFraction { get; init; }
    /// <summary>Solver name as on the command line (<c>auto</c>, the default, <c>dp-approx</c>, <c>dp</c>, <c>chen</c>, ...).</summary>
    public string Solver { get; init; } = AutoPortfolio.Name;
    /// <summary>Time limit for the solver (default <see cref="AutoPortfolio.DefaultTimeLimit"/>, as auto's on the command line).</summary>
    public TimeSpan SolverTimeLimit { get; init; } = AutoPortfolio.DefaultTimeLimit;
    /// <summary>The optimizer; default SGD with learning rate 0.01 and momentum 0.9.</summary>
    public IOptimizer? Optimizer { get; init; }
    /// <summary>Seed of weight initialisation, synthetic data and dropout.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>
    /// Number of distinct synthetic batches that <see cref="TrainingSession.Step(CancellationToken)"/> cycles through: a small fixed
    /// data set that a model can fit, so that the loss visibly falls.
    /// </summary>
    public int SyntheticBatches { get; init; } = 1;
    /// <summary>
    /// Initial parameter values by name. When null, an ONNX graph's own initializers are used if its file has them
    /// (<see cref="ModelWeights.FromGraphSource"/>); parameters without a value are initialised from <see cref="Seed"/>.
    /// </summary>
    public ModelWeights? InitialWeights { get; init; }
    /// <summary>
    /// Clip gradients by their global L2 norm over every parameter: when it exceeds this value, all gradients are
    /// scaled by value / norm before the update. Null: no clipping.
    /// </summary>
    public double? MaxGradientNorm { get; init; }
    /// <summary>Check every recomputed tensor bitwise against its first computation.</summary>
    public bool CheckRecomputation { get; init; } = true;
    /// <summary>
    /// Plan with offloading to host memory over this link as well (<see cref="OffloadPlanner"/>): the session then copies
    /// offloaded values into a host arena of their own and back, so the arena that stands for device memory still
    /// measures the predicted device peak. Null: keep or recompute only. The graph's times must be seconds. On a graph
    /// priced for the <c>cpu</c> device the link is planned as blocking whatever it says (<see cref="OffloadPlanner.OnDevice"/>).
    /// </summary>
    public OffloadOptions? Offload { get; init; }
}

/// <summary>What one training step did.</summary>
/// <param name="Step">Step number, from 1.</param>
/// <param name="Loss">Loss of the batch before the update.</param>
/// <param name="MeasuredPeakBytes">Peak bytes of activations and activation gradients the arena measured.</param>
/// <param name="PredictedPeakBytes">Peak the simulator predicted for the schedule.</param>
/// <param name="Seconds">Wall-clock time of forward, backward and update.</param>
/// <param name="ScratchPeakBytes">Peak bytes of kernel scratch (outside the planned memory).</param>
/// <param name="Recomputations">Recompute steps executed.</param>
public sealed record TrainingStepResult(int Step, float Loss, long MeasuredPeakBytes, long PredictedPeakBytes, double Seconds, long ScratchPeakBytes, int Recomputations)
{
    /// <summary>Wall-clock seconds of the forward and backward pass alone (the schedule's steps, without the update):
    /// what the planner predicts.</summary>
    public double ForwardBackwardSeconds { get; init; }
    /// <summary>Peak bytes of offloaded values the host arena measured (0 without offloading).</summary>
    public long MeasuredHostPeakBytes { get; init; }
}

/// <summary>
/// Trains a model by a memory plan: each <see cref="Step(TrainingBatch, CancellationToken)"/> runs forward and backward by the schedule on real
/// tensors, then applies the optimizer. Parameters are initialised deterministically from the seed.
/// </summary>
/// <example>
/// <code>
/// var session = TrainingSession.Create(graph, new TrainingOptions { BudgetFraction = 0.4, Optimizer = new Adam(1e-3) });
/// for (int i = 0; i &lt; 20; i++) Console.WriteLine(session.Step().Loss);
/// </code>
/// </example>
public sealed partial class TrainingSession
{
    private readonly ScheduleExecutor _executor;
    private readonly IOptimizer _optimizer;
    private int _seed;
    private readonly double? _clip;
    private readonly int _batches;

    /// <summary>The bytes of the ONNX file the graph came from, as read when the session was made: saving writes from
    /// them, so a file changed since then changes nothing.</summary>
    private readonly byte[]? _sourceModel;

    private TrainingSession(Schedule schedule, SimulationResult simulation, TrainingOptions options, Arena arena, ModelWeights? weights, byte[]? sourceModel)
    {
        Schedule = schedule; Simulation = simulation; Arena = arena; _sourceModel = sourceModel;
        InitialWeights = weights;
        Model = ModelState.Initialize(schedule.Training.Graph, arena, options.Seed, weights);
        _executor = new ScheduleExecutor(schedule.Training, Model) { CheckRecomputation = options.CheckRecomputation };
        _optimizer = options.Optimizer ?? new Sgd(0.01);
        if (options.MaxGradientNorm is { } clip && !(clip > 0 && double.IsFinite(clip)))
            throw new ArgumentOutOfRangeException(nameof(options), clip, "MaxGradientNorm must be positive");
        _clip = options.MaxGradientNorm;
        _seed = options.Seed;
        _batches = Math.Max(1, options.SyntheticBatches);
    }

    /// <summary>
    /// Plans the graph under the options' budget with the named solver and creates a session that trains by the plan.
    /// </summary>
    /// <remarks>
    /// A budget that holds the store-all peak (the default, <c>BudgetFraction = 1</c>, or enough bytes) trains by the
    /// store-all schedule without running a solver: recomputing anything then only costs time.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">A budget fraction outside (0, 1], a budget of zero or fewer bytes, or both set.</exception>
    /// <exception cref="InfeasibleBudgetException">No plan of the solver fits the budget; the message gives the
    /// smallest budget that does, when the solver can find it.</exception>
    /// <exception cref="GraphFormatException">The graph has no scalar loss, an op the runtime does not support, or
    /// sizes that disagree with its shapes.</exception>
    public static TrainingSession Create(ComputationGraph graph, TrainingOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(options);
        CheckBudgetOptions(options);
        CheckLoss(graph);
        var problem = new PlanningProblem(graph);
        ScheduleExecutor.Check(problem.Training); // before a long solve: can the runtime execute this graph at all?
        var (storeAllSchedule, storeAllSimulation) = RecomputePlanner.StoreAll(problem);
        long storeAll = storeAllSimulation.PeakBytes;
        long budget = options.BudgetBytes ?? (options.BudgetFraction is { } f ? (long)Math.Floor(f * storeAll) : storeAll);
        var source = Onnx.OnnxModelFile.SourceOf(graph);
        var weights = options.InitialWeights ?? (source is null ? null : ModelWeights.FromOnnx(graph.Source!, source));
        if (budget >= storeAll)
        {
            var storeAllPlan = new PlanResult(new SolverResult(SolverName.StoreAll, PlanStatus.Optimal) { Bound = PlanBound.Of(problem.Training, 0, 0, BoundSource.NoRecomputation) }, storeAllSchedule, storeAllSimulation, budget, storeAll, 0);
            return new TrainingSession(storeAllSchedule, storeAllSimulation, options, new Arena(), weights, source) { Plan = storeAllPlan };
        }
        var solverOptions = new SolverOptions { BudgetBytes = budget, TimeLimit = options.SolverTimeLimit, Seed = options.Seed };
        var plan = RecomputePlanner.Plan(problem, options.Solver, solverOptions, cancellation);
        if (options.Offload is { } offload) plan = OffloadPlanner.Improve(problem, plan, solverOptions, offload, cancellation);
        if (!plan.Feasible)
        {
            long? smallest = plan.Solver.MinFeasibleBudgetBytes ?? SmallestBudget.Bytes(problem, options.Solver, solverOptions, cancellation);
            throw new InfeasibleBudgetException(plan, smallest);
        }
        return new TrainingSession(plan.Schedule!, plan.Simulation!, options, new Arena(), weights, source) { Plan = plan };
    }

    /// <summary>Creates a session that trains by a given schedule (validated by the simulator).</summary>
    public static TrainingSession Create(Schedule schedule, TrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        options ??= new TrainingOptions();
        CheckLoss(schedule.Training.Graph);
        var simulation = Simulator.Simulate(schedule);
        var graph = schedule.Training.Graph;
        var source = Onnx.OnnxModelFile.SourceOf(graph);
        var weights = options.InitialWeights ?? (source is null ? null : ModelWeights.FromOnnx(graph.Source!, source));
        return new TrainingSession(schedule, simulation, options, new Arena(), weights, source);
    }

    private static void CheckBudgetOptions(TrainingOptions options)
    {
        if (options.BudgetBytes is not null && options.BudgetFraction is not null)
            throw new ArgumentOutOfRangeException(nameof(options), "set BudgetBytes or BudgetFraction, not both");
        if (options.BudgetFraction is { } f && !(f > 0 && f <= 1))
            throw new ArgumentOutOfRangeException(nameof(options), f, "BudgetFraction must be in (0, 1] (a fraction of the store-all peak; 1 is store-all)");
        if (options.BudgetBytes is { } b && b <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), b, "BudgetBytes must be positive");
    }

    /// <summary>
    /// Whether the runtime can train the graph at all (one scalar float loss, ops it implements, sizes that match
    /// shapes), checked before any planning or output: a command can refuse a paper or Checkmate graph before it
    /// prints anything.
    /// </summary>
    /// <exception cref="GraphFormatException">The graph cannot be executed; the message names the file and the tensor.</exception>
    public static void CheckExecutable(ComputationGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        CheckLoss(graph);
        ScheduleExecutor.Check(TrainingGraph.Derive(graph));
    }

    /// <summary>Training needs exactly one loss, a single floating-point value: without it every gradient is meaningless.</summary>
    internal static void CheckLoss(ComputationGraph graph)
    {
        var losses = graph.Nodes.Where(n => n.Kind == NodeKind.Loss).ToList();
        if (losses.Count == 0)
            throw new GraphFormatException(graph.Source, null, "the graph has no loss: training needs a scalar loss (e.g. SoftmaxCrossEntropyLoss, or a single scalar float output)");
        if (losses.Count > 1)
            throw new GraphFormatException(graph.Source, $"tensor '{losses[1].Name}'", $"the graph has {losses.Count} losses; training needs exactly one");
        LossRule.Check(graph);
    }

    public ComputationGraph Graph => Schedule.Training.Graph;
    /// <summary>The planner's result when the session planned the graph itself.</summary>
    public PlanResult? Plan { get; private init; }

    /// <summary>The weights the session started from (given, or the ONNX file's initializers); null when they came from the seed.</summary>
    internal ModelWeights? InitialWeights { get; }
    public Schedule Schedule { get; }
    /// <summary>The simulator's account of the schedule: the predicted peak and times.</summary>
    public SimulationResult Simulation { get; }
    public ModelState Model { get; }
    public Arena Arena { get; }
    /// <summary>Steps run so far.</summary>
    public int StepsRun { get; private set; }

    /// <summary>What the executor measured in the last step (per-op seconds for profiles); null before the first step.</summary>
    internal ExecutionResult? LastExecution { get; private set; }

    /// <summary>Runs one training step on the next synthetic batch (deterministic from the seed; see <see
    /// cref="TrainingOptions.SyntheticBatches"/>).</summary>
    /// <exception cref="OperationCanceledException">Cancelled between two schedule steps; the parameters are then unchanged.</exception>
    public TrainingStepResult Step(CancellationToken cancellation = default)
    {
        using var batch = TrainingBatch.Synthetic(Graph, Arena, _seed, StepsRun % _batches + 1);
        return Step(batch, cancellation);
    }

    /// <summary>Runs one training step: forward and backward by the schedule, then the optimizer update.</summary>
    /// <exception cref="OperationCanceledException">Cancelled between two schedule steps; the parameters, the
    /// optimizer's state and <see cref="StepsRun"/> are then unchanged.</exception>
    public TrainingStepResult Step(TrainingBatch batch, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int step = StepsRun + 1;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var run = _executor.Run(Schedule, batch, DeterministicRandom.Derive((ulong)_seed, "dropout", step), cancellation);
        LastExecution = run;
        cancellation.ThrowIfCancellationRequested();
        if (_clip is { } clip) ClipGradients(clip);
        _optimizer.Update(Model);
        _executor.ApplyRunningStatistics();
        StepsRun = step;
        clock.Stop();
        return new TrainingStepResult(step, run.Loss, run.MeasuredPeakBytes, Simulation.PeakBytes, clock.Elapsed.TotalSeconds, run.ScratchPeakBytes, run.Recomputations)
        {
            ForwardBackwardSeconds = run.Seconds,
            MeasuredHostPeakBytes = run.MeasuredHostPeakBytes,
        };
    }

    /// <summary>
    /// Runs <paramref name="steps"/> training steps on synthetic batches (or on <paramref name="batch"/> every step),
    /// reporting each step's result to <paramref name="progress"/> as it finishes.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled; the steps finished before stay applied.</exception>
    public IReadOnlyList<TrainingStepResult> Train(int steps, TrainingBatch? batch = null, IProgress<TrainingStepResult>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        var results = new List<TrainingStepResult>(steps);
        for (int i = 0; i < steps; i++)
        {
            var r = batch is null ? Step(cancellation) : Step(batch, cancellation);
            results.Add(r);
            progress?.Report(r);
        }
        return results;
    }

    /// <summary>
    /// The forward pass alone, with the current weights, on <paramref name="batch"/> (or the synthetic batch the next
    /// <see cref="Step(CancellationToken)"/> would take): the loss that step would report, and the values of
    /// <paramref name="outputs"/> (tensor names; default: the ONNX file's graph outputs, else the loss and every
    /// tensor nobody reads). The ops run as in a training step (BatchNormalization by batch statistics when the graph
    /// is in training mode, dropout with the next step's seed), so the loss is exactly that step's. Nothing is updated.
    /// </summary>
    /// <exception cref="ArgumentException">An output name is not a tensor of the graph.</exception>
    public EvaluationResult Evaluate(TrainingBatch? batch = null, IReadOnlyList<string>? outputs = null, CancellationToken cancellation = default)
    {
        var ids = (outputs ?? DefaultOutputs(Graph)).Select(name => Graph.TryFind(name, out int id) ? id
            : throw new ArgumentException($"'{name}' is not a tensor of graph '{Graph.Name}'", nameof(outputs))).ToList();
        int step = StepsRun + 1;
        var seed = DeterministicRandom.Derive((ulong)_seed, "dropout", step);
        if (batch is not null)
        {
            var (loss, values) = _executor.Evaluate(batch, seed, ids, cancellation);
            return new EvaluationResult(loss, values);
        }
        using var synthetic = TrainingBatch.Synthetic(Graph, Arena, _seed, StepsRun % _batches + 1);
        var (l, v) = _executor.Evaluate(synthetic, seed, ids, cancellation);
        return new EvaluationResult(l, v);
    }

    /// <summary>The outputs <see cref="Evaluate"/> reports by default (see there).</summary>
    public static IReadOnlyList<string> DefaultOutputs(ComputationGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (graph.Source is { } s && s.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && File.Exists(s))
        {
            var names = Onnx.OnnxModelFile.Read(s).Graph.Output.Select(o => o.Name).Where(n => graph.TryFind(n, out _)).ToList();
            if (names.Count > 0) return names;
        }
        return graph.Nodes.Where(n => n.Kind == NodeKind.Loss || (n.IsPlanned && n.OutputIndex == 0 && graph.Successors(n.Id).Length == 0))
            .Select(n => n.Name).ToList();
    }

    /// <summary>
    /// Writes the ONNX file this session's graph was imported from with the current weights as its initializers
    /// (see <see cref="ModelWeights.SaveOnnx"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The graph was not imported from an ONNX file.</exception>
    public void SaveOnnx(string outputPath)
    {
        string source = Graph.Source is { } s && s.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? s
            : throw new InvalidOperationException($"graph '{Graph.Name}' was not imported from an ONNX file; save its weights with a checkpoint instead");
        var weights = Model.ExportWeights();
        if (_sourceModel is { } bytes) Onnx.OnnxWeightWriter.Write(source, bytes, Graph, weights.Arrays, outputPath);
        else weights.SaveOnnx(source, Graph, outputPath);
    }

    /// <summary>The global L2 norm of the parameter gradients of the last step (accumulated in double, in parameter order).</summary>
    public double GradientNorm()
    {
        double sum = 0;
        foreach (var p in Model.Parameters)
            foreach (var g in Model.Gradient(p).Span) sum += (double)g * g;
        return Math.Sqrt(sum);
    }

    private void ClipGradients(double max)
    {
        double norm = GradientNorm();
        if (!(norm > max)) return;
        float scale = (float)(max / norm);
        foreach (var p in Model.Parameters)
            System.Numerics.Tensors.TensorPrimitives.Multiply(Model.Gradient(p).Span, scale, Model.Gradient(p).Span);
    }

    private const string CheckpointPrefix = "recompute/";

    /// <summary>
    /// Writes a checkpoint as a NumPy .npz file (atomically): the weights (<c>weight/NAME</c>), the optimizer's state
    /// (<c>optimizer/...</c>), the number of steps run and the seed (from which every later step's synthetic batch and
    /// dropout masks derive). <see cref="LoadCheckpoint"/> then continues bit for bit as if never stopped.
    /// </summary>
    /// <exception cref="NotSupportedException">The optimizer cannot export its state.</exception>
    public void SaveCheckpoint(string path)
    {
        var arrays = new List<Data.NamedArray>
        {
            Data.NamedArray.Of(CheckpointPrefix + "format", [1L]),
            Data.NamedArray.Of(CheckpointPrefix + "step", [(long)StepsRun]),
            Data.NamedArray.Of(CheckpointPrefix + "seed", [(long)_seed]),
        };
        arrays.AddRange(Model.ExportWeights().Arrays.Select(a => Data.NamedArray.Of("weight/" + a.Name, a.Floats!, [.. a.Shape])));
        foreach (var a in _optimizer.ExportState(Model))
            arrays.Add(a.Floats is { } f ? Data.NamedArray.Of("optimizer/" + a.Name, f, [.. a.Shape]) : Data.NamedArray.Of("optimizer/" + a.Name, a.Longs!, [.. a.Shape]));
        Data.Npz.Write(path, arrays);
    }

    /// <summary>Restores a checkpoint written by <see cref="SaveCheckpoint"/> for this graph and optimizer type.</summary>
    /// <exception cref="GraphFormatException">The file is not a readable checkpoint, or does not fit this graph or optimizer.</exception>
    public void LoadCheckpoint(string path)
    {
        var arrays = Data.Npz.Read(path);
        long Scalar(string name) => arrays.FirstOrDefault(a => a.Name == CheckpointPrefix + name)?.Longs is [var v] ? v
            : throw new GraphFormatException(path, null, $"not a Recompute checkpoint: no '{CheckpointPrefix}{name}'");
        if (Scalar("format") != 1) throw new GraphFormatException(path, null, $"checkpoint format {Scalar("format")} is not supported (1 is)");
        long step = Scalar("step"), seed = Scalar("seed");
        if (step < 0 || step > int.MaxValue || seed < 0 || seed > int.MaxValue) throw new GraphFormatException(path, null, "checkpoint step or seed out of range");
        var weights = arrays.Where(a => a.Name.StartsWith("weight/", StringComparison.Ordinal)).Select(a => Data.NamedArray.Of(a.Name[7..], a.Floats
            ?? throw new GraphFormatException(path, $"array '{a.Name}'", "a weight must be float32"), [.. a.Shape])).ToList();
        var state = arrays.Where(a => a.Name.StartsWith("optimizer/", StringComparison.Ordinal))
            .Select(a => a.Floats is { } f ? Data.NamedArray.Of(a.Name[10..], f, [.. a.Shape]) : Data.NamedArray.Of(a.Name[10..], a.Longs!, [.. a.Shape])).ToList();
        var missing = Model.Parameters.Select(p => Graph[p].Name).Except(weights.Select(w => w.Name), StringComparer.Ordinal).FirstOrDefault();
        if (missing is not null) throw new GraphFormatException(path, null, $"the checkpoint has no weight for parameter '{missing}' of graph '{Graph.Name}'");
        try
        {
            Model.LoadWeights(new ModelWeights(weights));
            _optimizer.ImportState(Model, state);
        }
        catch (ArgumentException e) { throw new GraphFormatException(path, null, e.Message); }
        StepsRun = (int)step;
        _seed = (int)seed;
    }

    /// <summary>A batch for this session's graph from named arrays (see <see cref="TrainingBatch.FromArrays"/>).</summary>
    /// <exception cref="ArgumentException">Names, shapes or types do not match the graph's inputs.</exception>
    public TrainingBatch CreateBatch(IEnumerable<Data.NamedArray> arrays) => TrainingBatch.FromArrays(Graph, Arena, arrays);

    /// <summary>Runs forward and backward only (no update): parameter gradients are left in <see cref="Model"/>.</summary>
    public ExecutionResult ComputeGradients(TrainingBatch batch, int step = 1) =>
        _executor.Run(Schedule, batch, DeterministicRandom.Derive((ulong)_seed, "dropout", step));
}

/// <summary>What a forward pass computed (see <see cref="TrainingSession.Evaluate"/>).</summary>
/// <param name="Loss">The loss (NaN when the graph has none).</param>
/// <param name="Outputs">The requested tensors' values, in the order asked.</param>
public sealed record EvaluationResult(float Loss, IReadOnlyList<Data.NamedArray> Outputs);

/// <summary>No plan of the chosen solver fits the budget; the message says why and, when known, the smallest feasible budget.</summary>
/// <param name="plan">The planner's answer (not feasible).</param>
/// <param name="smallestFeasibleBudgetBytes">A budget the solver does plan for, when one is known.</param>
public sealed class InfeasibleBudgetException(PlanResult plan, long? smallestFeasibleBudgetBytes = null)
    : Exception(Describe(plan, smallestFeasibleBudgetBytes ?? plan.Solver.MinFeasibleBudgetBytes))
{
    /// <summary>The planner's answer.</summary>
    public PlanResult Plan { get; } = plan;

    /// <summary>A budget the solver does plan for (null when the solver cannot say).</summary>
    public long? SmallestFeasibleBudgetBytes { get; } = smallestFeasibleBudgetBytes ?? plan.Solver.MinFeasibleBudgetBytes;

    private static string Describe(PlanResult plan, long? smallest)
    {
        var s = plan.Solver;
        string why = $"solver {s.Solver} found no plan within {plan.BudgetBytes} bytes" + (s.Reason is { } r ? $": {r}" : "");
        // A reason may already give the figure (the optimal solver's does: "the smallest budget found feasible is
        // ... (N bytes)"): say it once. Other figures in a reason (the largest step's bytes) may equal it.
        return smallest is { } min && !why.Contains($"feasible is {Recompute.Planner.Units.ByteSize.Format(min)} ({min} bytes)", StringComparison.Ordinal)
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{why}; the smallest feasible budget is {min} bytes ({100.0 * min / plan.StoreAllPeakBytes:0.0}% of the store-all peak)") : why;
    }
}
