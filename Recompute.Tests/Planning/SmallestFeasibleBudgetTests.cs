using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

public class SmallestFeasibleBudgetTests
{
    /// <summary>The smallest feasible budget the planner reports is one it can plan for (sweeps start there).</summary>
    [Theory]
    [InlineData("random", 31)] [InlineData("random", 32)] [InlineData("random", 33)] [InlineData("random", 34)]
    [InlineData("resnet18", 0)]
    // ResNet-50's smallest dp-approx schedule peaks below the model budget that found it, and planning at that
    // peak finds no chain: the reported budget must be the one that plans.
    [InlineData("resnet50", 0)]
    public void ReportedBudget_Plans(string graph, int seed)
    {
        var problem = new PlanningProblem(graph switch
        {
            "random" => RandomGraphs.Forward(seed, nodes: 16),
            "resnet18" => GraphLoader.Load(Path.Combine(Paths.RepoRoot, "graphs", "resnet18-b32.onnx"), new GraphLoadOptions { Batch = 1 }),
            _ => GraphLoader.Load(Path.Combine(Paths.RepoRoot, "graphs", "resnet50-b64.onnx")),
        });
        foreach (var solver in new[] { "dp-approx", "dp" })
        {
            var least = RecomputePlanner.SmallestFeasibleBudget(problem, solver, new SolverOptions());
            Assert.NotNull(least);
            var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = least.Value });
            Assert.True(plan.Feasible, $"{solver}: the reported smallest budget {least} does not plan: {plan.Solver.Reason}");
            Assert.True(plan.Simulation!.PeakBytes <= least.Value);
        }
    }

    /// <summary>
    /// Greedy's smallest budget plans, respects the per-task footprint, and on U-Net goes below every canonical
    /// plan (general schedules recompute across blocks).
    /// </summary>
    [Fact]
    public void GreedyBudget_Plans_AndGoesBelowTheCanonicalLeast_OnUNet()
    {
        var problem = new PlanningProblem(GraphLoader.Load(Path.Combine(Paths.RepoRoot, "graphs", "unet-b1-64.json")));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        var greedy = RecomputePlanner.SmallestGreedyBudget(problem, new SolverOptions(), storeAll);
        Assert.NotNull(greedy);
        Assert.True(greedy.Value >= Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes);
        var plan = RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = greedy.Value });
        Assert.True(plan.Feasible);
        Assert.True(plan.Simulation!.PeakBytes <= greedy.Value);
        var canonical = RecomputePlanner.SmallestFeasibleBudget(problem, "dp-approx", new SolverOptions());
        Assert.True(greedy.Value < canonical, $"greedy {greedy} vs dp-approx {canonical}");
    }
}
