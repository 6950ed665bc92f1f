using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Planning;

/// <summary>
/// A long chain goes through import, planning, lowering, simulation and the schedule file on a thread with an
/// ordinary 1 MiB stack: nothing on the way may recurse once per tensor (issue 7). The 100,000-node figures are
/// in the <c>scale</c> benchmark; this guards the code paths with a chain long enough to overflow any recursion.
/// </summary>
public class LargeGraphTests
{
    private const int Nodes = 20_000;

    private static ComputationGraph Chain(int n)
    {
        var b = new GraphBuilder($"chain{n}", "paper");
        int prev = b.Input("x", 1024);
        for (int i = 0; i < n - 1; i++)
        {
            if (i % 2 == 0)
            {
                int w = b.Parameter($"w{i}", 64);
                prev = b.Activation($"conv{i}", "Conv", [prev, w], 1024, 10, backwardNeeds: [0, 1]);
            }
            else
                prev = b.Add(new NodeSpec($"relu{i}", "Relu", NodeKind.Activation)
                    { Inputs = [prev], Bytes = 1024, Time = 1, BackwardNeeds = [], BackwardNeedsOutput = true });
        }
        b.Loss("loss", "ReduceMean", [prev], 4, 1, backwardNeeds: []);
        return b.Build();
    }

    private static void OnSmallStack(Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { action(); }
            catch (Exception e) { failure = e; }
        }, maxStackSize: 1 << 20);
        thread.Start();
        thread.Join();
        if (failure is not null) throw new AggregateException(failure);
    }

    [Fact]
    public void ChainOf20000_PlansLowersAndSimulates_WithinBudget_OnAnOrdinaryStack()
    {
        var dir = Directory.CreateTempSubdirectory("recompute-large-");
        try
        {
            OnSmallStack(() =>
            {
                var file = Path.Combine(dir.FullName, "chain.json");
                NativeGraphFormat.Save(Chain(Nodes), file);
                var problem = new PlanningProblem(GraphLoader.Load(file));
                Assert.Equal(Nodes, problem.Forward.Count);
                long storeAll = RecomputePlanner.StoreAllPeak(problem);
                long budget = storeAll / 2;

                // A thinned family (every 50th ancestral set) keeps the test quick in a Debug build; the planner
                // takes its large-graph path, the same one as the benchmark's.
                var options = new SolverOptions { BudgetBytes = budget, MaxApproxSets = 400 };
                var plan = RecomputePlanner.Plan(problem, "dp-approx", options);
                Assert.True(plan.Feasible, plan.Solver.Reason);
                Assert.True(plan.Simulation!.PeakBytes <= budget);
                Assert.True(plan.Simulation.RecomputeTime > 0, "half the store-all peak cannot hold every tensor");
                // Over the thinned family alone every block spans 50 tensors (25 Conv of time 10, 25 Relu of time 1)
                // and the backward recomputes all but the last: at least 265/275 = 96 % of the forward time. The
                // refinement cuts the chain after the convolutions the budget can keep, so far less is recomputed.
                Assert.True(plan.Simulation.Overhead < 0.9, $"overhead {plan.Simulation.Overhead:P1}");

                // The schedule file is read back and replayed to the same peak, under the stated budget.
                var scheduleFile = Path.Combine(dir.FullName, "schedule.json");
                ScheduleFormat.Write(plan.Schedule!, scheduleFile);
                var replayed = Simulator.Simulate(ScheduleFormat.Read(scheduleFile, problem.Training));
                Assert.Equal(plan.Simulation.PeakBytes, replayed.PeakBytes);

                // Chen's plan (one articulation candidate per tensor) is valid too.
                var chen = RecomputePlanner.Plan(problem, "chen", options);
                Assert.True(chen.Feasible, chen.Solver.Reason);
                PaperCostModel.Validate(problem.Forward, chen.Solver.Strategy!);
            });
        }
        finally { dir.Delete(recursive: true); }
    }
}
