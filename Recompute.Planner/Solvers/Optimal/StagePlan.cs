using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A general rematerialization plan in Checkmate's stage form. Stage <c>t</c> runs, in stage-order position
/// order, the tasks it recomputes (<see cref="Recomputed"/>[t], positions &lt; t) and then the first run of the
/// task at position t. Buffers are freed right after their last reader (<see cref="Liveness"/>), so the plan is
/// fully described by what each stage runs; which buffers are kept between stages follows from it.
/// </summary>
/// <param name="Order">The stage order: a topological order of the training tasks (task ids).</param>
/// <param name="Recomputed">Per stage, the sorted positions of the tasks it runs again before its own task.</param>
internal sealed record StagePlan(StageOrder Order, ImmutableArray<ImmutableArray<int>> Recomputed)
{
    /// <summary>The allocation steps of the plan, stage by stage (no frees yet).</summary>
    /// <param name="prefetchAt">Positions whose value comes back from the host at the start of a stage, by stage: a
    /// <see cref="StepKind.Prefetch"/> marker each (for <see cref="OffloadLowering.LowerMarked"/>); null: none.</param>
    public List<Step> AllocationSteps(ILookup<int, int>? prefetchAt = null)
    {
        var tasks = Order.Training.Tasks;
        var steps = new List<Step>();
        for (int t = 0; t < Order.Count; t++)
        {
            if (prefetchAt is not null)
                foreach (int p in prefetchAt[t]) steps.Add(new Step(StepKind.Prefetch, Order.TaskAt[p]));
            foreach (int p in Recomputed[t])
            {
                int task = Order.TaskAt[p];
                steps.Add(new Step(tasks[task].Kind == TaskKind.Forward ? StepKind.Recompute : StepKind.Backward, task));
            }
            int own = Order.TaskAt[t];
            steps.Add(new Step(tasks[own].Kind == TaskKind.Forward ? StepKind.Compute : StepKind.Backward, own));
        }
        return steps;
    }

    /// <summary>The full schedule: allocation steps with a free right after every buffer's last reader.</summary>
    public Schedule ToSchedule(string solver, long? budgetBytes) =>
        new(Order.Training, Liveness.InsertFrees(Order.Training, AllocationSteps()), solver, budgetBytes);

    /// <summary>Recompute time of the plan (forward and backward tasks run again).</summary>
    public double RecomputeTime()
    {
        double sum = 0;
        for (int t = 0; t < Order.Count; t++)
            foreach (int p in Recomputed[t]) sum += Order.Training.Tasks[Order.TaskAt[p]].Time;
        return sum;
    }

    /// <summary>
    /// Reads a schedule in stage form over the given order: stage t holds the allocations after the first run of
    /// the task at position t−1 up to the first run of the task at position t. A task run twice within one stage
    /// is run once (the schedule is then only approximated). Returns null when the schedule's first runs do not
    /// follow <paramref name="order"/>.
    /// </summary>
    public static StagePlan? FromSchedule(StageOrder order, Schedule schedule)
    {
        var recomputed = new List<SortedSet<int>>();
        var current = new SortedSet<int>();
        var ran = new bool[order.Count];
        int stage = 0;
        foreach (var step in schedule.Steps)
        {
            if (!step.Allocates) continue;
            int p = order.PositionOf[step.Task];
            if (!ran[p])
            {
                if (p != stage) return null;
                ran[p] = true;
                recomputed.Add(current);
                current = [];
                stage++;
            }
            else current.Add(p);
        }
        if (stage != order.Count) return null;
        return new StagePlan(order, recomputed.Select(s => s.ToImmutableArray()).ToImmutableArray());
    }

    /// <summary>The plan that runs every task once, in stage order.</summary>
    public static StagePlan NoRecomputation(StageOrder order) =>
        new(order, Enumerable.Repeat(ImmutableArray<int>.Empty, order.Count).ToImmutableArray());
}
