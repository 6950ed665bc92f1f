using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Issue 14: the greedy solver stops when it is told to. Its time limit stops it with the best schedule found so
/// far; Ctrl-C (the cancellation token) stops it by exception; both are seen at every stage of a greedy run, so a
/// run on a wide graph cannot overrun them by more than one stage. The behaviour is tested with tokens that are
/// already cancelled (deterministic); the times on the W = 5,000 fan-out are in the benchmarks' <c>wide</c> table.
/// </summary>
public class GreedyLimitTests
{
    /// <summary>x → W Relu branches → Concat → loss, each tensor 64 bytes (the Concat 64·W).</summary>
    private static TrainingGraph FanOut(int w)
    {
        var b = new GraphBuilder("fan");
        int x = b.Input("x", 64);
        var branches = new List<int>();
        for (int i = 0; i < w; i++) branches.Add(b.Activation($"r{i}", "Relu", [x], 64, 1, backwardNeeds: [0]));
        int c = b.Activation("c", "Concat", branches, 64L * w, w, backwardNeeds: []);
        b.Loss("loss", "Sum", [c], 4, 1);
        return TrainingGraph.Derive(b.Build());
    }

    /// <summary>
    /// x → W Relu branches → a native Concat without backwardNeeds (its backward reads every operand, so each of the W
    /// branch gradients reads all W branches: W² edges) → loss; with the branches' node ids.
    /// </summary>
    private static (PlanningProblem Problem, List<int> Branches) WideConcat(int w)
    {
        var b = new GraphBuilder("wide");
        int x = b.Input("x", 64);
        var branches = Enumerable.Range(0, w).Select(i => b.Activation($"r{i}", "Relu", [x], 64, 1)).ToList();
        b.Loss("loss", "Sum", [b.Activation("c", "Concat", branches, 64L * w, w)], 4, 1);
        return (new PlanningProblem(b.Build()), branches);
    }

    [Fact]
    public void Deadline_StopsTheSearch_WithWhatItHas_AndCancellationThrows()
    {
        var training = FanOut(200);
        var options = new SolverOptions { BudgetBytes = long.MaxValue };
        using var stopped = new CancellationTokenSource();
        stopped.Cancel();
        // The deadline has passed before the first run: no schedule, and no exception.
        Assert.Null(GreedySolver.Search(training, [], options, "greedy", 0, CancellationToken.None, stopped.Token));
        // Ctrl-C is not a time limit: it throws, so the command can exit 130 and write nothing.
        Assert.ThrowsAny<OperationCanceledException>(() => GreedySolver.Search(training, [], options, "greedy", 0, stopped.Token));
        Assert.ThrowsAny<OperationCanceledException>(() =>
            GreedyRematerializer.Plan(training, Enumerable.Range(0, training.Count).ToArray(), long.MaxValue,
                EvictionScore.CostPerByteDistance, cancellation: stopped.Token));
        // Without either, the same search plans (store-all fits an unlimited budget).
        Assert.NotNull(GreedySolver.Search(training, [], options, "greedy"));
    }

    [Fact]
    public void WideConcatThatReadsEveryOperand_SharesItsArrays_AndPlans()
    {
        // A native Concat without backwardNeeds: its backward reads every operand, so each of the W branch gradients
        // reads all W branches (W² edges). They share one inputs array, and the branches one readers array, so the
        // training DAG stays linear in memory; the memory-aware order and greedy stop when told and plan it.
        var (problem, branches) = WideConcat(1000);
        var training = problem.Training;
        var grads = branches.Select(n => training.Tasks[training.GradTaskOf(n)]).ToList();
        var branchTasks = branches.Select(training.ForwardTaskOf).ToHashSet();
        Assert.All(grads, t => Assert.True(branchTasks.IsSubsetOf(t.Inputs)));
        Assert.Single(grads.Select(t => System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsArray(t.Inputs)!).Distinct(ReferenceEqualityComparer.Instance));
        Assert.Single(branches.Select(n => training.ReadersArray(training.ForwardTaskOf(n))).Distinct(ReferenceEqualityComparer.Instance));
        Assert.Equal(branches.Count + 1, training.Readers(training.ForwardTaskOf(branches[0])).Length); // c and the W gradients

        using var stopped = new CancellationTokenSource();
        stopped.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => GreedyRematerializer.MemoryAwareOrder(training, stopped.Token));
        var order = GreedyRematerializer.MemoryAwareOrder(training);
        Assert.Equal(Enumerable.Range(0, training.Count), order.Order());
        long storeAll = Recompute.Planner.Planning.RecomputePlanner.StoreAllPeak(problem);
        var plan = Recompute.Planner.Planning.RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = storeAll,
            TimeLimit = TimeSpan.FromSeconds(30) });
        Assert.True(plan.Feasible, plan.Solver.Reason);
        Assert.Equal(plan.Simulation!.PeakBytes, Simulator.Simulate(plan.Schedule!).PeakBytes);
    }

    /// <summary>
    /// On a DAG with W² edges (a Concat whose backward reads every operand) the refinements whose passes each visit
    /// every reader are skipped, by size: no bound (its analysis took 20 s and its models a minute at W = 5,000), no
    /// pin search; auto still plans, within its budget, and says it has no bound for every schedule.
    /// </summary>
    [Fact]
    public void AWideConcatReadByEveryGradient_GetsNoBound_ButAPlan()
    {
        var (problem, _) = WideConcat(800);
        var training = problem.Training;
        Assert.True((long)training.Count * training.Tasks.Sum(t => (long)t.Inputs.Length) > Recompute.Planner.Solvers.Optimal.RelaxationGuide.MaxAnalysisWork);
        long budget = Recompute.Planner.Planning.RecomputePlanner.StoreAllPeak(problem) * 9 / 10;
        Assert.Null(Recompute.Planner.Solvers.Optimal.GeneralBound.Prove(training, budget, new HashSet<int>(), TimeSpan.FromSeconds(5),
            new Recompute.Planner.Solvers.Optimal.SearchWorkers(2, 0), 0, CancellationToken.None));
        var plan = Recompute.Planner.Planning.RecomputePlanner.Plan(problem, "auto", new SolverOptions { BudgetBytes = budget,
            TimeLimit = TimeSpan.FromSeconds(5) });
        Assert.True(plan.Feasible, plan.Solver.Reason);
        Assert.True(plan.Simulation!.PeakBytes <= budget);
        Assert.Null(plan.Solver.GeneralLowerBound);
    }

    [Fact]
    public void TimeLimit_OfZero_GivesTheStoreAllPlanWhenItFits()
    {
        // A time limit that has passed before the first greedy run: the solver still answers, with the store-all
        // schedule, since that fits the budget (the store-all peak itself).
        var graph = FanOut(50).Graph;
        var problem = new PlanningProblem(graph);
        long storeAll = Recompute.Planner.Planning.RecomputePlanner.StoreAllPeak(problem);
        var result = new GreedySolver().Solve(problem, new SolverOptions { BudgetBytes = storeAll, TimeLimit = TimeSpan.FromTicks(1) });
        Assert.True(result.Feasible, result.Reason);
        Assert.Equal(storeAll, Simulator.Simulate(result.Schedule!).PeakBytes);
    }
}
