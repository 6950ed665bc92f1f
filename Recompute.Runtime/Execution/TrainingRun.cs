using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Runtime.Execution;

/// <summary>The outcome of several training steps by a plan, optionally verified against store-all training.</summary>
/// <param name="Steps">Every step, in order.</param>
/// <param name="MeasuredPeakBytes">Largest measured peak of activations and activation gradients over the steps.</param>
/// <param name="PredictedPeakBytes">The simulator's peak for the schedule.</param>
/// <param name="StepSeconds">Mean wall-clock seconds per step with the plan, over the steps after the first when
/// there are several (<see cref="WarmupSteps"/>).</param>
/// <param name="StoreAllStepSeconds">Mean seconds per step of store-all training over the same steps (with verification).</param>
/// <param name="MaxGradientDifference">Largest |g_plan − g_store-all| over every parameter element and step, divided by the
/// store-all gradient's L2 norm of that step (with verification).</param>
/// <param name="StoreAllLoss">Store-all loss per step (with verification).</param>
internal sealed record TrainingReport(
    IReadOnlyList<TrainingStepResult> Steps,
    long MeasuredPeakBytes,
    long PredictedPeakBytes,
    double StepSeconds,
    double? StoreAllStepSeconds,
    double? MaxGradientDifference,
    IReadOnlyList<float>? StoreAllLoss,
    PlanResult Plan)
{
    /// <summary>The session that trained (its <see cref="TrainingSession.Model"/> holds the trained weights).</summary>
    public TrainingSession? Session { get; init; }

    /// <summary>
    /// Leading steps left out of the means (1 when there are two steps or more, else 0): the first step of the plan
    /// compiles and warms every kernel before the store-all twin's first step runs, so counting it would make the
    /// plan look slower than it is.
    /// </summary>
    public int WarmupSteps { get; init; }

    /// <summary>Mean seconds of the plan's forward and backward passes (no update), over the same steps as <see cref="StepSeconds"/>.</summary>
    public double ForwardBackwardSeconds { get; init; }

    /// <summary>The same for the store-all twin (with verification).</summary>
    public double? StoreAllForwardBackwardSeconds { get; init; }

    /// <summary>
    /// Set when training diverged: the step whose loss (of the plan or of the store-all twin) or whose updated weights
    /// were not finite. Training stops after that step, since every later step would compute NaN too.
    /// </summary>
    public Divergence? Diverged { get; init; }
}

/// <summary>Where and how a training run diverged.</summary>
/// <param name="Step">The step, from 1.</param>
/// <param name="What">What was not finite, in words ("the loss is NaN", "the weights after the update hold Infinity").</param>
internal sealed record Divergence(int Step, string What);

/// <summary>Plans a graph, trains it for a number of steps, and (optionally) trains a store-all twin in lockstep to compare.</summary>
internal static class TrainingRun
{
    /// <param name="onStep">Called after every step (for progress output).</param>
    public static TrainingReport Run(ComputationGraph graph, TrainingOptions options, int steps, bool verify,
        Action<TrainingStepResult>? onStep = null, CancellationToken cancellation = default) =>
        Run(graph, options, steps, verify, onStep is null ? null : new StepProgress(onStep), null, cancellation);

    /// <summary>Plans the graph, trains it for <paramref name="steps"/> steps and reports each step to <paramref name="progress"/>.</summary>
    /// <param name="batch">The batch of every step; null: synthetic batches (<see cref="TrainingOptions.SyntheticBatches"/>).</param>
    public static TrainingReport Run(ComputationGraph graph, TrainingOptions options, int steps, bool verify,
        IProgress<TrainingStepResult>? progress, IReadOnlyList<Data.NamedArray>? batch = null, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        var optimizer = options.Optimizer ?? new Sgd(0.01);
        var session = TrainingSession.Create(graph, options with { Optimizer = optimizer }, cancellation);
        var weights = session.InitialWeights;
        TrainingSession? storeAll = null;
        if (verify)
        {
            var problem = new PlanningProblem(graph);
            var (schedule, _) = RecomputePlanner.StoreAll(problem);
            storeAll = TrainingSession.Create(schedule, options with { Optimizer = optimizer.Fresh(), InitialWeights = weights });
        }
        var results = new List<TrainingStepResult>(steps);
        var storeLoss = new List<float>(steps);
        var storeSeconds = new List<double>(steps);
        var storeForwardBackward = new List<double>(steps);
        double worst = 0;
        using var planned = batch is null ? null : session.CreateBatch(batch);
        using var twin = batch is null || storeAll is null ? null : storeAll.CreateBatch(batch);
        Divergence? diverged = null;
        for (int i = 0; i < steps; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var r = planned is null ? session.Step(cancellation) : session.Step(planned, cancellation);
            results.Add(r);
            if (storeAll is not null)
            {
                var s = twin is null ? storeAll.Step(cancellation) : storeAll.Step(twin, cancellation);
                storeSeconds.Add(s.Seconds);
                storeForwardBackward.Add(s.ForwardBackwardSeconds);
                storeLoss.Add(s.Loss);
                worst = Math.Max(worst, GradientDifference(session.Model, storeAll.Model));
            }
            progress?.Report(r);
            diverged = Diverged(r.Step, r.Loss, storeAll is null ? null : storeLoss[^1], session.Model);
            if (diverged is not null) break;
        }
        int warmup = results.Count > 1 ? 1 : 0;
        return new TrainingReport(results, results.Max(r => r.MeasuredPeakBytes), session.Simulation.PeakBytes,
            results.Skip(warmup).Average(r => r.Seconds),
            verify ? storeSeconds.Skip(warmup).Average() : null, verify ? worst : null, verify ? storeLoss : null, session.Plan!)
        {
            Session = session, WarmupSteps = warmup, Diverged = diverged,
            ForwardBackwardSeconds = results.Skip(warmup).Average(r => r.ForwardBackwardSeconds),
            StoreAllForwardBackwardSeconds = verify ? storeForwardBackward.Skip(warmup).Average() : null,
        };
    }

    /// <summary>What was not finite after a step, or null: the loss, the store-all twin's loss, or an updated weight.</summary>
    internal static Divergence? Diverged(int step, float loss, float? storeAllLoss, ModelState model)
    {
        if (!float.IsFinite(loss)) return new Divergence(step, $"the loss is {Text(loss)}");
        if (storeAllLoss is { } s && !float.IsFinite(s)) return new Divergence(step, $"the store-all loss is {Text(s)}");
        foreach (var p in model.Parameters)
            foreach (var v in model.Value(p).Span)
                if (!float.IsFinite(v)) return new Divergence(step, $"weight '{model.Graph[p].Name}' is {Text(v)} after the update");
        return null;
    }

    private static string Text(float v) => float.IsNaN(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity";

    /// <summary>Reports synchronously on the training thread (<see cref="Progress{T}"/> would post to the thread pool, out of order).</summary>
    private sealed class StepProgress(Action<TrainingStepResult> onStep) : IProgress<TrainingStepResult>
    {
        public void Report(TrainingStepResult value) => onStep(value);
    }

    /// <summary>Largest element-wise difference of two models' parameter gradients, relative to the L2 norm of the second's.</summary>
    public static double GradientDifference(ModelState planned, ModelState reference)
    {
        double norm = 0, worst = 0;
        foreach (var p in reference.Parameters)
        {
            var a = planned.Gradient(p).Span; var b = reference.Gradient(p).Span;
            for (int i = 0; i < b.Length; i++)
            {
                norm += (double)b[i] * b[i];
                worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
            }
        }
        return norm > 0 ? worst / Math.Sqrt(norm) : worst;
    }
}
