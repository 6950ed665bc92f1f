using System.Diagnostics;
using Google.OrTools.Sat;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Units;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>The optimal solver's own smallest feasible budget, which it reports when no plan fits.</summary>
internal sealed partial class OptimalSolver
{
    /// <summary>
    /// The smallest budget found feasible: the least among the dp-approx minimum-memory plans, store-all, a
    /// bisection with the greedy solver, and a short CP-SAT search minimising the peak from the dp-approx plan.
    /// Null when none is found.
    /// </summary>
    private long? OwnSmallestBudget(PlanningProblem problem, SolverOptions options, StageOrder? order, Stopwatch clock, CancellationToken ct)
    {
        var (best, start) = SmallestCanonical(problem, options, ct);
        // General schedules often go below every canonical plan: a bisection with the greedy solver.
        var plain = options with { WarmStart = null };
        if (planner.SmallestGreedyBudget(problem, plain, best ?? problem.StoreAll.Simulation.PeakBytes, ct) is { } general && (best is null || general < best))
            best = general;
        order ??= start is null ? StageOrder.Natural(problem.Training) : StageOrder.FirstRuns(start);
        if (order.DecisionBound > Options.MaxDecisions) return best;
        var model = new StageModel(order, long.MaxValue, StageObjective.PeakBytes, KeepPositions(order, options), ForceRecomputePositions(order, options));
        if (start is not null && StagePlan.FromSchedule(order, start) is { } hint) model.Hint(hint);
        var limit = TimeSpan.FromTicks(Math.Min(Remaining(options, clock).Ticks, TimeSpan.FromSeconds(5).Ticks));
        var (status, solver, cut) = SolveModel(model.Model, options, limit, ct);
        using (solver)
        {
            if (!cut && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible)
            {
                var sim = Simulator.Simulate(model.Extract(solver).ToSchedule(SolverName.Optimal, null));
                if (best is null || sim.PeakBytes < best) best = sim.PeakBytes;
            }
        }
        return best;
    }

    private long? SmallestCanonicalBudget(PlanningProblem problem, SolverOptions options) => SmallestCanonical(problem, options, default).Budget;

    /// <summary>
    /// The least simulated peak of the order search run once, of the dp-approx least-memory plans (paper model and
    /// the planner's replayed smallest budget) and of store-all, with the schedule that reaches it.
    /// </summary>
    private (long? Budget, Schedule? Schedule) SmallestCanonical(PlanningProblem problem, SolverOptions options, CancellationToken ct)
    {
        long? best = null;
        Schedule? start = null;
        // The least peak of an order run once (no recomputation), by the order search without a target.
        var training = problem.Training;
        var order = OrderSearch.Improve(training, GreedyRematerializer.MemoryAwareOrder(training), long.MaxValue / 4,
            GreedySolver.MovesFor(training), options.Seed, cancellation: ct);
        if (options.ForceRecompute.IsEmpty && GreedyRematerializer.Schedule(training, order, long.MaxValue, EvictionScore.CostPerByteDistance, SolverName.Optimal) is { } once)
        {
            best = Simulator.Simulate(once).PeakBytes;
            start = once;
        }
        if (!problem.CanonicalApplies) return (best, start);
        try
        {
            var plain = options with { BudgetBytes = SolverOptions.UnlimitedBudget, WarmStart = null };
            var min = planner.MinMemory(problem, SolverName.DpApprox, plain, CancellationToken.None);
            if (min is { } m && Honours(m.Schedule, options) && (best is null || m.Simulation.PeakBytes < best)) { best = m.Simulation.PeakBytes; start = m.Schedule; }
            // The planner's own smallest budget sizes blocks by replay too, which often goes lower than the paper model's.
            if (planner.SmallestCanonicalDpBudget(problem, SolverName.DpApprox, plain, CancellationToken.None) is { } least && (best is null || least < best))
            {
                var at = planner.Plan(problem, SolverName.DpApprox, plain with { BudgetBytes = least }, CancellationToken.None);
                if (at is { Feasible: true } fit && Honours(fit.Schedule, options)) { best = fit.Simulation.PeakBytes; start = fit.Schedule; }
            }
        }
        catch (InvalidOperationException)
        {
            // No chain exists (empty forward graph): the CP search still looks.
        }
        if (options.ForceRecompute.IsEmpty)
        {
            long storeAll = problem.StoreAll.Simulation.PeakBytes;
            if (best is null || storeAll < best) best = storeAll;
        }
        return (best, start);
    }
}
