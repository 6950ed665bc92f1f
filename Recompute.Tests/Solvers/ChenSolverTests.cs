using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Solvers;

public class ChenSolverTests
{
    /// <summary>
    /// The paper model counts every value and gradient of a block at once; Chen's plans are judged by their schedule
    /// when the model says no. On ResNet-18 at 95% of store-all the √n plan's model peak is far above the budget
    /// while its schedule fits.
    /// </summary>
    [Fact]
    public void PlanThatFitsBySimulation_IsFeasible_EvenWhenThePaperModelSaysNo()
    {
        var graph = GraphLoader.Load(Path.Combine(Support.Paths.RepoRoot, "graphs", "resnet18-b32.onnx"), new GraphLoadOptions { Batch = 1 });
        var problem = new PlanningProblem(graph);
        long budget = RecomputePlanner.StoreAllPeak(problem) * 95 / 100;

        var raw = new ChenSolver().Solve(problem, new SolverOptions { BudgetBytes = budget });
        Assert.True(raw.Feasible, raw.Reason);
        Assert.True(raw.PaperModelPeakBytes > budget, "the paper model alone would reject this plan");

        var plan = RecomputePlanner.Plan(problem, "chen", new SolverOptions { BudgetBytes = budget });
        Assert.True(plan.Feasible, plan.Solver.Reason);
        Assert.True(plan.Simulation!.PeakBytes <= budget);
        Assert.True(plan.Simulation.RecomputeTime > 0);
    }
}
