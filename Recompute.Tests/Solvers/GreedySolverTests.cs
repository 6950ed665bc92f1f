using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

public class GreedySolverTests
{
    /// <summary>
    /// A forward-only DAG taken as given: a (100 B, time 5) → b (100 B) → c (100 B) → d (10 B), and a → d.
    /// Its only topological order is a, b, c, d. Run once: c runs with a, b and c live, 300 bytes.
    /// Every task's footprint is at most 210 bytes (d reads a and c: 100 + 100 + 10).
    /// </summary>
    private static PlanningProblem SkipChain()
    {
        var b = new GraphBuilder("skip-chain", "checkmate");
        int a = b.Add(new NodeSpec("a", "Op", NodeKind.Activation) { Bytes = 100, Time = 5 });
        int bb = b.Add(new NodeSpec("b", "Op", NodeKind.Activation) { Inputs = [a], Bytes = 100, Time = 1 });
        int c = b.Add(new NodeSpec("c", "Op", NodeKind.Activation) { Inputs = [bb], Bytes = 100, Time = 1 });
        b.Add(new NodeSpec("d", "Op", NodeKind.Activation) { Inputs = [c, a], Bytes = 10, Time = 1 });
        return new PlanningProblem(b.Build(), asGiven: true);
    }

    [Fact]
    public void SkipChain_RecomputesTheSkippedTensor_UnderTheBudget()
    {
        // Budget 250: a must not be live while c runs (b and c are, 200 bytes), so a is evicted after b and
        // recomputed before d: a, b, [free a], c, [free b], a again, d → peak 210 bytes, extra compute 5.
        var problem = SkipChain();
        Assert.Equal(300, RecomputePlanner.StoreAllPeak(problem));
        var plan = RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = 250 });
        Assert.True(plan.Feasible);
        Assert.Equal(210, plan.Simulation!.PeakBytes);
        Assert.Equal(5, plan.Simulation.RecomputeTime);
        Assert.Equal(["a"], plan.Schedule!.RecomputedNodes.Select(n => problem.Graph[n].Name));

        // The optimal solver proves it: no schedule recomputes less (it must recompute a, or hold 300 bytes).
        var optimal = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, new SolverOptions { BudgetBytes = 250,
            TimeLimit = TimeSpan.FromSeconds(10), Threads = 2, Seed = 1 });
        Assert.Equal(PlanStatus.Optimal, optimal.Result.Status);
        Assert.Equal(5, Simulator.Simulate(optimal.Result.Schedule!).RecomputeTime);
        // Gap relative to total compute: one run of every task (8) plus the recomputation (5); here 0.
        Assert.Equal(13, optimal.Result.TotalCost!.Value, 9);
        Assert.Equal(0, optimal.Result.Gap!.Value, 9);
    }

    [Fact]
    public void SkipChain_BelowTheFootprint_IsInfeasible()
    {
        // d needs a, c and itself: 210 bytes whatever the schedule.
        var problem = SkipChain();
        Assert.False(RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = 209 }).Feasible);
        var result = new OptimalSolver(PlannerPlanSource.Instance).Solve(problem, new SolverOptions { BudgetBytes = 209,
            TimeLimit = TimeSpan.FromSeconds(5), Threads = 2 });
        Assert.Equal(PlanStatus.Infeasible, result.Status);
        Assert.Contains("'d' needs its 2 inputs and its output", result.Reason);
        Assert.Equal(210, result.MinFeasibleBudgetBytes);
    }

    [Theory]
    [InlineData(1, false)] [InlineData(2, false)] [InlineData(3, true)] [InlineData(4, true)] [InlineData(5, true)]
    public void RandomGraphs_GreedySchedulesAreValid_FitTheBudget_AndAreDeterministic(int seed, bool asGiven)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 30), asGiven);
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        long footprint = MemoryLowerBound.Of(problem.Training).Bytes;
        int feasible = 0;
        foreach (var fraction in new[] { 0.75, 0.5 })
        {
            long budget = Math.Max(footprint, (long)(storeAll * fraction));
            var options = new SolverOptions { BudgetBytes = budget, Seed = 3 };
            var first = RecomputePlanner.Plan(problem, "greedy", options);
            if (!first.Feasible) continue;
            feasible++;
            // Plan simulates the schedule (it throws on an invalid one); the peak is within the budget.
            Assert.True(first.Simulation!.PeakBytes <= budget);
            if (feasible > 1) continue;
            var second = RecomputePlanner.Plan(new PlanningProblem(RandomGraphs.Forward(seed, nodes: 30), asGiven), "greedy", options);
            Assert.Equal(first.Schedule!.Steps.ToArray(), second.Schedule!.Steps.ToArray());
        }
        Assert.True(feasible >= 1, "the greedy pass fitted none of the budgets");
    }

    /// <summary>
    /// The pin search keeps what the eviction scores would recompute at great cost: on U-Net at 1,728,892,108 B (62.8 %
    /// of store-all) the passes alone recompute ups.2's ConvTranspose (1.54 % of forward time); forbidding that costs
    /// less (1.32 %, recomputing cheap normalisations more often). The plan fits, and a --keep pin is still honoured
    /// through it.
    /// </summary>
    [Fact]
    public void PinSearch_KeepsTheCostliestRecomputation_WhenThatIsCheaper_OnUNet()
    {
        var problem = new PlanningProblem(Recompute.Planner.Import.GraphLoader.Load(Path.Combine(Paths.Graphs, "unet-b8-256.onnx")));
        long budget = 1_728_892_108;
        var plan = RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(60) });
        Assert.True(plan.Feasible);
        Assert.True(plan.Simulation!.PeakBytes <= budget);
        Assert.True(plan.Simulation.Overhead < 0.0135, $"overhead {plan.Simulation.Overhead:P3}");
        var names = plan.Schedule!.RecomputedNodes.Select(n => problem.Graph[n].Name).ToList();
        Assert.DoesNotContain("/net/ups.2/ConvTranspose_output_0", names);
        // A --keep pin stays honoured with the search's own pins beside it.
        int kept = problem.Graph.Find("/net/downs.0/downs.0.0/Conv_output_0").Id;
        var pinned = RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = budget,
            TimeLimit = TimeSpan.FromSeconds(60), Keep = [kept] });
        Assert.True(pinned.Feasible, pinned.Solver.Reason);
        Assert.DoesNotContain(kept, pinned.Schedule!.RecomputedNodes);
    }

    [Fact]
    public void OrderSearch_ProfileMatchesTheSimulator_AndKeepsOrdersTopological()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(6, nodes: 40), asGiven: true);
        var training = problem.Training;
        var fileOrder = Enumerable.Range(0, training.Count).ToArray();
        long peak = Simulator.Simulate(Liveness.RunOnce(training, "test", null)).PeakBytes;
        Assert.Equal(peak, OrderSearch.Evaluate(training, fileOrder, long.MaxValue / 4).PeakBytes);

        long target = peak * 3 / 4;
        var start = OrderSearch.Evaluate(training, fileOrder, target);
        var better = OrderSearch.Improve(training, fileOrder, target, moves: 20_000, seed: 1);
        Assert.Equal(fileOrder, better.Order());
        var position = new int[training.Count];
        for (int p = 0; p < better.Length; p++) position[better[p]] = p;
        foreach (var t in training.Tasks)
            foreach (int i in t.Inputs) Assert.True(position[i] < position[t.Id]);
        Assert.True(OrderSearch.Evaluate(training, better, target).BetterOrEqual(start));
        // The order's simulated peak is the profile's peak.
        var once = GreedyRematerializer.Schedule(training, better, long.MaxValue, EvictionScore.FarthestNextUse, "test")!;
        Assert.Equal(OrderSearch.Evaluate(training, better, target).PeakBytes, Simulator.Simulate(once).PeakBytes);
    }
}
