using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

public class OptimalSolverTests
{
    // Two interleaved workers: deterministic for a fixed seed, and one of them proves bounds with the LP.
    private static SolverOptions Quick(long budget) => new() { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(3), Threads = 2, Seed = 7 };

    /// <summary>x → a → b → c → loss, every activation 100 bytes, times 1..4 (derived training DAG).</summary>
    private static ComputationGraph Chain()
    {
        var b = new GraphBuilder("chain", "paper");
        int x = b.Input("x", 100);
        int a = b.Activation("a", "Relu", [x], 100, 1);
        int bb = b.Activation("b", "Relu", [a], 100, 2);
        int c = b.Activation("c", "Relu", [bb], 100, 3);
        b.Loss("loss", "Loss", [c], 100, 4);
        return b.Build();
    }

    /// <summary>
    /// An explicit training graph in Checkmate's style: a forward chain f0..f5 (sizes 40, 30, 50, 20, 40, 10),
    /// a loss, and a backward node per forward node that reads the gradient from above, the node's input and output.
    /// </summary>
    private static ComputationGraph ExplicitChain()
    {
        var b = new GraphBuilder("explicit-chain", "checkmate");
        long[] bytes = [40, 30, 50, 20, 40, 10];
        var f = new List<int>();
        for (int i = 0; i < bytes.Length; i++)
            f.Add(b.Add(new NodeSpec($"f{i}", "Op", NodeKind.Activation) { Inputs = i == 0 ? [] : [f[i - 1]], Bytes = bytes[i], Time = 1 + i % 3 }));
        int loss = b.Add(new NodeSpec("loss", "Op", NodeKind.Loss) { Inputs = [f[^1]], Bytes = 1, Time = 1 });
        int grad = b.Add(new NodeSpec("loss_backward", "Backward", NodeKind.Activation) { Inputs = [loss, f[^1]], Bytes = 10, Time = 1,
            IsBackward = true, ForwardOf = loss });
        for (int i = bytes.Length - 1; i >= 0; i--)
        {
            var inputs = new List<int> { grad, f[i] };
            if (i > 0) inputs.Add(f[i - 1]);
            grad = b.Add(new NodeSpec($"f{i}_backward", "Backward", NodeKind.Activation) { Inputs = inputs, Bytes = bytes[i], Time = 2,
                IsBackward = true, ForwardOf = f[i] });
        }
        return b.Build();
    }

    [Fact]
    public void ExplicitTrainingGraph_OptimalIsValid_AndNeverWorseThanTheExactDp()
    {
        var problem = new PlanningProblem(ExplicitChain());
        Assert.True(problem.Training.IsExplicit);
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        bool solvedOne = false;
        foreach (var fraction in new[] { 0.9, 0.8, 0.7 })
        {
            long budget = (long)(storeAll * fraction);
            var dp = RecomputePlanner.Plan(problem, "dp", Quick(budget));
            var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, Quick(budget));
            if (dp.Feasible) Assert.True(run.Result.Feasible);
            if (!run.Result.Feasible)
            {
                Assert.NotNull(run.Result.Reason);
                continue;
            }
            solvedOne = true;
            var sim = Simulator.Simulate(run.Result.Schedule!);
            Assert.True(sim.PeakBytes <= budget);
            // The exact DP warm start finished (a 6-node chain), so optimal is at most dp at the same budget.
            if (run.WarmStart != "store-all") Assert.Equal("finished", run.ExactDp);
            Assert.Null(run.Result.Note);
            if (dp.Feasible) Assert.True(sim.RecomputeTime <= dp.Simulation!.RecomputeTime + 1e-9);
            if (run.ModelPeakBytes is { } modelPeak) Assert.Equal(sim.PeakBytes, modelPeak);
        }
        Assert.True(solvedOne);
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)]
    public void RandomGraphs_OptimalIsValid_AndNeverWorseThanTheExactDp(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 7));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        foreach (var fraction in new[] { 0.85, 0.7 })
        {
            long budget = (long)(storeAll * fraction);
            var dp = RecomputePlanner.Plan(problem, "dp", Quick(budget));
            var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, Quick(budget));
            if (dp.Feasible) Assert.True(run.Result.Feasible, $"dp fits {budget} bytes, optimal does not: {run.Result.Reason}");
            if (!run.Result.Feasible) continue;

            // Through the facade too: the same simulator proves the schedule. (When no canonical plan fits, a
            // second search may not find one in its 3 s on a loaded machine.)
            var plan = RecomputePlanner.Plan(problem, "optimal", Quick(budget));
            if (dp.Feasible) Assert.True(plan.Feasible);
            if (plan.Feasible) Assert.True(plan.Simulation!.PeakBytes <= budget);
            var sim = Simulator.Simulate(run.Result.Schedule!);
            Assert.True(sim.PeakBytes <= budget);
            if (dp.Feasible) Assert.True(sim.RecomputeTime <= dp.Simulation!.RecomputeTime + 1e-9);
            if (run.ModelPeakBytes is { } modelPeak) Assert.Equal(sim.PeakBytes, modelPeak);
            Assert.NotNull(run.Result.LowerBound);
            Assert.True(run.Result.LowerBound <= sim.RecomputeTime + 1e-9);
            if (run.Result.Status == PlanStatus.Optimal) Assert.Equal(0, run.Result.Gap!.Value, 9);
        }
    }

    [Fact]
    public void GeneralSchedules_BeatTheExactDp_OnSomeRandomGraph()
    {
        // Canonical strategies recompute each tensor at most once, block by block; a general schedule may free and
        // recompute a tensor several times or recompute gradients. Over a few small graphs and budgets, one must win.
        bool strictlyBetter = false;
        for (int seed = 1; seed <= 12 && !strictlyBetter; seed++)
        {
            var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 7));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (var fraction in new[] { 0.9, 0.8, 0.7 })
            {
                long budget = (long)(storeAll * fraction);
                var dp = RecomputePlanner.Plan(problem, "dp", Quick(budget));
                if (!dp.Feasible) continue;
                var opt = RecomputePlanner.Plan(problem, "optimal", Quick(budget));
                Assert.True(opt.Feasible);
                if (opt.Simulation!.RecomputeTime < dp.Simulation!.RecomputeTime - 1e-9) { strictlyBetter = true; break; }
            }
        }
        Assert.True(strictlyBetter);
    }

    [Fact]
    public void BudgetBelowATasksFootprint_IsInfeasible_WithReasonAndSmallestBudget()
    {
        // grad(b) reads grad(c) and b (c's backward reads its operand): 100 + 100 + its own 100 bytes = 300 bytes
        // live at once, whatever the schedule (no task needs more). A budget of 250 bytes cannot work.
        var problem = new PlanningProblem(Chain());
        var bound = MemoryLowerBound.Of(problem.Training);
        Assert.Equal(300, bound.Bytes);
        var result = new OptimalSolver(PlannerPlanSource.Instance).Solve(problem, Quick(250));
        Assert.False(result.Feasible);
        Assert.Equal(PlanStatus.Infeasible, result.Status);
        Assert.Contains("300 bytes", result.Reason);
        Assert.Contains("the budget is", result.Reason);
        Assert.Contains($"'{bound.Task.Name}'", result.Reason);
        Assert.NotNull(result.MinFeasibleBudgetBytes);
        long min = result.MinFeasibleBudgetBytes!.Value;
        Assert.True(min >= 300);
        // The smallest budget found is really feasible.
        var plan = RecomputePlanner.Plan(problem, "optimal", Quick(min));
        Assert.True(plan.Feasible);
        Assert.True(plan.Simulation!.PeakBytes <= min);
    }

    [Fact]
    public void FixedSeedAndThreads_GiveTheSameScheduleTwice()
    {
        // Reproducible when the search ends by proof (or by its deterministic limit), not by the wall clock: a small
        // graph and a generous wall-clock limit.
        var problem = new PlanningProblem(RandomGraphs.Forward(3, nodes: 5));
        long budget = (long)(RecomputePlanner.StoreAllPeak(problem) * 0.7);
        var options = Quick(budget) with { TimeLimit = TimeSpan.FromSeconds(30) };
        var first = new OptimalSolver(PlannerPlanSource.Instance).Solve(problem, options);
        var second = new OptimalSolver(PlannerPlanSource.Instance).Solve(new PlanningProblem(RandomGraphs.Forward(3, nodes: 5)), options);
        Assert.Equal(first.Feasible, second.Feasible);
        Assert.Equal(first.Status, second.Status);
        if (first.Feasible) Assert.Equal(first.Schedule!.Steps, second.Schedule!.Steps);
    }

    [Fact]
    public void Pins_AreHonoured()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(5, nodes: 8));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        var training = problem.Training;
        for (double fraction = 0.9; fraction >= 0.5; fraction -= 0.1)
        {
            long budget = (long)(storeAll * fraction);
            var free = new OptimalSolver(PlannerPlanSource.Instance).Solve(problem, Quick(budget));
            if (!free.Feasible || free.Schedule!.RecomputedNodes.IsEmpty) continue;

            // Keep the first node the unpinned plan recomputes: it must not be recomputed any more.
            int kept = free.Schedule.RecomputedNodes[0];
            var pinned = new OptimalSolver(PlannerPlanSource.Instance).Solve(problem, Quick(budget) with { Keep = [kept] });
            if (pinned.Feasible)
            {
                Assert.DoesNotContain(kept, pinned.Schedule!.RecomputedNodes);
                Assert.True(Simulator.Simulate(pinned.Schedule).PeakBytes <= budget);
            }

            // Force the recomputation of a forward value the unpinned plan keeps across the gap.
            var liveAtGap = ScheduleFacts.LiveAtFirstBackward(free.Schedule).Where(t => training.Tasks[t].Kind == TaskKind.Forward).ToList();
            if (liveAtGap.Count == 0) continue;
            int node = training.Tasks[liveAtGap[0]].Node;
            var forced = new OptimalSolver(PlannerPlanSource.Instance).Solve(problem, Quick(budget) with { ForceRecompute = [node] });
            if (!forced.Feasible) continue;
            Assert.DoesNotContain(training.ForwardTaskOf(node), ScheduleFacts.LiveAtFirstBackward(forced.Schedule!));
            return;
        }
        Assert.Fail("no budget exercised both pins");
    }

    [Fact]
    public void StagePlan_RoundTripsThroughSchedules_AndItsTraceMatchesTheSimulator()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(2, nodes: 8));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        // The least-memory canonical plan recomputes something.
        var dp = SmallestBudget.MinMemory(problem, "dp-approx", Quick(long.MaxValue)).Plan;
        Assert.False(dp.Schedule!.RecomputedNodes.IsEmpty);
        long budget = dp.Simulation!.PeakBytes;
        var order = StageOrder.FirstRuns(dp.Schedule!);
        var plan = StagePlan.FromSchedule(order, dp.Schedule!);
        Assert.NotNull(plan);
        var again = StagePlan.FromSchedule(order, plan.ToSchedule("test", budget));
        Assert.Equal(plan.Recomputed.Select(r => r.ToArray()), again!.Recomputed.Select(r => r.ToArray()));
        var sim = Simulator.Simulate(plan.ToSchedule("test", null));
        Assert.Equal(sim.PeakBytes, StageTrace.Of(plan).PeakBytes);
        Assert.Equal(sim.RecomputeTime, plan.RecomputeTime(), 9);
    }

    [Fact]
    public void CpSatParameters_AreInvariantCulture_AndKnownFields()
    {
        // Built with invariant culture: a decimal point whatever the machine's culture.
        string text = new CpSatSettings(TimeSpan.FromSeconds(1.5), 2, 42).ToParameterText();
        Assert.Contains("max_time_in_seconds:1.5", text);
        Assert.Contains("num_workers:2", text);
        Assert.Contains("random_seed:42", text);
        Assert.Contains("interleave_search:true", text);
        // Ctrl-C belongs to the process, not to CP-SAT (issue 14).
        Assert.Contains("catch_sigint_signal:false", text);
        foreach (var field in text.Split(' '))
            Assert.NotNull(Google.OrTools.Sat.SatParameters.Descriptor.FindFieldByName(field.Split(':')[0]));
        // Work-limited: the deterministic limit counts, the wall clock only ends a search at 2.5 times plus a second.
        string work = new CpSatSettings(TimeSpan.FromSeconds(0.2), 2, 42) { WorkLimited = true, DeterministicRate = 0.25 }.ToParameterText();
        Assert.Contains("max_time_in_seconds:1.5", work);
        Assert.Contains("max_deterministic_time:0.05", work);
    }

    [Theory]
    [InlineData(0)] [InlineData(300)]
    public void Cancellation_ReturnsAPlanThatFits(int cancelAfterMilliseconds)
    {
        // Cancelled before the search (0 ms: the same outcome however loaded the machine is) or during it (the limit
        // is far away): the best plan so far comes back, never worse than dp-approx. dp-approx and the greedy pass
        // run to their end whatever the token says; the exact DP and CP-SAT stop.
        var problem = new PlanningProblem(RandomGraphs.Forward(4, nodes: 24));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        long least = SmallestBudget.MinMemory(problem, "dp-approx", Quick(long.MaxValue)).Plan.Simulation!.PeakBytes;
        long budget = (least + storeAll) / 2;
        var dp = RecomputePlanner.Plan(problem, "dp-approx", Quick(budget));
        using var cts = new CancellationTokenSource();
        if (cancelAfterMilliseconds == 0) cts.Cancel(); else cts.CancelAfter(cancelAfterMilliseconds);
        var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, Quick(budget) with { TimeLimit = TimeSpan.FromSeconds(600) }, cts.Token);
        var result = run.Result;
        Assert.True(result.Feasible);
        var sim = Simulator.Simulate(result.Schedule!);
        Assert.True(sim.PeakBytes <= budget);
        if (dp.Feasible) Assert.True(sim.RecomputeTime <= dp.Simulation!.RecomputeTime + 1e-9);
        if (cancelAfterMilliseconds == 0) Assert.NotEqual("finished", run.ExactDp);
    }

    [Fact]
    public void ExactDpStoppedByTheTimeLimit_IsSaidInTheResult()
    {
        // The exact DP on the derived training DAG of the 100-node random layered graph takes minutes; with a 2 s
        // limit it is stopped after 1 s, and the result says that optimal may then be above dp.
        var problem = new PlanningProblem(Planner.Import.CheckmateImporter.Load(Paths.CheckmateGraph("random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json")));
        long budget = (long)(RecomputePlanner.StoreAllPeak(problem) * 0.9);
        var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, Quick(budget) with { TimeLimit = TimeSpan.FromSeconds(2) });
        Assert.True(run.Result.Feasible);
        Assert.StartsWith("stopped after 1 s", run.ExactDp);
        Assert.Contains("exact DP warm start was stopped", run.Result.Note);
    }

    /// <summary>Below the per-task footprint the answer is infeasible, and the smallest budget it names plans.</summary>
    [Fact]
    public void InfeasibleBudget_NamesASmallestBudgetThatPlans()
    {
        var problem = new PlanningProblem(Planner.Import.GraphLoader.Load(Path.Combine(Paths.RepoRoot, "graphs", "unet-b1-64.json")));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        var result = new OptimalSolver(PlannerPlanSource.Instance).Solve(problem, Quick(storeAll / 5));
        Assert.False(result.Feasible);
        Assert.NotNull(result.MinFeasibleBudgetBytes);
        long least = result.MinFeasibleBudgetBytes.Value;
        Assert.True(least >= MemoryLowerBound.Of(problem.Training).Bytes);
        var plan = RecomputePlanner.Plan(problem, "optimal", Quick(least));
        Assert.True(plan.Feasible, plan.Solver.Reason);
        Assert.True(plan.Simulation!.PeakBytes <= least);
    }
}
