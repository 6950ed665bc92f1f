using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Scheduling;

/// <summary>
/// First runs moved to where they are needed (<see cref="FirstRuns.Defer"/>): the schedule stays valid, no step holds
/// more memory, and each move saves its task's time.
/// </summary>
public class FirstRunsTests
{
    /// <summary>
    /// A LayerNormalization whose statistics (outputs 1 and 2) only its backward reads, computed in the forward pass,
    /// freed unread there and run again before the backward pass reads them: both first runs move there, and the
    /// schedule recomputes nothing.
    /// </summary>
    [Fact]
    public void StatisticsFreedUnread_AreFirstRunWhereTheBackwardPassReadsThem()
    {
        var b = new GraphBuilder("statistics", "paper");
        int x = b.Input("x", 10);
        int scale = b.Parameter("scale", 4), bias = b.Parameter("bias", 4);
        int[] inputs = [x, scale, bias];
        int ln = b.Add(new NodeSpec("ln", "LayerNormalization", NodeKind.Activation) { Inputs = inputs, Bytes = 40, Time = 5, SavedByRule = true });
        foreach (int k in new[] { 1, 2 })
            b.Add(new NodeSpec($"ln.{k}", "LayerNormalization", NodeKind.Activation) { Inputs = inputs, Bytes = 8, Time = 3, OutputIndex = k, SavedByRule = true });
        int y = b.Activation("y", "Op", [ln], 40, 2);
        b.Loss("loss", "Loss", [y], 4, 1);
        var training = new PlanningProblem(b.Build()).Training;
        var tasks = training.Tasks;
        var statistics = tasks.Where(t => t.Name.StartsWith("ln.", StringComparison.Ordinal)).Select(t => t.Id).ToList();
        Assert.Equal(2, statistics.Count);
        Assert.All(statistics, s => Assert.All(training.Readers(s).ToArray(), r => Assert.Equal(TaskKind.Backward, tasks[r].Kind)));

        // Every forward task in order, then the backward tasks, each statistic run again before its first reader.
        var allocations = tasks.Where(t => t.Kind == TaskKind.Forward).Select(t => new Step(StepKind.Compute, t.Id)).ToList();
        var again = new HashSet<int>();
        foreach (var t in tasks.Where(t => t.Kind == TaskKind.Backward))
        {
            foreach (int s in statistics)
                if (t.Inputs.Contains(s) && again.Add(s)) allocations.Add(new Step(StepKind.Recompute, s));
            allocations.Add(new Step(StepKind.Backward, t.Id));
        }
        var schedule = new Schedule(training, Liveness.InsertFrees(training, allocations), "test", null);
        var before = Simulator.Simulate(schedule);
        Assert.Equal(6, before.RecomputeTime);

        var deferred = schedule with { Steps = FirstRuns.Defer(training, schedule.Steps, out int moved) };
        var after = Simulator.Simulate(deferred);
        Assert.Equal(2, moved);
        Assert.Equal(0, after.RecomputeTime);
        Assert.True(after.PeakBytes <= before.PeakBytes);
        Assert.All(deferred.Steps, s => Assert.NotEqual(StepKind.Recompute, s.Kind));
    }

    /// <summary>
    /// On the plans of several solvers for random DAGs at several budgets: the moved schedule is valid, no step of it
    /// holds more than the plan's at its peak, it recomputes no more, and it saves exactly the time of what moved.
    /// </summary>
    [Fact]
    public void Defer_OnPlansOfRandomDags_StaysValid_NeverCostsMore()
    {
        int plans = 0;
        for (int seed = 0; seed < 16; seed++)
        {
            var problem = new PlanningProblem(RandomGraphs.Forward(seed, 14));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in new[] { 0.6, 0.75, 0.9 })
                foreach (var name in new[] { SolverName.Greedy, "chen", "dp-approx" })
                {
                    var options = new SolverOptions { BudgetBytes = (long)(storeAll * fraction), TimeLimit = TimeSpan.FromSeconds(2), Threads = 1, Seed = 1 };
                    PlanResult plan;
                    try { plan = RecomputePlanner.Plan(problem, name, options); }
                    catch (LowerSetLimitException) { continue; }
                    if (!plan.Feasible) continue;
                    var before = Simulator.Measure(plan.Schedule!);
                    var steps = FirstRuns.Defer(problem.Training, plan.Schedule!.Steps, out int moved);
                    var after = Simulator.Measure(plan.Schedule! with { Steps = steps }); // throws on a rule broken
                    Assert.True(after.PeakBytes <= before.PeakBytes);
                    Assert.True(after.RecomputeTime <= before.RecomputeTime);
                    Assert.Equal(plan.Schedule!.Steps.Length - 2 * moved, steps.Length);
                    plans++;
                }
        }
        Assert.True(plans >= 30, $"only {plans} plans");
    }
}
