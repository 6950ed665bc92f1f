using Google.OrTools.Sat;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

internal sealed partial class OptimalSolver
{
    /// <summary>
    /// Keep, recompute or offload chosen together by CP-SAT: the stage model over the first-run order of
    /// <paramref name="order"/>, with every value of <paramref name="offloadSeconds"/> (per task, negative where it may
    /// not move) allowed to go to the host after its last forward reader and come back for its first backward stage,
    /// priced at both its transfers in full (<see cref="StageModel"/>'s offloads). Hinted with
    /// <paramref name="order"/>'s own plan, searched for <see cref="SolverOptions.TimeLimit"/>.
    /// </summary>
    /// <returns>The solution's work, stage by stage, with a <see cref="StepKind.Prefetch"/> where each offloaded value is
    /// back (at the start of the first backward stage that reads it), for <see cref="OffloadLowering.LowerMarked"/>;
    /// null when the model is too large for the time, CP-SAT found no solution, the wall clock cut a work-limited
    /// search, or the solution offloads nothing.</returns>
    public List<Step>? PlanWithOffload(Schedule order, double[] offloadSeconds, SolverOptions options,
        CancellationToken cancellation)
    {
        var stages = StageOrder.FirstRuns(order);
        if (stages.DecisionBound > Options.MaxDecisions || options.TimeLimit < ModelTime(stages.DecisionBound)) return null;
        var keep = KeepPositions(stages, options);
        var forced = ForceRecomputePositions(stages, options);
        var prices = new double[stages.Count];
        for (int p = 0; p < prices.Length; p++)
            prices[p] = keep.Contains(p) || forced.Contains(p) ? -1 : offloadSeconds[stages.TaskAt[p]];
        var model = new StageModel(stages, options.BudgetBytes, StageObjective.RecomputeTime, keep, forced, prices);
        if (StagePlan.FromSchedule(stages, order) is { } hint) model.Hint(hint);
        var (status, solver, cut) = SolveModel(model.Model, options, options.TimeLimit, cancellation);
        using (solver)
        {
            if (cut || status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible)) return null;
            var offloaded = model.Offloaded(solver);
            if (offloaded.Count == 0) return null;
            return model.Extract(solver).AllocationSteps(offloaded.ToLookup(o => o.Return, o => o.Position));
        }
    }
}
