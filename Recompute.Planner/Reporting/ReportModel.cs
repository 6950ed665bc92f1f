using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Reporting;

/// <summary>What a report says about the graph itself, counted as every command counts it (<see cref="GraphCounts"/>).</summary>
/// <param name="Nodes">Operations of the graph.</param>
/// <param name="PlannedTensors">Activations and the loss: the tensors the planner decides about.</param>
/// <param name="LowerSets">Number of lower sets of the forward graph, or null when past the counting limit.</param>
public sealed record GraphSummary(
    string Name,
    string? Source,
    string TimeUnit,
    int Nodes,
    int Edges,
    int PlannedTensors,
    long ActivationBytes,
    long ParameterBytes,
    long InputBytes,
    long ConstantBytes,
    long? LowerSets,
    long LowerSetLimit,
    ImmutableSortedDictionary<string, int> Ops)
{
    /// <summary>The <c>--dtype</c> the graph's floating activations were re-planned at, or null (as the file has them).</summary>
    public string? ActivationDType { get; init; }

    /// <summary>The device profile whose seconds the times are, or null (the file's own units, measured times, FLOPs).</summary>
    public string? Device { get; init; }

    /// <summary>The summary of a graph, counted as every command counts it (<see cref="GraphCounts"/>).</summary>
    public static GraphSummary Of(ComputationGraph graph, long? lowerSets, long lowerSetLimit)
    {
        var counts = GraphCounts.Of(graph);
        return new(graph.Name, graph.Source, graph.TimeUnit, counts.Operations, graph.EdgeCount, counts.PlannedTensors,
            graph.ActivationBytes, graph.ParameterBytes, graph.InputBytes, graph.ConstantBytes, lowerSets, lowerSetLimit, graph.OperationHistogram)
        { ActivationDType = graph.ActivationDType, Device = graph.Device };
    }
}

/// <summary>One line (or set of points) of the sweep: a solver with an objective.</summary>
/// <param name="Name">Name shown in the legend, the table and the files ("dp-approx", "dp-approx/memory", ...).</param>
/// <param name="Solver">Registered solver name, or "per-block" for block checkpointing.</param>
/// <param name="IsCurve">True for solvers whose plans trade memory for time along a curve (the DPs, optimal);
/// false for baselines drawn as points (store-all, Chen, per-block).</param>
public sealed record SweepSeries(string Name, string Solver, Objective Objective, bool IsCurve);

/// <summary>The outcome of one solver at one budget.</summary>
/// <param name="PeakBytes">Simulated peak of the schedule (null when no plan was found).</param>
/// <param name="Overhead">Recompute time of the simulated schedule over the training step (forward and backward): the share it adds.</param>
/// <param name="Gap">Relative optimality gap, when the solver proves a bound.</param>
/// <param name="ReusedFromBudgetBytes">Set when the solver's own plan at this budget was worse than (or missing
/// compared with) the plan it found at this smaller budget, which fits here too and is reported instead: so the
/// curve of a time-centric solver never goes up with more memory.</param>
/// <param name="Recomputed">Number of tensors the plan recomputes.</param>
public sealed record SweepPoint(
    string Series,
    long BudgetBytes,
    bool Feasible,
    string Status,
    long? PeakBytes,
    double? Overhead,
    double? ForwardTime,
    double? RecomputeTime,
    double SolveSeconds,
    double? Gap,
    long? PaperModelPeakBytes,
    int Recomputed,
    long? ReusedFromBudgetBytes,
    string? Reason);

/// <summary>The plan drawn on the timeline: live bytes per step of store-all and of a plan at one budget.</summary>
/// <param name="Schedule">The plan's schedule (for graph.dot), null when no plan fits.</param>
public sealed record TimelineReport(
    string Series,
    long BudgetBytes,
    bool Feasible,
    long? PeakBytes,
    double? Overhead,
    ImmutableArray<string> RecomputedTensors,
    MemoryTimeline StoreAll,
    MemoryTimeline? Plan,
    Schedule? Schedule)
{
    /// <summary>Host memory of an offload plan after every step (null without transfers).</summary>
    public MemoryTimeline? Host { get; init; }
}

/// <summary>A budget sweep: everything the report files are made from.</summary>
/// <param name="StoreAllPeakBytes">Simulated peak of store-all: the top of the sweep.</param>
/// <param name="MinBudgetBytes">Smallest budget <see cref="MinBudgetSolver"/> plans at, by simulation: the bottom of the sweep.</param>
/// <param name="Complete">False while the sweep runs or when it was interrupted.</param>
public sealed record BudgetReport(
    GraphSummary Graph,
    long StoreAllPeakBytes,
    long MinBudgetBytes,
    ImmutableArray<long> Budgets,
    ImmutableArray<SweepSeries> Series,
    ImmutableArray<SweepPoint> Points,
    TimelineReport? Timeline,
    bool Complete)
{
    /// <summary>The budget guide (device sizes, what the step needs there, the largest batch), when the sweep made one.</summary>
    public BudgetGuide? Guide { get; init; }

    /// <summary>The solver whose smallest feasible budget starts the sweep: auto when it is drawn (its whole portfolio), else dp-approx.</summary>
    public string MinBudgetSolver { get; init; } = SolverName.DpApprox;

    /// <summary>Points of one series in budget order.</summary>
    public IEnumerable<SweepPoint> PointsOf(string series) => Points.Where(p => p.Series == series).OrderBy(p => p.BudgetBytes);

    /// <summary>
    /// The feasible points of a series that no other point of it beats in both memory and time, by increasing peak:
    /// what its line in the Pareto plot joins. Overhead never increases along it.
    /// </summary>
    public ImmutableArray<SweepPoint> Frontier(string series)
    {
        var pts = Points.Where(p => p.Series == series && p.Feasible && p.PeakBytes is not null && p.Overhead is not null)
            .OrderBy(p => p.PeakBytes).ThenBy(p => p.Overhead).ThenBy(p => p.BudgetBytes).ToList();
        var front = ImmutableArray.CreateBuilder<SweepPoint>();
        double best = double.PositiveInfinity;
        long lastPeak = -1;
        foreach (var p in pts)
        {
            if (p.Overhead!.Value >= best) continue;
            if (p.PeakBytes == lastPeak) continue;
            front.Add(p);
            best = p.Overhead.Value;
            lastPeak = p.PeakBytes!.Value;
        }
        return front.ToImmutable();
    }
}
