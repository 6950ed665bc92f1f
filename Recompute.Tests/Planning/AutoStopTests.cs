using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>
/// <see cref="SolverOptions.Stop"/>, the command's wall-clock stop for auto: a stop that has fired stops every member
/// and says so (no plan, status unknown, no exception); one that never fires changes nothing, byte for byte.
/// </summary>
public class AutoStopTests
{
    [Fact]
    public void AStopThatHasFired_StopsEveryMember_AndSaysSo()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(3, 40));
        long budget = problem.StoreAll.Simulation.PeakBytes / 2;
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        var plan = AutoPortfolio.Plan(problem, new SolverOptions { BudgetBytes = budget, Stop = stop.Token });
        Assert.False(plan.Feasible);
        Assert.Equal(PlanStatus.Unknown, plan.Solver.Status);
        Assert.Contains("time limit stopped chen", plan.Solver.Reason);
        Assert.Contains("greedy", plan.Solver.Reason);
    }

    [Fact]
    public void AStopThatHasFired_StillGivesStoreAllWhereItFits()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(3, 40));
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        var plan = AutoPortfolio.Plan(problem, new SolverOptions { BudgetBytes = problem.StoreAll.Simulation.PeakBytes, Stop = stop.Token });
        Assert.True(plan.Feasible);
        Assert.Equal(SolverName.StoreAll, plan.Solver.WinningSolver);
    }

    [Fact]
    public void AStopThatNeverFires_ChangesNothing()
    {
        var problem = new PlanningProblem(GreedyNeedTests.Chain(120));
        long budget = problem.StoreAll.Simulation.PeakBytes / 2;
        var options = new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(2) };
        using var stop = new CancellationTokenSource();
        var without = AutoPortfolio.Plan(problem, options);
        var with = AutoPortfolio.Plan(problem, options with { Stop = stop.Token });
        Assert.True(with.Feasible);
        Assert.Equal(ScheduleFormat.ToJson(without.Schedule!), ScheduleFormat.ToJson(with.Schedule!));
        Assert.Equal(without.Solver.Note, with.Solver.Note);
        Assert.Equal(without.Solver.LowerBound, with.Solver.LowerBound);
        Assert.True(Simulator.Simulate(with.Schedule!).PeakBytes <= budget);
    }
}
