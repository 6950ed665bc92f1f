using Google.OrTools.Sat;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Tests.Solvers;

/// <summary>
/// The stage model's local search (<see cref="StageLocalSearch"/>) on small random DAGs: its plan replays valid within
/// the budget and never costs more than its start, it is the same plan twice, a window leaves every stage outside it as
/// the plan has it, and with one window over every stage it reaches the exact stage model's proven optimum.
/// </summary>
public class StageLocalSearchTests
{
    private static readonly HashSet<int> None = [];

    /// <summary>Budgets of 50–80 % of store-all's peak, each with <paramref name="solver"/>'s plan over its own first-run
    /// order where that plan recomputes something.</summary>
    private static IEnumerable<(long Budget, StagePlan Start, double StartRecompute)> Starts(int seed, int nodes, string solver = SolverName.Greedy)
    {
        var problem = new PlanningProblem(InPlaceBoundTests.ReluGraph(seed, nodes));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        foreach (double fraction in new[] { 0.5, 0.6, 0.7, 0.8 })
        {
            long budget = (long)(storeAll * fraction);
            var greedy = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget });
            if (!greedy.Feasible || greedy.Simulation!.RecomputeTime == 0) continue;
            var start = StagePlan.FromSchedule(StageOrder.FirstRuns(greedy.Schedule!), greedy.Schedule!)!;
            var sim = Simulator.Measure(start.ToSchedule("start", budget));
            if (sim.Fits(budget)) yield return (budget, start, sim.RecomputeTime);
        }
    }

    /// <summary>CP-SAT limited by work only (20 deterministic seconds; the wall clock far beyond), so that a loaded
    /// machine proves what an idle one does.</summary>
    private static CpSolver Exact() =>
        new() { StringParameters = new CpSatSettings(TimeSpan.FromSeconds(1000), 1, 1) { WorkLimited = true }.ToParameterText() };

    private static LocalSearchRun Search(StagePlan start, long budget, int window) =>
        StageLocalSearch.Improve(start, budget, None, None, new LocalSearchSettings(window, window, 5, 50), "lns", CancellationToken.None)!;

    [Theory]
    [InlineData(11)] [InlineData(12)] [InlineData(13)] [InlineData(15)]
    public void TheSearchsPlan_SimulatesWithinTheBudget_NeverAboveItsStart_AndIsTheSameTwice(int seed)
    {
        int cases = 0;
        foreach (var (budget, start, startRecompute) in Starts(seed, nodes: 14))
        {
            cases++;
            var run = Search(start, budget, window: 4);
            // Simulate checks every step's inputs and the budget (it throws on a violation).
            var sim = Simulator.Simulate(run.Schedule);
            Assert.True(sim.PeakBytes <= budget, $"seed {seed} at {budget}: peak {sim.PeakBytes}");
            Assert.True(sim.RecomputeTime <= startRecompute, $"seed {seed} at {budget}: {sim.RecomputeTime} above the start's {startRecompute}");
            Assert.Equal(run.Simulation.RecomputeTime, sim.RecomputeTime);
            var again = Search(start, budget, window: 4).Schedule.Steps;
            Assert.True(run.Schedule.Steps.SequenceEqual(again), $"seed {seed} at {budget}: {string.Join(",", run.Schedule.Steps.Select(s => $"{s.Kind}{s.Task}"))} vs {string.Join(",", again.Select(s => $"{s.Kind}{s.Task}"))}");
        }
        Assert.True(cases > 0, $"seed {seed}: greedy recomputes at no budget");
    }

    [Theory]
    [InlineData(21)] [InlineData(22)] [InlineData(23)]
    public void AWindowsPlan_KeepsEveryStageOutsideIt_AndItsLiveSetsAtBothEdges(int seed)
    {
        foreach (var (budget, start, _) in Starts(seed, nodes: 14))
        {
            int n = start.Order.Count;
            var trace = StageTrace.Of(start);
            // A window in the middle, solved to optimality.
            int first = n / 3, last = Math.Min(n - 2, first + 4);
            var model = new StageModel(start.Order, budget, StageObjective.RecomputeTime, None, None, window: new StageWindow(first, last, start, trace));
            var solver = Exact();
            Assert.Equal(CpSolverStatus.Optimal, solver.Solve(model.Model));
            var plan = model.Extract(solver);
            var replay = StageTrace.Of(plan);
            for (int t = 0; t < n; t++)
                if (t < first || t > last) Assert.Equal(start.Recomputed[t], plan.Recomputed[t]);
            Assert.True(trace.LiveAtStart[first].SetEquals(replay.LiveAtStart[first]), $"seed {seed}: live set entering stage {first}");
            Assert.True(trace.LiveAtStart[last + 1].SetEquals(replay.LiveAtStart[last + 1]), $"seed {seed}: live set after stage {last}");
            // The window's optimum is at most the plan's own recomputation there, and the whole plan fits.
            double inWindow(StagePlan p) => Enumerable.Range(first, last - first + 1).Sum(t => p.Recomputed[t].Sum(q => start.Order.Training.Tasks[start.Order.TaskAt[q]].Time));
            Assert.True(inWindow(plan) <= inWindow(start));
            Assert.Equal(inWindow(plan), model.ToTime(solver.ObjectiveValue), 9);
            Assert.True(Simulator.Simulate(plan.ToSchedule("window", budget)).PeakBytes <= budget);
        }
    }

    [Theory]
    [InlineData(33)] [InlineData(34)] [InlineData(36)] [InlineData(37)]
    public void OneWindowOverEveryStage_ReachesTheExactStageModelsOptimum(int seed)
    {
        int cases = 0, improved = 0;
        // Chen's plans, which the search has room to improve, and greedy's.
        foreach (var (budget, start, startRecompute) in Starts(seed, nodes: 10, SolverName.Chen).Concat(Starts(seed, nodes: 10)))
        {
            var model = new StageModel(start.Order, budget, StageObjective.RecomputeTime, None, None);
            var solver = Exact();
            if (solver.Solve(model.Model) != CpSolverStatus.Optimal) continue;
            cases++;
            double optimum = model.ToTime(solver.ObjectiveValue);
            var run = Search(start, budget, window: start.Order.Count);
            Assert.Equal(optimum, run.Simulation.RecomputeTime, 9);
            if (optimum < startRecompute) improved++;
        }
        Assert.True(cases > 0, $"seed {seed}: no budget proven");
        Assert.True(improved > 0, $"seed {seed}: every start was already optimal");
    }
}
