using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Support;

/// <summary>
/// A random 30-node DAG of <see cref="RandomGraphs.Forward"/> with a budget of 40, 50, 60 or 70 % of its store-all peak
/// (by seed) and one activation pinned each way: <see cref="KeepNode"/> (--keep) and <see cref="DropNode"/>
/// (--recompute), the pins the planners' property tests check are honoured.
/// </summary>
public sealed record PinnedRandomCase(PlanningProblem Problem, long Budget, int KeepNode, int DropNode)
{
    /// <summary>The case of <paramref name="seed"/>, or null where both pins fall on the same activation.</summary>
    public static PinnedRandomCase? For(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, 30));
        long budget = RecomputePlanner.StoreAllPeak(problem) * (40 + seed % 4 * 10) / 100;
        var activations = problem.Graph.Nodes.Where(n => n.Kind == NodeKind.Activation).Select(n => n.Id).ToList();
        int keepNode = activations[seed % activations.Count], dropNode = activations[(seed * 7 + 3) % activations.Count];
        return keepNode == dropNode ? null : new PinnedRandomCase(problem, budget, keepNode, dropNode);
    }

    /// <summary>
    /// Asserts that a planner run twice on the case answered alike and, where it planned, that the plan is the same
    /// schedule both times, replays within the budget and honours both pins. The replay's simulation, or null where
    /// neither run planned.
    /// </summary>
    public SimulationResult? AssertSameFittingPlanHonouringPins(int seed, (Schedule Schedule, SimulationResult Simulation)? first,
        (Schedule Schedule, SimulationResult Simulation)? again)
    {
        Assert.Equal(first is null, again is null);
        if (first is not { } plan) return null;
        Assert.Equal(ScheduleFormat.ToJson(plan.Schedule), ScheduleFormat.ToJson(again!.Value.Schedule));
        var simulation = Simulator.Simulate(plan.Schedule);
        Assert.True(simulation.PeakBytes <= Budget, $"seed {seed}: peak {simulation.PeakBytes} over {Budget}");
        Assert.Null(PinCheck.Violation(plan.Schedule, [KeepNode], [DropNode]));
        return simulation;
    }

    /// <summary>
    /// The property test of a search that improves a greedy plan under pins (the pin chains, the pin search by rebuild
    /// cost): over the first 30 seeds, <paramref name="search"/> from greedy's plan, run twice, must answer alike with
    /// a plan that replays within the budget, honours both pins and costs less than its start. Returns how many cases
    /// had recomputation to lower (at least 15 asserted) and how many the search improved.
    /// </summary>
    public static (int Tried, int Improved) AssertImprovesUnderPins(
        Func<TrainingGraph, (Schedule Schedule, SimulationResult Simulation), List<int[]>, SolverOptions, (Schedule Schedule, SimulationResult Simulation)?> search)
    {
        int tried = 0, improved = 0;
        for (int seed = 0; seed < 30; seed++)
        {
            if (For(seed) is not { } pinned) continue;
            var training = pinned.Problem.Training;
            var options = pinned.Options(TimeSpan.FromSeconds(5));
            var orders = GreedySolver.Orders(training).ToList();
            if (GreedySolver.Best(training, orders, options, SolverName.Greedy) is not { } start || start.Simulation.RecomputeTime == 0) continue;
            tried++;
            var first = search(training, start, orders, options);
            var again = search(training, start, orders, options);
            if (pinned.AssertSameFittingPlanHonouringPins(seed, first, again) is not { } simulation) continue;
            improved++;
            var plan = first!.Value;
            Assert.Equal(plan.Simulation.RecomputeTime, simulation.RecomputeTime);
            Assert.True(plan.Simulation.RecomputeTime < start.Simulation.RecomputeTime, $"seed {seed}: not cheaper");
        }
        Assert.True(tried >= 15, $"{tried} DAGs with recomputation");
        return (tried, improved);
    }

    /// <summary>Solver options at the case's budget with both pins.</summary>
    public SolverOptions Options(TimeSpan timeLimit) =>
        new() { BudgetBytes = Budget, TimeLimit = timeLimit, Keep = [KeepNode], ForceRecompute = [DropNode] };
}
