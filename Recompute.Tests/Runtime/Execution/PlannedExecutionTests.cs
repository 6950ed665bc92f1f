using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Execution;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>Plans from the planner's solvers, executed: the arena measures exactly the simulated memory and the gradients are store-all's.</summary>
public class PlannedExecutionTests
{
    /// <summary>Deep enough that 30% of store-all is feasible for the canonical DP (the stem and head are small next to the body).</summary>
    internal static Recompute.Planner.Graph.ComputationGraph Deep(string name) => name switch
    {
        "mlp50" => TestModels.Mlp(50),
        "cnn" => TestModels.Cnn(blocks: 24),
        "gpt" => TestModels.Gpt(layers: 10),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [InlineData("mlp50", 0.3)]
    [InlineData("mlp50", 0.5)]
    [InlineData("mlp50", 1.0)]
    [InlineData("cnn", 0.3)]
    [InlineData("cnn", 0.5)]
    [InlineData("cnn", 1.0)]
    [InlineData("gpt", 0.3)]
    [InlineData("gpt", 0.5)]
    [InlineData("gpt", 1.0)]
    public void PlannedSchedule_MeasuredPeakIsPredicted_GradientsEqualStoreAll(string name, double fraction)
    {
        var problem = new PlanningProblem(Deep(name));
        var (storeAll, storeSim) = RecomputePlanner.StoreAll(problem);
        long budget = (long)Math.Floor(fraction * storeSim.PeakBytes);
        var plan = RecomputePlanner.Plan(problem, "dp-approx", new SolverOptions { BudgetBytes = budget });
        Assert.True(plan.Feasible, $"{name} at {fraction:P0} ({budget} B): {plan.Solver.Reason}");
        var (a, ga) = ScheduleExecutorTests.RunOnce(storeAll);
        var (b, gb) = ScheduleExecutorTests.RunOnce(plan.Schedule!);
        Assert.Equal(plan.Simulation!.PeakBytes, b.MeasuredPeakBytes);
        ScheduleExecutorTests.AssertSameTimeline(plan.Schedule!, plan.Simulation, b);
        Assert.True(b.MeasuredPeakBytes <= budget);
        if (fraction < 1) Assert.True(b.Recomputations > 0);
        Assert.Equal(a.Loss, b.Loss);
        foreach (var (param, g) in ga) Assert.Equal(g, gb[param]);
    }
}
