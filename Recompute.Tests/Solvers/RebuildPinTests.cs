using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Issue 32: greedy's pin search by rebuild cost (<c>GreedySolver.RebuildPinSearch</c>) pins a buffer whose own
/// recomputation is cheap but brings back a run of recomputed ancestors: on ResNet-50 at 30 % of store-all a layer-1
/// block output, after which each layer-1 convolution is recomputed once instead of twice. Its plans are valid, within
/// the budget, deterministic and honour the pins.
/// </summary>
public class RebuildPinTests
{
    [Fact]
    public void RebuildCosts_ChargeEachRecomputationWithTheAncestorsRecomputedBeforeItInItsRun()
    {
        var training = new PlanningProblem(RandomGraphs.Forward(1, 12)).Training;
        var tasks = training.Tasks;
        // A forward path a -> b -> c, and a forward task d that is no ancestor of c and does not read a.
        var (a, b, c) = (from t in tasks
                         where t.Kind == TaskKind.Forward
                         from i in t.Inputs
                         where tasks[i].Kind == TaskKind.Forward
                         from j in tasks[i].Inputs
                         where tasks[j].Kind == TaskKind.Forward
                         select (j, i, t.Id)).First();
        var ancestorsOfC = new HashSet<int>();
        var stack = new Stack<int>([c]);
        while (stack.Count > 0) foreach (int i in tasks[stack.Pop()].Inputs) if (ancestorsOfC.Add(i)) stack.Push(i);
        int d = tasks.First(t => t.Kind == TaskKind.Forward && t.Id != c && !ancestorsOfC.Contains(t.Id) && !t.Inputs.Contains(a)).Id;
        int backward = tasks.First(t => t.Kind == TaskKind.Backward).Id;
        var steps = ImmutableArray.Create(
            new Step(StepKind.Recompute, a), new Step(StepKind.Recompute, d), new Step(StepKind.Recompute, b), new Step(StepKind.Recompute, c),
            new Step(StepKind.Backward, backward),
            new Step(StepKind.Recompute, c));
        var costs = GreedySolver.RebuildCosts(training, new Schedule(training, steps, "test", null));
        double T(int t) => tasks[t].Time;
        Assert.Equal(T(a), costs[a], 6);
        Assert.Equal(T(d), costs[d], 6);
        Assert.Equal(T(a) + T(b), costs[b], 6);
        // The first run brings a and b back with c; the second run, after the backward task, recomputes c alone.
        Assert.Equal(T(a) + T(b) + T(c) + T(c), costs[c], 6);
    }

    [Fact]
    public void RebuildCosts_ChargeAtMostTheNearestAncestors_OnALongRun()
    {
        // A chain of 200 activations recomputed in one run: the last is charged with itself and its 64 nearest
        // recomputed ancestors, not the whole run.
        var b = new GraphBuilder("chain200");
        int prev = b.Input("x", 16);
        for (int i = 0; i < 200; i++)
            prev = b.Add(new NodeSpec($"a{i}", "Relu", NodeKind.Activation) { Inputs = [prev], Bytes = 16, Time = i + 1, BackwardNeeds = [], BackwardNeedsOutput = true });
        b.Loss("loss", "ReduceMean", [prev], 4, 1, backwardNeeds: []);
        var training = new PlanningProblem(b.Build()).Training;
        var chain = training.Tasks.Where(t => t.Kind == TaskKind.Forward && t.Name.StartsWith('a')).Select(t => t.Id).ToList();
        Assert.Equal(200, chain.Count);
        var steps = chain.Select(t => new Step(StepKind.Recompute, t)).ToImmutableArray();
        var costs = GreedySolver.RebuildCosts(training, new Schedule(training, steps, "test", null));
        double Expected(int k) => Enumerable.Range(Math.Max(0, k - GreedySolver.RebuildAncestors), Math.Min(k, GreedySolver.RebuildAncestors) + 1)
            .Sum(j => training.Tasks[chain[j]].Time);
        foreach (int k in new[] { 0, 1, 63, 64, 65, 199 })
            Assert.Equal(Expected(k), costs[chain[k]], 6);
    }

    [Fact]
    public void ChainStarts_FollowTheLargestByOwnCost_WithTheLargestByRebuildCost()
    {
        // Twelve activations of one size recomputed in one run, each costlier than the next but the last, which is
        // the cheapest alone and the costliest to rebuild (the eleven before it come back with it).
        var b = new GraphBuilder("chain12");
        int prev = b.Input("x", 16);
        for (int i = 0; i < 12; i++)
            prev = b.Add(new NodeSpec($"a{i}", "Relu", NodeKind.Activation) { Inputs = [prev], Bytes = 64, Time = i == 11 ? 1 : 100 - i, BackwardNeeds = [], BackwardNeedsOutput = true });
        b.Loss("loss", "ReduceMean", [prev], 4, 1, backwardNeeds: []);
        var training = new PlanningProblem(b.Build()).Training;
        var chain = training.Tasks.Where(t => t.Kind == TaskKind.Forward && t.Name.StartsWith('a')).Select(t => t.Id).ToList();
        var schedule = new Schedule(training, [.. chain.Select(t => new Step(StepKind.Recompute, t))], "test", null);
        var settings = GreedyOptions.Default;
        var starts = GreedySolver.ChainStarts(training, schedule, [], [], settings);
        // The eight costliest by their own time (a0..a7), then of the rest the two costliest to rebuild: the last
        // activation (it brings back all eleven before it), then a10.
        Assert.Equal(chain.Take(settings.PinChainStarts), starts.Take(settings.PinChainStarts));
        Assert.Equal([chain[11], chain[10]], starts.Skip(settings.PinChainStarts));
        // Pinned and excluded tasks are never starts.
        var without = GreedySolver.ChainStarts(training, schedule, [chain[11]], [chain[0]], settings);
        Assert.DoesNotContain(chain[11], without);
        Assert.DoesNotContain(chain[0], without);
        Assert.Equal(settings.PinChainStarts + settings.PinChainRebuildStarts, without.Count);
        // Of distinct sizes, the largest eight are the starts and no chain starts by rebuild cost.
        var b2 = new GraphBuilder("chain12sizes");
        prev = b2.Input("x", 16);
        for (int i = 0; i < 12; i++)
            prev = b2.Add(new NodeSpec($"a{i}", "Relu", NodeKind.Activation) { Inputs = [prev], Bytes = 64 + i, Time = i == 11 ? 1 : 100 - i, BackwardNeeds = [], BackwardNeedsOutput = true });
        b2.Loss("loss", "ReduceMean", [prev], 4, 1, backwardNeeds: []);
        var sized = new PlanningProblem(b2.Build()).Training;
        var sizedChain = sized.Tasks.Where(t => t.Kind == TaskKind.Forward && t.Name.StartsWith('a')).Select(t => t.Id).ToList();
        var sizedStarts = GreedySolver.ChainStarts(sized, new Schedule(sized, [.. sizedChain.Select(t => new Step(StepKind.Recompute, t))], "test", null), [], [], settings);
        Assert.Equal(Enumerable.Range(4, 8).Reverse().Select(k => sizedChain[k]), sizedStarts);
    }

    [Fact]
    public void Greedy_RecomputesEachLayer1ConvolutionOnce_OnResNet50At30Percent()
    {
        var problem = new PlanningProblem(GraphLoader.Load(Path.Combine(Paths.Graphs, "resnet50-b64.onnx")));
        long budget = (long)(RecomputePlanner.StoreAllPeak(problem) * 0.3);
        // Greedy's search at auto's default limit without a wall-clock stop: counted work only, as auto's greedy runs
        // on an idle machine (the wall clock stops it only at 2.5 times the limit).
        var options = new SolverOptions { BudgetBytes = budget, TimeLimit = AutoPortfolio.DefaultTimeLimit };
        var found = GreedySolver.Search(problem.Training, [], options, SolverName.Greedy);
        Assert.NotNull(found);
        var plan = found.Value;
        var replay = Simulator.Simulate(plan.Schedule);
        Assert.True(replay.PeakBytes <= budget, $"peak {replay.PeakBytes} over {budget}");
        Assert.Equal(plan.Simulation.RecomputeTime, replay.RecomputeTime);
        // Measured (FLOP costs): 8.806·10¹⁰ with the search by rebuild cost; 9.478·10¹⁰ without (each layer-1
        // convolution and the first downsampling convolution recomputed twice).
        Assert.True(plan.Simulation.RecomputeTime < 9.0e10, $"recompute {plan.Simulation.RecomputeTime:E4}");
        foreach (var conv in new[] { "layer1.0/conv3", "layer1.1/conv3", "layer1.2/conv3", "layer1.0/downsample/downsample.0" })
        {
            int task = problem.Training.ForwardTaskOf(problem.Graph.Find($"/net/layer1/{conv}/Conv_output_0").Id);
            Assert.True(plan.Schedule.Steps.Count(s => s.Kind == StepKind.Recompute && s.Task == task) <= 1, conv);
        }
    }

    [Fact]
    public void RebuildPinSearch_OnRandomDags_IsValid_WithinBudget_Deterministic_CheaperAndHonoursPins() =>
        PinnedRandomCase.AssertImprovesUnderPins((training, start, orders, options) =>
            GreedySolver.RebuildPinSearch(training, start, orders, options, SolverName.Greedy, CancellationToken.None));
}
