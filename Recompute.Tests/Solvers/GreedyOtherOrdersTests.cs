using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Auto's greedy member searches greedy's own first-run orders and, besides, those of the plans the portfolio found
/// before it (chen's, per-block's, the DPs'). It must never be worse than <c>--solver greedy</c> at the same options:
/// a user who sees greedy alone beat auto has been let down by the portfolio.
/// </summary>
public class GreedyOtherOrdersTests
{
    [Fact]
    public void Search_WithOtherPlansOrders_IsNeverWorseThanGreedyAlone_AndTakesThemWhereTheyAreCheaper()
    {
        int cases = 0;
        for (int seed = 1; seed <= 12; seed++)
        {
            var problem = new PlanningProblem(RandomGraphs.Forward(seed, 18));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in new[] { 0.5, 0.65, 0.8 })
            {
                var options = new SolverOptions { BudgetBytes = (long)(storeAll * fraction), TimeLimit = AutoPortfolio.DefaultTimeLimit };
                var alone = GreedySolver.Search(problem.Training, [], options, SolverName.Greedy);
                // Other plans' orders: what the portfolio's members found at this budget, and random topological orders.
                var others = new[] { SolverName.Chen, SolverName.DpApprox }
                    .Select(s => RecomputePlanner.Plan(problem, s, options))
                    .Where(p => p.Feasible)
                    .Select(p => StageOrder.FirstRunOrder(p.Schedule!))
                    .Concat(Enumerable.Range(0, 3).Select(k => RandomOrder(problem.Training, seed * 31 + k)))
                    .ToList();
                var together = GreedySolver.Search(problem.Training, others, options, SolverName.Greedy);
                if (alone is null) continue;
                cases++;
                Assert.NotNull(together);
                var replay = Simulator.Simulate(together.Value.Schedule);
                Assert.True(replay.PeakBytes <= options.BudgetBytes, $"seed {seed} at {fraction}: peak {replay.PeakBytes} over {options.BudgetBytes}");
                Assert.True(together.Value.Simulation.RecomputeTime <= alone.Value.Simulation.RecomputeTime + 1e-9,
                    $"seed {seed} at {fraction}: {together.Value.Simulation.RecomputeTime} with the other plans' orders, {alone.Value.Simulation.RecomputeTime} alone");
                // The other orders' own greedy passes are candidates too.
                var plain = GreedySolver.Best(problem.Training, others, options, SolverName.Greedy, CancellationToken.None);
                if (plain is { } p && p.Simulation.RecomputeTime < alone.Value.Simulation.RecomputeTime)
                {
                    Assert.True(together.Value.Simulation.RecomputeTime <= p.Simulation.RecomputeTime + 1e-9, $"seed {seed} at {fraction}");
                }
            }
        }
        Assert.True(cases >= 20, $"only {cases} cases with a plan");
    }

    /// <summary>A topological order of the training tasks, ties broken at random.</summary>
    private static int[] RandomOrder(Recompute.Planner.Graph.TrainingGraph training, int seed)
    {
        var random = new Random(seed);
        var waiting = training.Tasks.Select(t => t.Inputs.Distinct().Count()).ToArray();
        var readers = training.Tasks.Select(_ => new List<int>()).ToArray();
        foreach (var t in training.Tasks) foreach (int i in t.Inputs.Distinct()) readers[i].Add(t.Id);
        var ready = training.Tasks.Where(t => waiting[t.Id] == 0).Select(t => t.Id).ToList();
        var order = new List<int>();
        while (ready.Count > 0)
        {
            int k = random.Next(ready.Count);
            int task = ready[k];
            ready.RemoveAt(k);
            order.Add(task);
            foreach (int r in readers[task]) if (--waiting[r] == 0) ready.Add(r);
        }
        return order.ToArray();
    }
}
