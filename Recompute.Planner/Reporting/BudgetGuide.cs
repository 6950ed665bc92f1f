using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Planner.Reporting;

/// <summary>How a graph can be had at other batch sizes, for the guide's largest batch.</summary>
/// <param name="Batch">The graph's own batch size.</param>
/// <param name="GraphAt">The graph at a batch size (an ONNX file re-inferred with <c>--batch</c>).</param>
public sealed record BatchFamily(int Batch, Func<int, ComputationGraph> GraphAt);

/// <summary>Settings of the budget guide that opens a report.</summary>
public sealed record GuideOptions
{
    /// <summary>The device sizes every guide shows: 16, 24, 40 and 80 GiB.</summary>
    public static readonly ImmutableArray<long> CommonDevices = [16L << 30, 24L << 30, 40L << 30, 80L << 30];

    /// <summary>Device memory sizes, in bytes (the common ones plus any the user names), shown in increasing order.</summary>
    public IReadOnlyList<long> Devices { get; init; } = CommonDevices;

    /// <summary>
    /// The most recompute time a user accepts, as a share of the training step: the largest batches the guide gives
    /// and the recommended budget keep within it (default 20 %).
    /// </summary>
    public double MaxOverhead { get; init; } = 0.2;

    /// <summary>Whose state sits beside the parameters: Adam (2 copies) or SGD with momentum (1 copy).</summary>
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;

    /// <summary>The graph at other batch sizes; null when it cannot be re-batched (then <see cref="NoBatchReason"/> says why).</summary>
    public BatchFamily? Family { get; init; }

    /// <summary>
    /// The device–host link of <c>report --offload</c>: each device size is planned with offloading allowed too, and its
    /// predicted step given beside the plan without it. Null: no link, no such column's figures.
    /// </summary>
    public OffloadOptions? Offload { get; init; }

    /// <summary>Why the graph cannot be re-batched (for the guide's text), when <see cref="Family"/> is null.</summary>
    public string NoBatchReason { get; init; } = "the graph's format has sizes only, no shapes to re-infer at another batch size";
}

/// <summary>One device size of the guide: what the training step needs there, at the graph's batch, and the largest batch.</summary>
/// <param name="DeviceBytes">The device's memory.</param>
/// <param name="ActivationBudgetBytes">What remains for activations and their gradients after <see
/// cref="BudgetGuide.FixedBytes"/> (may be negative).</param>
/// <param name="Plan">Solver of the cheapest plan that fits the remaining budget (store-all where it fits), or null.</param>
/// <param name="ActivationBytes">Simulated peak of that plan's activations and gradients.</param>
/// <param name="Overhead">Its recompute time over the training step (forward and backward).</param>
/// <param name="LargestBatchStoreAll">Largest batch store-all fits (null when the graph cannot be re-batched).</param>
/// <param name="LargestBatch">Largest batch the guide's solver fits.</param>
/// <param name="LargestBatchOverhead">The overhead of the plan at <see cref="LargestBatch"/>.</param>
/// <param name="Reason">Why nothing fits at the graph's batch, or null.</param>
public sealed record GuideDevice(
    long DeviceBytes,
    long ActivationBudgetBytes,
    string? Plan,
    long? ActivationBytes,
    double? Overhead,
    long? TotalBytes,
    int? LargestBatchStoreAll,
    int? LargestBatch,
    double? LargestBatchOverhead,
    string? Reason)
{
    public bool Fits => Plan is not null;

    /// <summary>
    /// The predicted step (seconds: compute, recomputation and stalls on transfers) of the guide's solver with
    /// offloading allowed at <see cref="ActivationBudgetBytes"/>; null without a link or where no plan fits.
    /// </summary>
    public double? OffloadStepSeconds { get; init; }

    /// <summary>Only offloading fits the budget: a plan with offloading does, and none of keep or recompute.</summary>
    public bool OffloadOnly { get; init; }
}

/// <summary>
/// The budget guide: for each device size, the bytes the training step needs (parameters, their gradients, the
/// optimizer's state, inputs and constants, and the activations under the cheapest plan that fits what is left),
/// the overhead there, and the largest batch that fits (by <see cref="MaxBatchSearch"/>).
/// </summary>
/// <param name="Batch">The graph's batch size, when known.</param>
/// <param name="Solver">The solver that plans the guide's budgets and batches (dp when the sweep runs it, else dp-approx).</param>
/// <param name="NoBatchReason">Why there is no largest batch (the graph cannot be re-batched), or null.</param>
public sealed record BudgetGuide(
    OptimizerKind Optimizer,
    int? Batch,
    string Solver,
    long ParameterBytes,
    long GradientBytes,
    long OptimizerStateBytes,
    long InputBytes,
    long SmallestActivationBytes,
    ImmutableArray<GuideDevice> Devices,
    string? NoBatchReason)
{
    /// <summary>The most recompute time accepted, as a share of the training step (<see cref="GuideOptions.MaxOverhead"/>).</summary>
    public double MaxOverhead { get; init; } = 0.2;

    /// <summary>A link was given (<see cref="GuideOptions.Offload"/>): the devices have their step with offloading.</summary>
    public bool Offload { get; init; }

    /// <summary>
    /// The recommended budget: the point of the best curve with the least peak whose overhead is within
    /// <see cref="MaxOverhead"/>, or null when none is.
    /// </summary>
    public SweepPoint? Recommended { get; init; }

    /// <summary>Bytes on the device whatever the plan (the same figure <c>maxbatch</c> uses).</summary>
    public long FixedBytes => ParameterBytes + GradientBytes + OptimizerStateBytes + InputBytes;

    /// <summary>The smallest device the step fits at the graph's batch: fixed bytes plus the least peak of the sweep's plans.</summary>
    public long SmallestDeviceBytes => FixedBytes + SmallestActivationBytes;

    /// <summary>Copies of the parameters the optimizer keeps: Adam 2 (first and second moments), SGD 1 (momentum).</summary>
    public static int StateCopies(OptimizerKind optimizer) => optimizer == OptimizerKind.Adam ? 2 : 1;

    /// <summary>"adam (2 moment buffers, 2x parameters)" or "sgd (momentum, 1x parameters)".</summary>
    public static string DescribeOptimizer(OptimizerKind optimizer) =>
        optimizer == OptimizerKind.Adam ? "adam (first and second moments: 2x parameters)" : "sgd with momentum (1x parameters)";

    /// <summary>
    /// Builds the guide from a finished sweep: the plan at each device's remaining budget is the cheapest of the
    /// sweep's plans that fit it and a plan made at exactly that budget by the sweep's best DP.
    /// </summary>
    /// <param name="onActivity">Told what is being done (for a live status).</param>
    public static BudgetGuide Build(PlanningProblem problem, BudgetReport sweep, GuideOptions options, Action<string>? onActivity = null,
        CancellationToken cancellation = default)
    {
        var graph = problem.Graph;
        string solver = sweep.Series.Any(s => s.Name == SolverName.Dp) ? SolverName.Dp : SolverName.DpApprox;
        long p = graph.ParameterBytes;
        long state = checked(StateCopies(options.Optimizer) * p);
        long inputs = checked(graph.InputBytes + graph.ConstantBytes);
        long fixedBytes = MaxBatchSearch.FixedBytes(graph, options.Optimizer);

        // Graphs at other batch sizes are shared by every device's search (an ONNX re-import each otherwise).
        var graphs = new Dictionary<int, ComputationGraph>();
        Func<int, ComputationGraph>? graphAt = options.Family is { } family
            ? b =>
            {
                if (b == family.Batch) return graph;
                if (!graphs.TryGetValue(b, out var g)) graphs[b] = g = family.GraphAt(b);
                return g;
            }
            : null;
        string? noBatch = options.Family is null ? options.NoBatchReason : null;

        var devices = ImmutableArray.CreateBuilder<GuideDevice>();
        foreach (long device in options.Devices.Distinct().Order())
        {
            cancellation.ThrowIfCancellationRequested();
            string size = ByteSize.Format(device);
            onActivity?.Invoke($"budget guide: plan in {size}");
            long budget = device - fixedBytes;
            string? plan = null;
            long? peak = null;
            double? overhead = null;
            string? reason = null;
            if (budget <= 0) reason = $"parameters, gradients, optimizer state and inputs alone need {ByteSize.Format(fixedBytes)}";
            else if (sweep.StoreAllPeakBytes <= budget) (plan, peak, overhead) = (SolverName.StoreAll, sweep.StoreAllPeakBytes, 0);
            else
            {
                var best = sweep.Points.Where(q => q.Feasible && q.PeakBytes <= budget && q.Overhead is not null)
                    .OrderBy(q => q.Overhead).ThenBy(q => q.PeakBytes).FirstOrDefault();
                if (best is not null) (plan, peak, overhead) = (best.Series, best.PeakBytes, best.Overhead);
                var exact = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget }, cancellation);
                if (exact.Feasible && (overhead is null || exact.Simulation!.StepOverhead < overhead))
                    (plan, peak, overhead) = (solver, exact.Simulation!.PeakBytes, exact.Simulation.StepOverhead);
                if (plan is null) reason = $"no plan of the sweep fits the {ByteSize.Format(budget)} left for activations";
            }

            int? storeAllBatch = null, batch = null;
            double? batchOverhead = null;
            if (graphAt is not null && noBatch is null)
            {
                try
                {
                    var found = MaxBatchSearch.Find(b =>
                    {
                        onActivity?.Invoke($"budget guide: largest batch in {size}, trying {b}");
                        return graphAt(b);
                    }, device, new MaxBatchOptions { Optimizer = options.Optimizer, Solver = solver, ExplainNext = false, MaxOverhead = options.MaxOverhead }, cancellation);
                    storeAllBatch = found.StoreAll.Batch;
                    batch = found.Planner.Batch;
                    batchOverhead = found.Planner.AtBatch?.Overhead;
                }
                catch (GraphFormatException e)
                {
                    // The file's shapes do not re-infer at some batch size: say so once, for every device.
                    noBatch = $"the graph cannot be re-batched: {e.Message}";
                }
            }
            var (offloadStep, offloadOnly) = OffloadStep(problem, sweep, solver, budget, options.Offload, cancellation);
            devices.Add(new GuideDevice(device, budget, plan, peak, overhead, peak is { } a ? fixedBytes + a : null,
                storeAllBatch, batch, batchOverhead, reason) { OffloadStepSeconds = offloadStep, OffloadOnly = offloadOnly });
        }
        if (noBatch is not null)
            for (int i = 0; i < devices.Count; i++) devices[i] = devices[i] with { LargestBatchStoreAll = null, LargestBatch = null,
                LargestBatchOverhead = null };
        // The least activation memory any plan of the sweep needs (per-block may go below the DPs' smallest budget).
        long smallest = sweep.Points.Where(q => q.Feasible && q.PeakBytes is not null).Select(q => q.PeakBytes!.Value)
            .Append(sweep.MinBudgetBytes).Min();
        // The recommended budget: the least memory at which the sweep's best curve (auto's, when drawn) keeps within the
        // accepted overhead; past that point each byte saved costs more time than the user said they accept.
        string curve = sweep.Series.Any(s => s.Name == AutoPortfolio.Name) ? AutoPortfolio.Name : solver;
        var within = sweep.PointsOf(curve).Where(q => q.Feasible && q.PeakBytes is not null && q.Overhead is { } o && o <= options.MaxOverhead)
            .OrderBy(q => q.PeakBytes).ThenBy(q => q.Overhead).FirstOrDefault();
        return new BudgetGuide(options.Optimizer, options.Family?.Batch, solver, p, p, state, inputs, smallest, devices.ToImmutable(), noBatch)
        {
            MaxOverhead = options.MaxOverhead,
            Recommended = within,
            Offload = options.Offload is not null,
        };
    }

    /// <summary>
    /// The predicted step with offloading allowed at an activation budget, and whether only offloading fits it. Where
    /// store-all fits, nothing moves: its step is every task run once.
    /// </summary>
    private static (double? Seconds, bool OffloadOnly) OffloadStep(PlanningProblem problem, BudgetReport sweep, string solver, long budget,
        OffloadOptions? offload, CancellationToken cancellation)
    {
        if (offload is null || budget <= 0 || OffloadPlanner.NotApplicableReason(problem) is not null) return (null, false);
        if (sweep.StoreAllPeakBytes <= budget) return (problem.Training.ForwardTime + problem.Training.BackwardTime, false);
        var plan = OffloadPlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget }, offload, cancellation);
        return plan.Feasible ? (plan.Simulation!.StepSeconds, plan.KeepOrRecompute is { Feasible: false }) : (null, false);
    }
}

/// <summary>Consecutive budget points of one series with the same plan, shown as one row of a report's table.</summary>
/// <param name="First">The point at the smallest budget of the run (its figures stand for every point of it).</param>
/// <param name="LastBudgetBytes">The largest budget of the run.</param>
/// <param name="Count">Number of points merged.</param>
/// <param name="SolveSeconds">Their solve time in all.</param>
internal sealed record PointRun(SweepPoint First, long LastBudgetBytes, int Count, double SolveSeconds)
{
    /// <summary>
    /// The points of every series, consecutive budgets whose plans agree in everything shown (feasibility, status,
    /// peak, overhead, gap, recomputed count, reused plan) merged into one run, series in report order.
    /// </summary>
    public static ImmutableArray<PointRun> Collapse(BudgetReport report)
    {
        var runs = ImmutableArray.CreateBuilder<PointRun>();
        foreach (var s in report.Series)
        {
            PointRun? open = null;
            foreach (var p in report.PointsOf(s.Name))
            {
                if (open is not null && Same(open.First, p))
                    open = open with { LastBudgetBytes = p.BudgetBytes, Count = open.Count + 1, SolveSeconds = open.SolveSeconds + p.SolveSeconds };
                else
                {
                    if (open is not null) runs.Add(open);
                    open = new PointRun(p, p.BudgetBytes, 1, p.SolveSeconds);
                }
            }
            if (open is not null) runs.Add(open);
        }
        return runs.ToImmutable();
    }

    /// <remarks>A point that reuses the plan of a smaller budget has that plan's figures, so it joins its run.</remarks>
    private static bool Same(SweepPoint a, SweepPoint b) =>
        a.Feasible == b.Feasible && a.Status == b.Status && a.PeakBytes == b.PeakBytes && a.Overhead == b.Overhead &&
        a.Gap == b.Gap && a.Recomputed == b.Recomputed;
}
