using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// The greedy pass counts a buffer's next use through the evicted readers it has registered, not through every
/// reader (W³ on a wide fan-out otherwise). With <see cref="GreedyRematerializer.SelfCheck"/> on, every need pass is
/// compared with the formula over every reader and a difference throws; these runs cover evictions, dead frees that
/// come back, recomputation cascades, pins and the guided pass's drops.
/// </summary>
public class GreedyNeedTests
{
    private static void PlanEverywhere(TrainingGraph training, IEnumerable<double> fractions, ISet<int>? keep = null, ISet<int>? atGap = null)
    {
        long storeAll = new PlanningProblem(training.Graph).StoreAll.Simulation.PeakBytes;
        var orders = GreedySolver.Orders(training).ToList();
        int plans = 0;
        foreach (double f in fractions)
            foreach (var order in orders)
                foreach (var score in Enum.GetValues<EvictionScore>())
                {
                    long budget = (long)(storeAll * f);
                    var schedule = GreedyRematerializer.Schedule(training, order, budget, score, "greedy", keep, atGap);
                    if (schedule is null) continue;
                    plans++;
                    var sim = Simulator.Measure(schedule);
                    Assert.True(sim.PeakBytes <= budget, $"peak {sim.PeakBytes} over the budget {budget}");
                }
        Assert.True(plans > 0, "no budget planned");
    }

    [Fact]
    public void NeedsEqualTheFormulaOverEveryReader_OnRandomDags()
    {
        GreedyRematerializer.SelfCheck = true;
        long before = GreedyRematerializer.SelfChecksRun;
        for (int seed = 0; seed < 120; seed++)
        {
            var training = TrainingGraph.Derive(RandomGraphs.Forward(seed, 6 + seed % 40));
            PlanEverywhere(training, [0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
        }
        Assert.True(GreedyRematerializer.SelfChecksRun > before, "no need pass was checked (no eviction at these budgets)");
    }

    [Fact]
    public void NeedsEqualTheFormulaOverEveryReader_WithPins_AndOnALayeredCheckmateGraph()
    {
        GreedyRematerializer.SelfCheck = true;
        var training = TrainingGraph.Derive(RandomGraphs.Forward(7, 30));
        var keep = training.Tasks.Where(t => t.Kind == TaskKind.Forward && t.Id % 5 == 1).Select(t => t.Id).ToHashSet();
        var atGap = training.Tasks.Where(t => t.Kind == TaskKind.Forward && t.Id % 5 == 3).Select(t => t.Id).ToHashSet();
        long before = GreedyRematerializer.SelfChecksRun;
        PlanEverywhere(training, [0.6, 0.8, 1.0], keep, atGap);
        Assert.True(GreedyRematerializer.SelfChecksRun > before);
        var layered = new PlanningProblem(GraphLoader.Load(Paths.CheckmateGraph("random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json")),
            asGiven: true);
        foreach (double f in new[] { 0.5, 0.7, 0.9 })
        {
            before = GreedyRematerializer.SelfChecksRun;
            GreedySolver.Best(layered.Training, GreedySolver.Orders(layered.Training),
                new SolverOptions { BudgetBytes = (long)(layered.StoreAll.Simulation.PeakBytes * f) }, "greedy");
            Assert.True(GreedyRematerializer.SelfChecksRun > before);
        }
    }

    [Fact]
    public void NeedsEqualTheFormulaOverEveryReader_WhenTheGuideDropsBuffers()
    {
        // The guided pass frees the buffers it is told to drop once the forward pass is done with them, needed later
        // or not: registered buffers whose need is already past, under which dead buffers are freed.
        GreedyRematerializer.SelfCheck = true;
        long before = GreedyRematerializer.SelfChecksRun;
        int plans = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var training = TrainingGraph.Derive(RandomGraphs.Forward(seed, 8 + seed % 30));
            long storeAll = new PlanningProblem(training.Graph).StoreAll.Simulation.PeakBytes;
            var random = new Random(seed);
            var forward = training.Tasks.Where(t => t.Kind == TaskKind.Forward).Select(t => t.Id).ToList();
            var order = GreedySolver.ForwardFirst(training, Enumerable.Range(0, training.Count).ToArray());
            foreach (double share in new[] { 0.2, 0.5, 0.8 })
            {
                var drop = forward.Where(_ => random.NextDouble() < share).ToHashSet();
                foreach (double f in new[] { 0.5, 0.7, 1.0 })
                    if (GreedyRematerializer.GuidedSchedule(training, order, (long)(storeAll * f), EvictionScore.CostPerByteDistance, "greedy",
                            new HashSet<int>(), drop) is { } schedule)
                    {
                        plans++;
                        Assert.True(Simulator.Measure(schedule).PeakBytes <= (long)(storeAll * f));
                    }
            }
        }
        Assert.True(plans > 0);
        Assert.True(GreedyRematerializer.SelfChecksRun > before);
    }

    [Fact]
    public void NeedsEqualTheFormulaOverEveryReader_OnAWideFanOutWhoseBackwardReadsEveryBranch()
    {
        GreedyRematerializer.SelfCheck = true;
        var b = new GraphBuilder("wide");
        int x = b.Input("x", 64);
        var branches = Enumerable.Range(0, 40).Select(i => b.Activation($"r{i}", "Relu", [x], 64, 1)).ToList();
        int c = b.Activation("c", "Concat", branches, 64L * 40, 40);
        b.Loss("loss", "Sum", [c], 4, 1);
        long before = GreedyRematerializer.SelfChecksRun;
        PlanEverywhere(TrainingGraph.Derive(b.Build()), [0.6, 0.75, 0.9, 1.0]);
        Assert.True(GreedyRematerializer.SelfChecksRun > before);
    }

    [Fact]
    public void TheQueueEvictsAsTheScan_WithTheBoundedCostOfLargeDags()
    {
        // Large DAGs count a recompute cost's gone ancestors within a few runs only; forced on small DAGs here, the
        // queue's victims must still be the scan's (the bounded walk that requeues after a run must reach every
        // buffer whose cost counted the run).
        GreedyRematerializer.SelfCheck = true;
        GreedyRematerializer.ExactCostTasks = 0;
        long before = GreedyRematerializer.SelfChecksRun;
        for (int seed = 0; seed < 60; seed++)
        {
            var training = TrainingGraph.Derive(RandomGraphs.Forward(seed, 10 + seed % 50));
            PlanEverywhere(training, [0.3, 0.4, 0.5, 0.7, 0.9, 1.0]);
        }
        var chain = TrainingGraph.Derive(Chain(200));
        PlanEverywhere(chain, [0.3, 0.5]);
        Assert.True(GreedyRematerializer.SelfChecksRun > before);
    }

    [Fact]
    public void OnALongChain_TheBoundedCostPlansAsTheExactOne()
    {
        // The chain's gone ancestors are never more than a few runs away in these plans: the bound changes nothing.
        var training = TrainingGraph.Derive(Chain(400));
        long storeAll = new PlanningProblem(training.Graph).StoreAll.Simulation.PeakBytes;
        var order = Enumerable.Range(0, training.Count).ToArray();
        foreach (var score in Enum.GetValues<EvictionScore>())
        {
            GreedyRematerializer.ExactCostTasks = int.MaxValue;
            var exact = GreedyRematerializer.Schedule(training, order, storeAll / 2, score, "greedy");
            GreedyRematerializer.ExactCostTasks = 0;
            var bounded = GreedyRematerializer.Schedule(training, order, storeAll / 2, score, "greedy");
            Assert.NotNull(exact);
            Assert.NotNull(bounded);
            var (e, b) = (Simulator.Simulate(exact!), Simulator.Simulate(bounded!));
            Assert.True(b.PeakBytes <= storeAll / 2);
            Assert.True(b.RecomputeTime <= e.RecomputeTime * 1.001, $"{score}: bounded {b.RecomputeTime}, exact {e.RecomputeTime}");
        }
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(0)]
    public void TheSameScheduleByteForByte_Twice_AndWithAnyThreadCount(int exactCostTasks)
    {
        GreedyRematerializer.ExactCostTasks = exactCostTasks;
        var problem = new PlanningProblem(RandomGraphs.Forward(11, 60));
        long budget = problem.StoreAll.Simulation.PeakBytes / 2;
        string? first = null;
        foreach (int threads in new[] { 1, 2, 1, 0 })
        {
            var found = GreedySolver.Search(problem.Training, [], new SolverOptions { BudgetBytes = budget, Threads = threads }, "greedy");
            Assert.NotNull(found);
            string json = ScheduleFormat.ToJson(found!.Value.Schedule);
            first ??= json;
            Assert.Equal(first, json);
        }
    }

    /// <summary>The scale benchmark's chain: Conv (time 10, its backward reads its input) and Relu (time 1, its
    /// backward reads its output) alternating.</summary>
    internal static ComputationGraph Chain(int n)
    {
        var b = new GraphBuilder($"chain{n}", "paper");
        int prev = b.Input("x", 1 << 20);
        for (int i = 0; i < n - 1; i++)
        {
            if (i % 2 == 0) prev = b.Activation($"conv{i}", "Conv", [prev, b.Parameter($"w{i}", 4096)], 1 << 20, 10, backwardNeeds: [0, 1]);
            else prev = b.Add(new NodeSpec($"relu{i}", "Relu", NodeKind.Activation) { Inputs = [prev], Bytes = 1 << 20, Time = 1, BackwardNeeds = [], BackwardNeedsOutput = true });
        }
        b.Loss("loss", "ReduceMean", [prev], 4, 1, backwardNeeds: []);
        return b.Build();
    }
}
