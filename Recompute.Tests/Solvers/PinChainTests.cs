using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Issue 32: greedy's pin chains (<c>GreedySolver.PinChains</c>) keep a large buffer together with the buffers it
/// displaces, where no single pin pays. On ResNet-18 at half of store-all that is the stem's ReLU output and the
/// layer-1 convolution outputs: the stem's convolution is recomputed once instead of twice. Their plans are valid,
/// within the budget, deterministic and honour the pins.
/// </summary>
public class PinChainTests
{
    [Fact]
    public void Auto_RecomputesTheStemOnce_OnResNet18AtHalf()
    {
        var problem = new PlanningProblem(GraphLoader.Load(Path.Combine(Paths.Graphs, "resnet18-b32.onnx")));
        long budget = RecomputePlanner.StoreAllPeak(problem) / 2;
        var plan = RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = budget, TimeLimit = AutoPortfolio.DefaultTimeLimit });
        Assert.True(plan.Feasible, plan.Solver.Reason);
        Assert.True(plan.Simulation!.PeakBytes <= budget, $"peak {plan.Simulation.PeakBytes} over {budget}");
        // Measured: 1.170·10¹⁰ FLOP with the chains; 1.553·10¹⁰ without (the stem's convolution twice, 2 × 7.55·10⁹).
        Assert.True(plan.Simulation.RecomputeTime < 1.3e10, $"recompute {plan.Simulation.RecomputeTime:E3}");
        int stem = problem.Training.ForwardTaskOf(problem.Graph.Find("/net/conv1/Conv_output_0").Id);
        Assert.Equal(1, plan.Schedule!.Steps.Count(s => s.Kind == StepKind.Recompute && s.Task == stem));
    }

    [Fact]
    public void Chains_OnRandomDags_AreValid_WithinBudget_Deterministic_CheaperAndHonourPins()
    {
        var (tried, improved) = PinnedRandomCase.AssertImprovesUnderPins((training, start, orders, options) =>
            GreedySolver.PinChains(training, start, orders, options, SolverName.Greedy, CancellationToken.None));
        Assert.True(improved >= 1, $"the chains improved {improved} of {tried} plans");
    }

    [Fact]
    public void Chains_DeclineAPlanWithoutRecomputation_ByFindingNothingToPin()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(3, 20));
        var training = problem.Training;
        var options = new SolverOptions { BudgetBytes = RecomputePlanner.StoreAllPeak(problem) };
        var orders = GreedySolver.Orders(training).ToList();
        var start = GreedySolver.Best(training, orders, options, SolverName.Greedy);
        Assert.NotNull(start);
        Assert.Equal(0, start.Value.Simulation.RecomputeTime);
        Assert.Null(GreedySolver.PinChains(training, start.Value, orders, options, SolverName.Greedy, CancellationToken.None));
    }
}
