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
            var least = SmallestBudget.OfCanonicalDp(problem, solver, new SolverOptions());
            Assert.NotNull(least);
            var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = least.Value });
            Assert.True(plan.Feasible, $"{solver}: the reported smallest budget {least} does not plan: {plan.Solver.Reason}");
            Assert.True(plan.Simulation!.PeakBytes <= least.Value);
        }
    }

    /// <summary>
    /// No schedule peaks below the largest step (one task's output and inputs together): every solver's smallest
    /// feasible budget is at least that, and one byte below it every solver is infeasible and says that no schedule
    /// fits, naming the step. Greedy's bisection ends above the peak of the plan it found: the service lowers it to
    /// that peak, which on VGG-16 is the largest step itself (the smallest budget is then proven least).
    /// </summary>
    [Theory]
    [InlineData(41)] [InlineData(42)] [InlineData(43)]
    public void SmallestBudget_IsNeverBelowTheLargestStep_AndBelowItNoSolverPlans(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 14));
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes;
        foreach (var solver in new[] { "auto", "greedy", "dp-approx", "dp", "chen", "store-all" })
        {
            var least = SmallestBudget.Bytes(problem, solver, new SolverOptions());
            if (least is { } b) Assert.True(b >= floor, $"{solver}: smallest {b} below the largest step {floor}");
            var below = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = floor - 1 });
            Assert.False(below.Feasible, $"{solver} plans below the largest step");
            Assert.Equal(PlanStatus.Infeasible, below.Solver.Status);
            Assert.StartsWith("no schedule of this graph fits it: ", below.Solver.Reason);
        }
    }

    [Fact]
    public void SmallestBudget_OfVgg16_IsItsLargestStep()
    {
        var problem = new PlanningProblem(GraphLoader.Load(Path.Combine(Paths.RepoRoot, "graphs", "vgg16-b32.onnx")));
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes;
        var least = SmallestBudget.Find(problem, "auto", new SolverOptions());
        Assert.NotNull(least);
        Assert.Equal(floor, least.BudgetBytes);
        Assert.True(least.Plan.Feasible);
        Assert.Equal(floor, least.Plan.Simulation!.PeakBytes);
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
        var greedy = SmallestBudget.OfGreedy(problem, new SolverOptions(), storeAll);
        Assert.NotNull(greedy);
        Assert.True(greedy.Value >= Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes);
        var plan = RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = greedy.Value });
        Assert.True(plan.Feasible);
        Assert.True(plan.Simulation!.PeakBytes <= greedy.Value);
        var canonical = SmallestBudget.OfCanonicalDp(problem, "dp-approx", new SolverOptions());
        Assert.True(greedy.Value < canonical, $"greedy {greedy} vs dp-approx {canonical}");
    }

    /// <summary>
    /// The exact DP's family holds every chain of lower sets: wherever dp-approx's, per-block's or chen's chain fits
    /// by simulation, the exact DP plans too and recomputes no more (ResNet-50's per-block chain simulates to
    /// 1,496,449,024 B); and its smallest feasible budget is at most theirs.
    /// </summary>
    [Fact]
    public void ExactDp_ReachesEveryChainOfItsFamily_ThatAnotherSolverFinds()
    {
        var problem = new PlanningProblem(GraphLoader.Load(Path.Combine(Paths.RepoRoot, "graphs", "resnet50-b64.onnx")));
        var perBlock = SmallestBudget.Find(problem, "per-block", new SolverOptions());
        Assert.NotNull(perBlock);
        Assert.Equal(1_496_449_024, perBlock.BudgetBytes);
        var dp = SmallestBudget.Find(problem, "dp", new SolverOptions());
        Assert.NotNull(dp);
        Assert.True(dp.BudgetBytes <= perBlock.BudgetBytes, $"dp's smallest budget {dp.BudgetBytes} is above per-block's {perBlock.BudgetBytes}");
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        foreach (long budget in new[] { perBlock.BudgetBytes, storeAll * 35 / 100, storeAll / 2 })
        {
            var exact = RecomputePlanner.Plan(problem, "dp", new SolverOptions { BudgetBytes = budget });
            Assert.True(exact.Feasible, $"dp at {budget}: {exact.Solver.Reason}");
            Assert.True(exact.Simulation!.PeakBytes <= budget);
            foreach (var other in new[] { "dp-approx", "per-block", "chen" })
            {
                var plan = RecomputePlanner.Plan(problem, other, new SolverOptions { BudgetBytes = budget });
                if (plan.Feasible) Assert.True(exact.Simulation.RecomputeTime <= plan.Simulation!.RecomputeTime,
                    $"{other} recomputes less than dp at {budget}");
            }
        }
    }
}
