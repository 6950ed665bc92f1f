using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Solvers;

namespace Recompute.Tests.Scheduling;

/// <summary>
/// The size limit for schedule files follows the graph (issue 32: the 1,000,000-tensor chain's schedule is 300 MB,
/// over the fixed 256 MiB): the room it makes must hold every schedule the planner writes for the graph, with room
/// to spare, and small graphs keep the fixed limit.
/// </summary>
public class ScheduleLimitTests
{
    [Fact]
    public void TheRoomHoldsThePlannersSchedules_FarBeyondTheirSize()
    {
        var problem = new PlanningProblem(GreedyNeedTests.Chain(300));
        long room = InputKind.ScheduleRoom(problem.Training);
        long storeAll = problem.StoreAll.Simulation.PeakBytes;
        foreach (var solver in new[] { SolverName.StoreAll, SolverName.Chen, SolverName.DpApprox, SolverName.Greedy })
            foreach (double f in new[] { 0.3, 0.5, 1.0 })
            {
                var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = (long)(storeAll * f) });
                if (!plan.Feasible) continue;
                long written = ScheduleFormat.ToJson(plan.Schedule!).Length;
                Assert.True(written * 4 < room, $"{solver} at {f:P0}: {written} bytes written, room {room}");
            }
        Assert.Equal(InputKind.Schedule.MaxBytes, InputKind.ScheduleFor(problem.Training).MaxBytes);
    }

    [Fact]
    public void ALargeGraphGetsMoreThanTheFixedLimit_UpToOneArray()
    {
        var training = TrainingGraph.Derive(GreedyNeedTests.Chain(80_000));
        long limit = InputKind.ScheduleFor(training).MaxBytes;
        Assert.True(limit > InputKind.Schedule.MaxBytes);
        Assert.True(limit <= int.MaxValue);
        Assert.Equal(Math.Min(InputKind.ScheduleRoom(training), int.MaxValue), limit);
    }
}
