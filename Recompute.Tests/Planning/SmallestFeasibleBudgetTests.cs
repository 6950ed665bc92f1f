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
}
