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
                    var sim = Simulator.Simulate(schedule, enforceBudget: false);
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
                        Assert.True(Simulator.Simulate(schedule, enforceBudget: false).PeakBytes <= (long)(storeAll * f));
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
}
