using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Issue 32: greedy's hold search (<c>GreedySolver.HoldSearch</c>) lowers a finished plan by holding values longer on
/// the schedule itself. Its plans are valid, within the budget, deterministic, honour the pins and cost less than
/// their start.
/// </summary>
public class HoldSearchTests
{
    [Fact]
    public void HoldSearch_HoldsAValueFreedAndRecomputed_WhereTheBudgetAllowsIt()
    {
        // a -> b -> loss, b's gradient reading a; the schedule frees a after b and recomputes it for that gradient, with
        // room to hold it.
        var g = new GraphBuilder("hold");
        int x = g.Input("x", 16);
        int a = g.Add(new NodeSpec("a", "Conv", NodeKind.Activation) { Inputs = [x], Bytes = 64, Time = 10, BackwardNeeds = [0], BackwardNeedsOutput = false });
        int b = g.Add(new NodeSpec("b", "Conv", NodeKind.Activation) { Inputs = [a], Bytes = 64, Time = 1, BackwardNeeds = [0], BackwardNeedsOutput = false });
        g.Loss("loss", "ReduceMean", [b], 4, 1, backwardNeeds: []);
        var problem = new PlanningProblem(g.Build());
        var training = problem.Training;
        long budget = RecomputePlanner.StoreAllPeak(problem);
        var plan = GreedySolver.Search(training, [], new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(5) }, SolverName.Greedy);
        Assert.NotNull(plan);
        // The store-all plan with a's value freed after b and recomputed before the backward pass needs it.
        int ta = training.ForwardTaskOf(a);
        var steps = plan.Value.Schedule.Steps.ToList();
        Assert.DoesNotContain(steps, s => s.Kind == StepKind.Recompute);
        Assert.True(steps.FindIndex(s => s.Kind == StepKind.FreeValue && s.Task == ta) > steps.FindIndex(s => s.Kind == StepKind.Backward));
        int tb = training.ForwardTaskOf(b);
        steps.Insert(steps.FindIndex(s => s.Kind == StepKind.Compute && s.Task == tb) + 1, new Step(StepKind.FreeValue, ta));
        int firstBackward = steps.FindIndex(s => s.Kind == StepKind.Backward);
        steps.Insert(firstBackward, new Step(StepKind.Recompute, ta));
        var start = plan.Value.Schedule with { Steps = [.. steps] };
        var startSimulation = Simulator.Measure(start);
        Assert.True(startSimulation.RecomputeTime > 0);
        var options = new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(5) };
        var held = GreedySolver.HoldSearch(training, (start, startSimulation), options, CancellationToken.None);
        Assert.NotNull(held);
        var replay = Simulator.Simulate(held.Value.Schedule);
        Assert.True(replay.PeakBytes <= budget);
        Assert.Equal(0, replay.RecomputeTime);
        // Below the peak that holding a needs, the search leaves the plan as it is.
        var tight = options with { BudgetBytes = startSimulation.PeakBytes };
        if (replay.PeakBytes > startSimulation.PeakBytes)
            Assert.Null(GreedySolver.HoldSearch(training, (start, startSimulation), tight, CancellationToken.None));
    }

    [Fact]
    public void HoldSearch_OnRandomDags_IsValid_WithinBudget_Deterministic_CheaperAndHonoursPins()
    {
        var (tried, improved) = PinnedRandomCase.AssertImprovesUnderPins((training, start, orders, options) =>
            GreedySolver.HoldSearch(training, start, options, CancellationToken.None));
        Assert.True(improved > 0, $"no plan of {tried} lowered");
    }
}
