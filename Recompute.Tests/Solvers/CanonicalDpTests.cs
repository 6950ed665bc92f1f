using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

public class CanonicalDpTests
{
    /// <summary>Every increasing chain of lower sets ending at V, by depth-first search over the family.</summary>
    private static IEnumerable<CanonicalStrategy> AllChains(ForwardDag dag)
    {
        var family = LowerSetFamily.All(dag, 100_000);
        var stack = new List<int>();
        IEnumerable<List<int>> Walk(int from)
        {
            if (from == family.Full) { yield return [.. stack]; yield break; }
            for (int b = from + 1; b < family.Count; b++)
            {
                if (!family.IsProperSubset(from, b)) continue;
                stack.Add(b);
                foreach (var c in Walk(b)) yield return c;
                stack.RemoveAt(stack.Count - 1);
            }
        }
        foreach (var chain in Walk(0))
        {
            int prev = 0;
            var blocks = new List<ImmutableArray<int>>();
            foreach (var s in chain)
            {
                blocks.Add(family.Difference(s, prev).Select(i => dag.NodeOf[i]).ToImmutableArray());
                prev = s;
            }
            yield return new CanonicalStrategy([.. blocks]);
        }
    }

    /// <summary>On random graphs of up to 7 operations, the exact DP finds what trying every chain finds.</summary>
    [Fact]
    public void ExactDp_EqualsBruteForceOverAllChains() =>
        Property.Check(RandomGraphs.Small(maxNodes: 7), ExactDpEqualsBruteForce, cases: 30, RandomGraphs.Describe);

    private static void ExactDpEqualsBruteForce(ComputationGraph graph)
    {
        var problem = new PlanningProblem(graph);
        var dag = problem.Forward;
        var costs = AllChains(dag).Select(c => PaperCostModel.Evaluate(dag, c)).ToList();
        long minPeak = costs.Min(c => c.PeakBytes);
        long maxPeak = costs.Max(c => c.PeakBytes);

        // Least peak: the min-max DP finds exactly the brute-force minimum.
        var found = new DpSolver().MinimumBudget(problem, new SolverOptions());
        Assert.NotNull(found);
        Assert.Equal(minPeak, found.Value.Budget);

        // Least overhead at several budgets between the extremes.
        foreach (var budget in new[] { minPeak, (minPeak + maxPeak) / 2, maxPeak })
        {
            var best = costs.Where(c => c.PeakBytes <= budget).Min(c => c.Overhead);
            var r = new DpSolver().Solve(problem, new SolverOptions { BudgetBytes = budget });
            Assert.True(r.Feasible);
            Assert.Equal(best, r.PaperModelOverhead);
            Assert.True(r.PaperModelPeakBytes <= budget);
        }
        // Below the minimum nothing fits.
        Assert.False(new DpSolver().Solve(problem, new SolverOptions { BudgetBytes = minPeak - 1 }).Feasible);
    }

    [Theory]
    [InlineData(31)] [InlineData(32)]
    public void WorkLimit_StopsTheExactDp_AtTheSamePoint_WithAnyThreadCount(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 20));
        long min = SmallestBudget.MinMemory(problem, "dp", new SolverOptions()).MinBudgetBytes;
        long budget = min + (RecomputePlanner.StoreAllPeak(problem) - min) / 3;
        var options = new SolverOptions { BudgetBytes = budget };
        // The whole run's work, counted with no limit, is the same with one thread and with four.
        var one = new DpWork(long.MaxValue / 2);
        var four = new DpWork(long.MaxValue / 2);
        var plan = RecomputePlanner.Plan(problem, "dp", options with { Threads = 1, DpWork = one });
        RecomputePlanner.Plan(problem, "dp", options with { Threads = 4, DpWork = four });
        Assert.True(plan.Feasible);
        Assert.True(one.Done > 0);
        Assert.Equal(one.Done, four.Done);
        // Half that work is not enough: the DP stops, with either thread count, having done the same work.
        var halfOne = new DpWork(one.Done / 2);
        var halfFour = new DpWork(one.Done / 2);
        Assert.Throws<DpWorkLimitException>(() => RecomputePlanner.Plan(problem, "dp", options with { Threads = 1, DpWork = halfOne }));
        Assert.Throws<DpWorkLimitException>(() => RecomputePlanner.Plan(problem, "dp", options with { Threads = 4, DpWork = halfFour }));
        Assert.Equal(halfOne.Done, halfFour.Done);
        Assert.True(halfOne.Done > one.Done / 2);
        // A limit of the whole work lets it finish with the same plan.
        var exact = RecomputePlanner.Plan(problem, "dp", options with { Threads = 2, DpWork = new DpWork(one.Done) });
        Assert.Equal(ScheduleFormat.ToJson(plan.Schedule!), ScheduleFormat.ToJson(exact.Schedule!));
    }

    [Theory]
    [InlineData(21)] [InlineData(22)] [InlineData(23)] [InlineData(24)]
    public void DeepeningTimeCap_ReturnsTheUncappedChain(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 16));
        var dag = problem.Forward;
        var family = LowerSetFamily.All(dag, 100_000);
        var dp = new CanonicalDp(family, [], [], CanonicalDp.ChooseUnit(dag, new SolverOptions().TimeBuckets), threads: 1);
        var min = dp.MinimumPeak(long.MaxValue / 4, CancellationToken.None)!.Value.Peak;
        long storeAll = PaperCostModel.Evaluate(dag, CanonicalStrategy.EveryTensor(dag)).PeakBytes;
        int compared = 0;
        foreach (var budget in new[] { min, min + (storeAll - min) / 4, min + (storeAll - min) / 2, storeAll })
        {
            var deep = dp.Solve(budget, Objective.Time, CancellationToken.None);
            var full = dp.SolveUncapped(budget, Objective.Time, CancellationToken.None);
            Assert.Equal(full is null, deep is null);
            if (full is null) continue;
            Assert.Equal(full.Blocks.Select(b => string.Join(",", b)), deep!.Blocks.Select(b => string.Join(",", b)));
            compared++;
        }
        Assert.True(compared >= 3);
    }

    [Theory]
    [InlineData(11)] [InlineData(12)] [InlineData(13)] [InlineData(14)] [InlineData(15)]
    public void Plans_AreValid_FitTheBudget_AndMoreBudgetNeverCostsMore(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 14));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        var min = SmallestBudget.MinMemory(problem, "dp", new SolverOptions());
        Assert.True(min.Plan.Feasible);
        double previous = double.MaxValue;
        for (long budget = min.MinBudgetBytes; budget <= storeAll * 2; budget += Math.Max(1, storeAll / 10))
        {
            var exact = RecomputePlanner.Plan(problem, "dp", new SolverOptions { BudgetBytes = budget });
            var approx = RecomputePlanner.Plan(problem, "dp-approx", new SolverOptions { BudgetBytes = budget });
            var chen = RecomputePlanner.Plan(problem, "chen", new SolverOptions { BudgetBytes = budget });
            Assert.True(exact.Feasible);
            // Simulated peak within the budget and within the paper-model peak of the same strategy.
            Assert.True(exact.Simulation!.PeakBytes <= budget);
            Assert.True(exact.Simulation.PeakBytes <= exact.Solver.PaperModelPeakBytes);
            // In the paper model the exact DP is never worse than the approximate DP or Chen.
            if (approx.Solver.Feasible) Assert.True(exact.Solver.PaperModelOverhead <= approx.Solver.PaperModelOverhead);
            if (chen.Solver.Feasible) Assert.True(exact.Solver.PaperModelOverhead <= chen.Solver.PaperModelOverhead);
            // More budget never costs more time.
            Assert.True(exact.Solver.PaperModelOverhead <= previous);
            previous = exact.Solver.PaperModelOverhead!.Value;
            // Each tensor is recomputed at most once by a canonical plan.
            var recomputes = exact.Schedule!.Steps.Where(s => s.Kind == StepKind.Recompute).Select(s => s.Task).ToList();
            Assert.Equal(recomputes.Count, recomputes.Distinct().Count());
        }
    }

    [Fact]
    public void Chain_HandComputedBudget()
    {
        // x → a1 → … → a8 → loss, every tensor 10 bytes, times 1.
        // Store-all: in backward a1..a8 (80) + grad(loss) (10) + grad(a8) (10) are live at once: 100 bytes.
        // Checkpointing a2, a4, a6, a8 (blocks of two): at block {a7, a8} the paper model counts cached
        // a2, a4, a6 (30) + 2·M(V) (40) + M(A = {loss}) (10) = 80, so a budget of 80 must be met with recomputation.
        var g = new GraphBuilder("chain", "paper");
        int prev = g.Input("x", 10);
        for (int i = 1; i <= 8; i++) prev = g.Activation($"a{i}", "Op", [prev], 10, 1);
        g.Loss("loss", "Loss", [prev], 10, 1);
        var problem = new PlanningProblem(g.Build());
        var storeAll = RecomputePlanner.StoreAll(problem);
        Assert.Equal(100, storeAll.Simulation.PeakBytes);
        Assert.Equal(0, storeAll.Simulation.RecomputeTime);
        var plan = RecomputePlanner.Plan(problem, "dp", new SolverOptions { BudgetBytes = 80 });
        Assert.True(plan.Feasible);
        Assert.True(plan.Simulation!.RecomputeTime > 0);
        Assert.True(plan.Simulation.PeakBytes <= 80);
        // The solver in the paper's model also finds a chain within 80 bytes of that model.
        var paper = new DpSolver().Solve(problem, new SolverOptions { BudgetBytes = 80 });
        Assert.True(paper.Feasible);
        Assert.True(paper.PaperModelPeakBytes <= 80);
    }
}
