using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

public class OffloadPlannerTests
{
    /// <summary>
    /// The runtime copies offloaded values on the step's own thread, so on a graph priced for the cpu device the planner
    /// takes a library user's link as blocking, rate and latency kept; on a graph priced for a GPU the link stays as given.
    /// </summary>
    [Fact]
    public void OnTheCpuDevice_TheLinkIsPlannedAsBlocking()
    {
        var graph = GraphLoader.Load(Path.Combine(Paths.Graphs, "mlp50.json"));
        var given = new OffloadOptions(new HostLink(2e10, 1e-6)) { HostBudgetBytes = 123 };
        var onCpu = OffloadPlanner.OnDevice(TestEnvironment.FixedCpu().Apply(graph), given);
        Assert.True(onCpu.Link.Blocking);
        Assert.Equal(given with { Link = given.Link with { Blocking = true } }, onCpu);
        Assert.Same(given, OffloadPlanner.OnDevice(DeviceProfiles.Find("h100-sxm")!.Apply(graph), given));
    }

    private static readonly TimeSpan FastLimit = TimeSpan.FromSeconds(0.9);

    // Random graphs have 1..100-byte tensors and kernels of 1 µs to 10 ms: at 20 kB/s a transfer takes 50 µs to 5 ms,
    // so some hide behind compute and some do not.
    private static readonly HostLink Link = new(20_000, 10e-6);

    /// <summary>Every choice of keep, offload or recompute per value lowers to a schedule the simulator accepts.</summary>
    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)]
    public void EveryChoice_LowersToAValidSchedule(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 10, seconds: true));
        var tg = problem.Training;
        var storeAll = RecomputePlanner.StoreAll(problem);
        var lowering = new OffloadLowering(tg, storeAll.Schedule, Link);
        var rng = new Random(seed);
        var keepAll = new TensorChoice[tg.Count];
        var kept = Simulator.Simulate(lowering.Lower(keepAll, "test", null, null));
        // Keeping everything is the store-all schedule's memory and time, without transfers.
        Assert.Equal(storeAll.Simulation.PeakBytes, kept.PeakBytes);
        Assert.Equal(storeAll.Simulation.TotalTime, kept.StepSeconds, 12);
        for (int round = 0; round < 200; round++)
        {
            var choices = new TensorChoice[tg.Count];
            for (int t = 0; t < choices.Length; t++) choices[t] = (TensorChoice)rng.Next(3);
            var schedule = lowering.Lower(choices, "test", null, null);
            var sim = Simulator.Simulate(schedule);
            // Each offloaded value is copied out once and back once.
            long offloaded = schedule.Steps.Where(s => s.Kind == StepKind.Offload).Sum(s => tg.Tasks[s.Task].Bytes);
            Assert.Equal(offloaded, sim.OffloadBytes);
            Assert.Equal(schedule.Steps.Count(s => s.Kind == StepKind.Offload), schedule.Steps.Count(s => s.Kind == StepKind.Prefetch));
            Assert.True(sim.StepSeconds >= sim.TotalTime);
            Assert.True(sim.HostPeakBytes <= offloaded);
        }
    }

    /// <summary>
    /// A keep-or-recompute plan lowered again with no offload is itself (the same peak and step); with any set of its
    /// recomputed values offloaded instead, the schedule is valid, recomputes no more, and offloads only those values.
    /// </summary>
    [Theory]
    [InlineData(31)] [InlineData(32)] [InlineData(33)]
    public void ReplacingRecomputationsByOffloads_GivesValidSchedules(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 14, seconds: true));
        var tg = problem.Training;
        var lowering = new OffloadLowering(tg, RecomputePlanner.StoreAll(problem).Schedule, Link);
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        var rng = new Random(seed);
        foreach (double fraction in new[] { 0.4, 0.6 })
        {
            var plain = RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = (long)(storeAll * fraction), TimeLimit = FastLimit });
            if (!plain.Feasible) continue;
            var none = Simulator.Simulate(lowering.LowerFrom(plain.Schedule!, new bool[tg.Count], "test", null, null));
            Assert.Equal(plain.Simulation!.PeakBytes, none.PeakBytes);
            Assert.Equal(plain.Simulation.TotalTime, none.StepSeconds, 12);
            var recomputed = plain.Schedule!.Steps.Where(s => s.Kind == StepKind.Recompute).Select(s => s.Task).Distinct().ToArray();
            for (int round = 0; round < 30; round++)
            {
                var offload = new bool[tg.Count];
                foreach (int t in recomputed) offload[t] = rng.Next(2) == 0;
                var schedule = lowering.LowerFrom(plain.Schedule, offload, "test", null, null);
                var sim = Simulator.Simulate(schedule);
                Assert.True(sim.RecomputeTime <= plain.Simulation.RecomputeTime + 1e-12);
                Assert.All(schedule.Steps.Where(s => s.Kind == StepKind.Offload), s => Assert.True(offload[s.Task]));
            }
        }
    }

    /// <summary>
    /// On random DAGs at budgets from 30 % to 100 % of store-all: the plan with offloading fits (device and host), the
    /// simulator accepts it, and its step is never longer than auto's without offloading; it plans wherever auto does.
    /// The only bound given for offload plans (one run of every task) is never above the best schedule of the
    /// lowering's family, found by brute force over every choice of keep, offload or recompute.
    /// </summary>
    [Theory]
    [InlineData(11)] [InlineData(12)] [InlineData(13)] [InlineData(14)] [InlineData(15)]
    public void WithOffload_NeverWorseThanAuto_AndTheBoundIsBelowBruteForce(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 7, seconds: true));
        var tg = problem.Training;
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        var lowering = new OffloadLowering(tg, RecomputePlanner.StoreAll(problem).Schedule, Link);
        var forward = Enumerable.Range(0, tg.Count).Where(t => tg.Tasks[t].Kind == TaskKind.Forward).ToArray();
        double once = tg.ForwardTime + tg.BackwardTime;
        foreach (double fraction in new[] { 0.3, 0.5, 0.7, 1.0 })
        {
            long budget = (long)(storeAll * fraction);
            long host = storeAll / 3;
            var options = new SolverOptions { BudgetBytes = budget, TimeLimit = FastLimit };
            var plain = RecomputePlanner.Plan(problem, AutoPortfolio.Name, options);
            var plan = OffloadPlanner.Improve(problem, plain, options, new OffloadOptions(Link) { HostBudgetBytes = host });
            Assert.Same(plain, plan.KeepOrRecompute);
            if (plain.Feasible)
            {
                Assert.True(plan.Feasible);
                Assert.True(plan.Simulation!.StepSeconds <= plain.Simulation!.StepSeconds, $"seed {seed} at {fraction:P0}");
            }
            if (plan.Feasible)
            {
                var sim = Simulator.Simulate(plan.Schedule!);
                Assert.True(sim.PeakBytes <= budget);
                Assert.True(sim.HostPeakBytes <= host);
                Assert.Equal(plan.Simulation!.StepSeconds, sim.StepSeconds);
                if (plan.Schedule!.HasTransfers)
                {
                    Assert.Equal(OffloadPlanner.Name, plan.Solver.WinningSolver);
                    Assert.Null(plan.Solver.LowerBound);
                    Assert.Contains("bounds do not hold", plan.Solver.Note);
                }
            }

            // Brute force over 3^7 choices: the best fitting step in the lowering's family.
            double best = double.PositiveInfinity;
            var choices = new TensorChoice[tg.Count];
            int combinations = (int)Math.Pow(3, forward.Length);
            for (int code = 0; code < combinations; code++)
            {
                for (int k = 0, c = code; k < forward.Length; k++, c /= 3) choices[forward[k]] = (TensorChoice)(c % 3);
                var sim = Simulator.Simulate(lowering.Lower(choices, "brute", null, null));
                if (sim.PeakBytes <= budget && sim.HostPeakBytes <= host) best = Math.Min(best, sim.StepSeconds);
            }
            if (plan.Feasible) best = Math.Min(best, plan.Simulation!.StepSeconds);
            if (!double.IsPositiveInfinity(best)) Assert.True(once <= best + 1e-12, $"seed {seed} at {fraction:P0}: bound {once} > optimum {best}");
            // The search finds a plan wherever the family has one.
            if (!double.IsPositiveInfinity(best)) Assert.True(plan.Feasible, $"seed {seed} at {fraction:P0}: brute force fits, the planner does not");
        }
    }

    /// <summary>
    /// x → a → b → c → loss, a and c 1,000 bytes, b 100. Store-all peaks at grad(c): a, b, c and grad(c) (3,100 bytes
    /// and the loss's); at 500 bytes less, a must leave the device there (c and grad(c) are read by it, b is too
    /// small). Recomputing a costs 10 ms; offloading it over a 1 MB/s link costs 1 ms each way, hidden behind b, c and
    /// their backward (20 ms each). The planner offloads a, and the step is the store-all step.
    /// </summary>
    [Fact]
    public void ADearValueThatIsCheapToCopy_IsOffloadedNotRecomputed()
    {
        var g = new GraphBuilder("dear", "s");
        int x = g.Input("x", 8);
        int a = g.Add(new NodeSpec("a", "Op", NodeKind.Activation) { Inputs = [x], Bytes = 1000, Time = 0.010, BackwardTime = 0.020 });
        int b = g.Add(new NodeSpec("b", "Op", NodeKind.Activation) { Inputs = [a], Bytes = 100, Time = 0.020, BackwardTime = 0.020 });
        int c = g.Add(new NodeSpec("c", "Op", NodeKind.Activation) { Inputs = [b], Bytes = 1000, Time = 0.020, BackwardTime = 0.020 });
        g.Loss("loss", "Sum", [c], 4, 0.001);
        var problem = new PlanningProblem(g.Build());
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        var options = new SolverOptions { BudgetBytes = storeAll - 500, TimeLimit = FastLimit };
        var plan = OffloadPlanner.Plan(problem, AutoPortfolio.Name, options, new OffloadOptions(new HostLink(1e6, 0)));
        Assert.True(plan.Feasible);
        Assert.Equal(["a"], plan.Schedule!.OffloadedNodes.Select(n => problem.Graph[n].Name));
        Assert.Equal(0, plan.Simulation!.StallSeconds);
        Assert.Equal(0, plan.Simulation.RecomputeTime);
        Assert.True(plan.KeepOrRecompute!.Simulation!.StepSeconds > plan.Simulation.StepSeconds);
        // Deterministic: the same input gives the same schedule, byte for byte.
        var again = OffloadPlanner.Plan(problem, AutoPortfolio.Name, options, new OffloadOptions(new HostLink(1e6, 0)));
        Assert.Equal(ScheduleFormat.ToJson(plan.Schedule), ScheduleFormat.ToJson(again.Schedule!));
        // With no host memory for it, the plan is the keep-or-recompute one.
        var noHost = OffloadPlanner.Plan(problem, AutoPortfolio.Name, options, new OffloadOptions(new HostLink(1e6, 0)) { HostBudgetBytes = 999 });
        Assert.False(noHost.Schedule!.HasTransfers);
    }

    [Fact]
    public void GraphsWithoutSeconds_AreRefused()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(1, nodes: 5));
        Assert.Contains("timed in seconds", OffloadPlanner.NotApplicableReason(problem));
        Assert.Throws<ArgumentException>(() => OffloadPlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions(), new OffloadOptions(Link)));
    }
}
