using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>The optimal solver choosing keep, recompute or offload in one CP-SAT model (issue 28).</summary>
public class OptimalOffloadTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(2);

    private static double[] Prices(OffloadLowering lowering, HostLink link) =>
        [.. Enumerable.Range(0, lowering.Training.Count).Select(t =>
            lowering.CanOffload(t) ? 2 * (link.LatencySeconds + lowering.Training.Tasks[t].Bytes / link.BytesPerSecond) : -1)];

    /// <summary>
    /// The model counts an offloaded value's memory as the eager placement holds it: the solution lowered eagerly
    /// fits the budget (the simulator enforces it), offloads what the model chose, and its recomputation plus stalls is
    /// at most what the model charged (its recomputation plus both transfers of every offloaded value in full). A model
    /// that counted an offloaded value as gone while a read still needs it on the device fails the first.
    /// On graphs with Relus too, whose steps run in place where their source dies (and not while its copy out is in
    /// flight: the model offloads no value a forward run may take over).
    /// </summary>
    [Theory]
    [InlineData(41, false)] [InlineData(42, false)] [InlineData(43, false)] [InlineData(44, false)] [InlineData(45, false)] [InlineData(46, false)]
    [InlineData(61, true)] [InlineData(62, true)] [InlineData(63, true)] [InlineData(64, true)]
    public void Solution_LoweredEagerly_FitsAndCostsNoMoreThanTheModelCharged(int seed, bool relus)
    {
        var problem = new PlanningProblem(relus ? Solvers.InPlaceBoundTests.ReluGraph(seed, nodes: 9, timeUnit: "s") : RandomGraphs.Forward(seed, nodes: 9, seconds: true));
        var tg = problem.Training;
        var storeAll = RecomputePlanner.StoreAll(problem).Schedule;
        // Fast enough that offloading is usually cheaper than recomputing (transfers of 1–100 bytes take 1–100 ns).
        var link = new HostLink(1e9, 0);
        var lowering = new OffloadLowering(tg, storeAll, link);
        var prices = Prices(lowering, link);
        long floor = problem.Floor.Bytes, top = RecomputePlanner.StoreAllPeak(problem);
        foreach (double f in new[] { 0.0, 0.25, 0.5, 0.75 })
        {
            long budget = floor + (long)((top - floor) * f);
            var options = new SolverOptions { BudgetBytes = budget, TimeLimit = Limit };
            var found = new OptimalSolver(PlannerPlanSource.Instance).PlanWithOffload(storeAll, prices, options, CancellationToken.None);
            if (found is not { } work) continue;
            var back = work.Where(w => w.Kind == StepKind.Prefetch).Select(w => w.Task).ToArray();
            var kept = Simulator.Measure(new Schedule(tg, Liveness.InsertFrees(tg, [.. work.Where(w => w.Allocates)]), "test", null));
            var eager = Simulator.Simulate(lowering.LowerMarked(work, "test", budget, null, eager: true));
            Assert.True(eager.PeakBytes <= budget, $"seed {seed}: {eager.PeakBytes} B over the budget of {budget} B");
            Assert.Equal(back.Sum(t => tg.Tasks[t].Bytes), eager.OffloadBytes);
            double charged = kept.RecomputeTime + back.Sum(t => prices[t]);
            Assert.True(eager.RecomputeTime + eager.StallSeconds <= charged + 1e-12, $"seed {seed}: {eager.RecomputeTime + eager.StallSeconds} s against {charged} s");
        }
    }

    /// <summary>
    /// A graph where the model's choice is the best found: at its largest step, over a link that moves its values in
    /// nanoseconds, <c>--solver optimal --offload</c>'s plan is the model's (its note says so), fits, and takes a
    /// shorter step than the keep-or-recompute plan (72.5 ms against 52.6 ms when measured).
    /// </summary>
    [Fact]
    public void FastLink_AtTheLargestStep_TheModelsOffloadsWin()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(54, nodes: 10, seconds: true));
        // Its search proves the model's optimum in a fraction of a second idle; the generous limit keeps it from
        // being cut short on a loaded machine, where the assertions below need the model's finished choice.
        var options = new SolverOptions { BudgetBytes = problem.Floor.Bytes, TimeLimit = TimeSpan.FromSeconds(20) };
        var plan = OffloadPlanner.Plan(problem, SolverName.Optimal, options, new OffloadOptions(new HostLink(1e9, 1e-6)));
        Assert.True(plan.KeepOrRecompute!.Feasible);
        Assert.True(plan.Feasible);
        Assert.True(plan.Schedule!.HasTransfers);
        Assert.Contains("chosen by the optimal solver's model", plan.Solver.Note);
        Assert.True(plan.Simulation!.StepSeconds < plan.KeepOrRecompute.Simulation!.StepSeconds);
        Assert.True(Simulator.Simulate(plan.Schedule).PeakBytes <= options.BudgetBytes);
    }

    /// <summary>
    /// <c>--solver optimal --offload</c>: at budgets that need recomputation, the plan fits, the simulator accepts it,
    /// its step is never longer than the optimal solver's keep-or-recompute plan's, and over a link this fast it
    /// offloads.
    /// </summary>
    [Theory]
    [InlineData(51)] [InlineData(52)] [InlineData(53)]
    public void OptimalWithOffload_FitsAndIsNeverSlowerThanWithout(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 9, seconds: true));
        long floor = problem.Floor.Bytes, top = RecomputePlanner.StoreAllPeak(problem);
        var link = new OffloadOptions(new HostLink(1e7, 0));
        foreach (double f in new[] { 0.3, 0.6 })
        {
            var options = new SolverOptions { BudgetBytes = floor + (long)((top - floor) * f), TimeLimit = Limit };
            var plan = OffloadPlanner.Plan(problem, SolverName.Optimal, options, link);
            var plain = plan.KeepOrRecompute!;
            if (!plain.Feasible) continue;
            Assert.True(plan.Feasible);
            var sim = Simulator.Simulate(plan.Schedule!);
            Assert.True(sim.PeakBytes <= options.BudgetBytes);
            Assert.True(sim.StepSeconds <= plain.Simulation!.StepSeconds * (1 + 1e-12));
            if (plain.Simulation.RecomputeTime > 0) Assert.True(plan.Schedule!.HasTransfers, $"seed {seed} at {f:P0}: recomputes where a free link would do");
        }
    }
}
