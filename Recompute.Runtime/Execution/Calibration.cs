using System.Collections.Immutable;
using System.Globalization;
using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>How <see cref="Calibration.Measure"/> times a graph's operations.</summary>
public sealed record CalibrationOptions
{
    /// <summary>Measured training steps; each tensor's time is the median over them.</summary>
    public int Repeat { get; init; } = 5;
    /// <summary>Unmeasured steps first (JIT compilation, first-touch page faults, pool growth).</summary>
    public int WarmUp { get; init; } = 1;
    /// <summary>Seed of the weights and of the synthetic batch.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>
    /// The clock: wall time (default), or the executing thread's CPU time for measurements on a loaded machine
    /// (then run the kernels single-threaded, see <see cref="ExecutionClock.ThreadCpu"/>).
    /// </summary>
    public ExecutionClock Clock { get; init; } = ExecutionClock.WallClock;
    /// <summary>
    /// Each tensor's least time over the measured steps instead of the median: what the kernel takes when nothing
    /// else interferes (the cpu device profile's micro-benchmarks; interference only ever adds time).
    /// </summary>
    public bool Minimum { get; init; }
}

/// <summary>
/// Per-tensor times measured on this machine: for every planned tensor the forward time (its compute step:
/// allocating the output and running the op) and the backward time (its gradient task: every reader's
/// vector-Jacobian product with respect to it, summed, plus the parameter gradients the task accumulates), in
/// seconds, each the median over <see cref="Repeat"/> store-all training steps.
/// </summary>
/// <param name="Graph">The graph measured (with its original times).</param>
/// <param name="ForwardSeconds">Median forward seconds by node id (0 for resident tensors).</param>
/// <param name="BackwardSeconds">Median backward seconds by node id (0 for resident tensors and tensors without a gradient).</param>
/// <param name="StepSeconds">Median wall-clock seconds of a whole store-all step (forward and backward, no optimizer update).</param>
/// <param name="Repeat">Measured steps.</param>
/// <param name="Clock">The clock the times were measured with.</param>
public sealed record CalibrationResult(ComputationGraph Graph, ImmutableArray<double> ForwardSeconds,
    ImmutableArray<double> BackwardSeconds, double StepSeconds, int Repeat,
    ExecutionClock Clock = ExecutionClock.WallClock)
{
    /// <summary>Sum of the forward times.</summary>
    public double TotalForwardSeconds => ForwardSeconds.Sum();
    /// <summary>Sum of the backward times.</summary>
    public double TotalBackwardSeconds => BackwardSeconds.Sum();

    /// <summary>The measured times as the planner's <see cref="MeasuredTimes"/> (unit "s").</summary>
    public MeasuredTimes ToMeasuredTimes(string source = "calibration")
    {
        var forward = new Dictionary<string, double>(StringComparer.Ordinal);
        var backward = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var n in Graph.Nodes)
        {
            if (!n.IsPlanned) continue;
            forward[n.Name] = ForwardSeconds[n.Id];
            backward[n.Name] = BackwardSeconds[n.Id];
        }
        return MeasuredTimes.Create("s", forward, backward, source);
    }

    /// <summary>The graph with the measured times (time unit seconds) in place of its cost model.</summary>
    public ComputationGraph Apply() => ToMeasuredTimes().Apply(Graph);

    /// <summary>The time file <c>recompute calibrate</c> writes (docs/time-file.md).</summary>
    public string ToJson(IReadOnlyList<KeyValuePair<string, string>>? metadata = null)
    {
        var meta = new List<KeyValuePair<string, string>>
        {
            new("graph", Graph.Name),
            new("repeat", Repeat.ToString(CultureInfo.InvariantCulture)),
            new("statistic", "median"),
            new("clock", Clock == ExecutionClock.WallClock ? "wall" : "thread-cpu"),
            new("storeAllStepSeconds", StepSeconds.ToString("R", CultureInfo.InvariantCulture)),
        };
        if (metadata is not null) meta.AddRange(metadata);
        return MeasuredTimes.Format(Graph, ForwardSeconds, BackwardSeconds, meta);
    }
}

/// <summary>
/// Measures the runtime's per-tensor forward and backward times on a graph by running store-all training steps
/// (the real shapes, deterministic weights and a synthetic batch) and timing every schedule step. A store-all
/// schedule runs every forward and every backward task exactly once, so each step times one tensor's task.
/// </summary>
public static class Calibration
{
    /// <exception cref="GraphFormatException">The runtime cannot execute the graph.</exception>
    public static CalibrationResult Measure(ComputationGraph graph, CalibrationOptions? options = null, CancellationToken cancellation = default)
    {
        options ??= new CalibrationOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Repeat);
        ArgumentOutOfRangeException.ThrowIfNegative(options.WarmUp);
        if (graph.HasExplicitBackward)
            throw new GraphFormatException(graph.Source, null,
                "graphs with an explicit backward pass cannot be executed; the runtime derives the backward itself");
        var problem = new PlanningProblem(graph);
        ScheduleExecutor.Check(problem.Training);
        var (schedule, _) = RecomputePlanner.StoreAll(problem);
        var arena = new Arena();
        var model = ModelState.Initialize(graph, arena, options.Seed);
        var executor = new ScheduleExecutor(schedule.Training, model) { CheckRecomputation = false, Clock = options.Clock };
        using var batch = TrainingBatch.Synthetic(graph, arena, options.Seed, 1);

        var forward = new double[graph.Count][];
        var backward = new double[graph.Count][];
        var steps = new double[options.Repeat];
        for (int run = -options.WarmUp; run < options.Repeat; run++)
        {
            cancellation.ThrowIfCancellationRequested();
            var result = executor.Run(schedule, batch, DeterministicRandom.Derive((ulong)options.Seed, "dropout", 1));
            if (run < 0) continue;
            steps[run] = result.ClockSeconds;
            for (int i = 0; i < schedule.Steps.Length; i++)
            {
                var step = schedule.Steps[i];
                var samples = step.Kind switch
                {
                    StepKind.Compute => forward,
                    StepKind.Backward => backward,
                    _ => null,
                };
                if (samples is null) continue;
                int node = schedule.Training.Tasks[step.Task].Node;
                (samples[node] ??= new double[options.Repeat])[run] = result.StepSeconds[i];
            }
        }
        return new CalibrationResult(graph,
            forward.Select(s => s is null ? 0 : options.Minimum ? s.Min() : Median(s)).ToImmutableArray(),
            backward.Select(s => s is null ? 0 : options.Minimum ? s.Min() : Median(s)).ToImmutableArray(),
            Median(steps), options.Repeat, options.Clock);
    }

    /// <summary>The median (the mean of the two middle values for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values", nameof(values));
        var sorted = values.Order().ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }
}
