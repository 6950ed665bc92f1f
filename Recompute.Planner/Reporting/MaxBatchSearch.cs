using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Reporting;

/// <summary>The optimizer whose state sits beside the parameters on the device.</summary>
public enum OptimizerKind
{
    /// <summary>SGD with momentum: one buffer the size of the parameters.</summary>
    Sgd,
    /// <summary>Adam: two buffers (first and second moments) the size of the parameters.</summary>
    Adam,
}

/// <summary>Settings of <see cref="MaxBatchSearch"/>.</summary>
public sealed record MaxBatchOptions
{
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Adam;
    /// <summary>Largest recompute overhead (recompute time over the training step, forward and backward) the planner may spend; null: any.</summary>
    public double? MaxOverhead { get; init; }
    /// <summary>The planner's solver (time-centric; default auto).</summary>
    public string Solver { get; init; } = AutoPortfolio.Name;
    /// <summary>The search gives up above this batch size.</summary>
    public int BatchLimit { get; init; } = 1 << 20;
    /// <summary>
    /// Find what the planner's failing next batch would need (<see cref="BatchFit.SmallestFeasibleBudgetBytes"/>, one
    /// more smallest-budget search): the closest plan's peak there says only what one schedule needs. The budget guide,
    /// which prints no next batch, turns it off.
    /// </summary>
    public bool ExplainNext { get; init; } = true;
    /// <summary>
    /// Options of each plan. The search plans at a dozen or more batch sizes, so the default time limit is
    /// <see cref="DefaultTimeLimit"/>: auto then runs its fast members and the exact DP within half a second, and
    /// no optimal phase (it needs a second left).
    /// </summary>
    public SolverOptions SolverOptions { get; init; } = new() { TimeLimit = DefaultTimeLimit };

    /// <summary>Time limit of each plan of the search by default.</summary>
    public static readonly TimeSpan DefaultTimeLimit = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Let the planner offload to host memory as well (<see cref="OffloadPlanner"/>); its overhead is then the share of
    /// the training step that recomputation and stalls on transfers add. Null: keep or recompute only.
    /// </summary>
    public OffloadOptions? Offload { get; init; }
}

/// <summary>
/// Device memory at one batch size. Fixed bytes = parameters + parameter gradients + optimizer state + inputs and
/// constants; what remains is the activation budget the plan must fit in.
/// </summary>
/// <param name="PeakBytes">Simulated peak of the activations and their gradients (null when no plan was found).</param>
/// <param name="Overhead">Recompute overhead of the plan (0 for store-all).</param>
public sealed record BatchFit(int Batch, bool Fits, long FixedBytes, long ActivationBudgetBytes, long? PeakBytes, double? Overhead, string? Reason)
{
    /// <summary>
    /// For a batch where no plan fits: the smallest activation budget the method plans at there (store-all: its peak;
    /// the planner: <see cref="SmallestBudget.Bytes"/>, with <see cref="MaxBatchOptions.ExplainNext"/>), or
    /// null when not searched or none was found. <see cref="PeakBytes"/> is the closest plan's peak, which can be far more.
    /// </summary>
    public long? SmallestFeasibleBudgetBytes { get; init; }

    /// <summary>Everything on the device: fixed bytes plus the plan's peak.</summary>
    public long? TotalBytes => PeakBytes is { } p ? FixedBytes + p : null;

    /// <summary>Bytes the plan offloads to host memory (null when offloading was not allowed).</summary>
    public long? OffloadBytes { get; init; }
}

/// <summary>The largest batch for one method, with the evidence: the fit at that batch and the failure at the next.</summary>
/// <param name="Batch">Largest batch that fits; 0 when not even a batch of one fits.</param>
/// <param name="AtBatch">The plan at <see cref="Batch"/> (null when Batch is 0).</param>
/// <param name="AtNext">The attempt at Batch + 1, which does not fit (null when the search hit the batch limit).</param>
public sealed record MaxBatchAnswer(string Method, int Batch, BatchFit? AtBatch, BatchFit? AtNext);

public sealed record MaxBatchResult(long DeviceMemoryBytes, OptimizerKind Optimizer, double? MaxOverhead, MaxBatchAnswer StoreAll,
    MaxBatchAnswer Planner);

/// <summary>
/// Finds the largest batch size whose training step fits in a device's memory, without recomputation (store-all)
/// and with the planner. Activation memory grows with the batch, so fitting is monotone and the search doubles
/// the batch until it fails, then bisects; the answer b is then checked: b fits and b + 1 does not.
/// </summary>
public static class MaxBatchSearch
{
    /// <summary>Bytes that stay on the device whatever the plan: parameters, their gradients, optimizer state, inputs, constants.</summary>
    public static long FixedBytes(ComputationGraph graph, OptimizerKind optimizer)
    {
        long p = graph.ParameterBytes;
        long state = optimizer == OptimizerKind.Adam ? checked(2 * p) : p;
        return checked(p + p + state + graph.InputBytes + graph.ConstantBytes);
    }

    /// <param name="graphAt">The graph at a batch size (an importer with a batch override, or a generated family).</param>
    public static MaxBatchResult Find(Func<int, ComputationGraph> graphAt, long deviceMemoryBytes, MaxBatchOptions options,
        CancellationToken cancellation = default)
    {
        var problems = new Dictionary<int, PlanningProblem>();
        PlanningProblem ProblemAt(int batch)
        {
            if (!problems.TryGetValue(batch, out var p))
            {
                // Keep only a few graphs alive: large models at large batches are big.
                if (problems.Count > 4) problems.Clear();
                p = problems[batch] = new PlanningProblem(graphAt(batch));
            }
            return p;
        }

        BatchFit StoreAllAt(int batch)
        {
            cancellation.ThrowIfCancellationRequested();
            var problem = ProblemAt(batch);
            long fixedBytes = FixedBytes(problem.Graph, options.Optimizer);
            long budget = deviceMemoryBytes - fixedBytes;
            if (budget <= 0) return new BatchFit(batch, false, fixedBytes, budget, null, null,
                "parameters, gradients, optimizer state and inputs alone exceed the memory");
            long peak = RecomputePlanner.StoreAllPeak(problem);
            return new BatchFit(batch, peak <= budget, fixedBytes, budget, peak, 0,
                peak <= budget ? null : "store-all peak exceeds the activation budget")
            { SmallestFeasibleBudgetBytes = peak <= budget ? null : peak };
        }

        BatchFit PlannerAt(int batch)
        {
            cancellation.ThrowIfCancellationRequested();
            var problem = ProblemAt(batch);
            long fixedBytes = FixedBytes(problem.Graph, options.Optimizer);
            long budget = deviceMemoryBytes - fixedBytes;
            if (budget <= 0) return new BatchFit(batch, false, fixedBytes, budget, null, null, "parameters, gradients, optimizer state and inputs alone exceed the memory");
            var solverOptions = options.SolverOptions with { BudgetBytes = budget, Objective = Objective.Time };
            var plan = RecomputePlanner.Plan(problem, options.Solver, solverOptions, cancellation);
            if (options.Offload is { } offload) plan = OffloadPlanner.Improve(problem, plan, solverOptions, offload, cancellation);
            if (!plan.Feasible)
                return new BatchFit(batch, false, fixedBytes, budget, plan.Simulation?.PeakBytes, plan.Simulation?.StepOverhead, plan.Solver.Reason ?? "no plan fits the activation budget")
                { OffloadBytes = options.Offload is null ? null : 0 };
            // With offloading, stalls on transfers lengthen the step as recomputation does (StepOverhead counts both).
            double overhead = plan.Simulation!.StepOverhead;
            if (options.MaxOverhead is { } max && overhead > max)
                return new BatchFit(batch, false, fixedBytes, budget, plan.Simulation!.PeakBytes, overhead, $"the least recomputation that fits costs {ReportSummary.Percent(overhead)}, more than {ReportSummary.Percent(max)}");
            return new BatchFit(batch, true, fixedBytes, budget, plan.Simulation!.PeakBytes, overhead, null) { OffloadBytes = options.Offload is null ? null : plan.Simulation.OffloadBytes };
        }

        // What the planner's next batch would need: its smallest feasible budget, where memory is what failed.
        BatchFit Explain(BatchFit next) => !options.ExplainNext || next.Fits || next.ActivationBudgetBytes <= 0 || next.PeakBytes is { } p && p <= next.ActivationBudgetBytes
            ? next
            : next with { SmallestFeasibleBudgetBytes = SmallestBudget.Bytes(ProblemAt(next.Batch), options.Solver,
                options.SolverOptions with { Objective = Objective.Time }, cancellation) };
        var storeAll = Search(SolverName.StoreAll, StoreAllAt, options.BatchLimit);
        var planner = Search(options.Offload is null ? options.Solver : $"{options.Solver}+offload", PlannerAt, options.BatchLimit);
        if (planner.AtNext is { } failed) planner = planner with { AtNext = Explain(failed) };
        return new MaxBatchResult(deviceMemoryBytes, options.Optimizer, options.MaxOverhead, storeAll, planner);
    }

    private static MaxBatchAnswer Search(string method, Func<int, BatchFit> fitAt, int limit)
    {
        var memo = new Dictionary<int, BatchFit>();
        BatchFit At(int b) => memo.TryGetValue(b, out var f) ? f : memo[b] = fitAt(b);

        if (!At(1).Fits) return new MaxBatchAnswer(method, 0, null, At(1));
        int good = 1, bad = -1;
        while (bad < 0)
        {
            if (good >= limit) return new MaxBatchAnswer(method, good, At(good), null);
            int next = (int)Math.Min((long)good * 2, limit);
            if (At(next).Fits) good = next; else bad = next;
        }
        while (bad - good > 1)
        {
            int mid = good + (bad - good) / 2;
            if (At(mid).Fits) good = mid; else bad = mid;
        }
        // The evidence: the answer fits and the next batch does not (both planned for real, as memoised above).
        return new MaxBatchAnswer(method, good, At(good), At(good + 1));
    }
}
