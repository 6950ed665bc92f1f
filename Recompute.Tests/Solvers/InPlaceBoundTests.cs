using Google.OrTools.Sat;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Tests.Solvers;

/// <summary>
/// The bounds stay bounds with ReLU in place: on small random DAGs with Relu nodes (whose steps run in place when
/// their input dies there), no bound exceeds the best schedule found by brute force over every keep-or-recompute
/// choice and measured by the simulator, and the stage model counts each run as the simulator does.
/// </summary>
public class InPlaceBoundTests
{
    /// <summary>
    /// A random forward graph where the second activation and about a third of the others are a Relu of one of the two tensors just before
    /// (its bytes, its backward reading its output), the others ops reading 1–3 earlier tensors, some of whose
    /// backward reads nothing (as Add's), and a loss reading every tensor nothing else reads.
    /// </summary>
    internal static ComputationGraph ReluGraph(int seed, int nodes, string timeUnit = "paper")
    {
        var rng = new Random(seed);
        var b = new GraphBuilder($"relu-random-{seed}", timeUnit);
        int x = b.Input("x", rng.Next(1, 50));
        var ids = new List<int>();
        var read = new HashSet<int>();
        for (int i = 0; i < nodes; i++)
        {
            if (ids.Count > 0 && (i == 1 || rng.Next(3) == 0))
            {
                int p = ids[ids.Count - 1 - rng.Next(Math.Min(2, ids.Count))];
                read.Add(p);
                ids.Add(b.Add(new NodeSpec($"n{i}", "Relu", NodeKind.Activation) { Inputs = [p], Bytes = b[p].Bytes, Time = rng.Next(1, 4), SavedByRule = true }));
                continue;
            }
            var inputs = new List<int>();
            if (ids.Count == 0) inputs.Add(x);
            else
                for (int j = 0, k = rng.Next(1, Math.Min(3, ids.Count) + 1); j < k; j++)
                {
                    int p = ids[ids.Count - Math.Min(ids.Count, 1 + (int)Math.Floor(Math.Pow(rng.NextDouble(), 2) * ids.Count))];
                    if (!inputs.Contains(p)) inputs.Add(p);
                }
            read.UnionWith(inputs);
            ids.Add(b.Activation($"n{i}", "Op", inputs, rng.Next(1, 101), rng.Next(1, 11), backwardNeeds: rng.Next(2) == 0 ? [] : null));
        }
        b.Loss("loss", "Loss", ids.Where(i => !read.Contains(i)).ToList(), rng.Next(1, 50), 1);
        return b.Build();
    }

    /// <summary>Every keep-or-recompute choice over the forward values, lowered in store-all's order: (peak, recompute time).</summary>
    private static List<(long Peak, double Recompute, int InPlace)> BruteForce(PlanningProblem problem)
    {
        var tg = problem.Training;
        var lowering = new OffloadLowering(tg, RecomputePlanner.StoreAll(problem).Schedule, new HostLink(1e9, 0));
        var forward = Enumerable.Range(0, tg.Count).Where(t => tg.Tasks[t].Kind == TaskKind.Forward).ToArray();
        var choices = new TensorChoice[tg.Count];
        var results = new List<(long, double, int)>();
        for (int code = 0; code < 1 << forward.Length; code++)
        {
            for (int k = 0; k < forward.Length; k++) choices[forward[k]] = (code >> k & 1) == 0 ? TensorChoice.Keep : TensorChoice.Recompute;
            var schedule = lowering.Lower(choices, "brute", null, null);
            var sim = Simulator.Simulate(schedule);
            results.Add((sim.PeakBytes, sim.RecomputeTime, InPlaceSteps.Of(schedule).Count(s => s >= 0)));
        }
        return results;
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)] [InlineData(6)]
    public void NoBound_ExceedsTheBruteForceOptimum_WithReluInPlace(int seed)
    {
        var problem = new PlanningProblem(ReluGraph(seed, nodes: 8));
        var tg = problem.Training;
        Assert.True(tg.HasInPlace);
        var all = BruteForce(problem);
        Assert.Contains(all, r => r.InPlace > 0);
        long floor = MemoryLowerBound.Of(tg).Bytes;
        long least = all.Min(r => r.Peak);
        Assert.True(floor <= least, $"seed {seed}: floor {floor} above the least peak {least}");

        var storeAll = RecomputePlanner.StoreAll(problem).Schedule;
        var order = StageOrder.FirstRuns(storeAll);
        // The tightest budgets: each of the smallest peaks some schedule reaches, where a bound that counts a step in
        // place as allocating would call the budget infeasible or recomputation forced.
        foreach (long budget in all.Select(r => r.Peak).Distinct().Order().Take(4))
        {
            double best = all.Where(r => r.Peak <= budget).Min(r => r.Recompute);
            string at = $"seed {seed} at {budget} B (brute force {best})";

            var general = GeneralBound.Prove(tg, budget, new HashSet<int>(), TimeSpan.FromSeconds(2), new SearchWorkers(1, 0), 1, CancellationToken.None);
            if (general is not null) Assert.True(general.Bound <= best + 1e-9, $"{at}: cut relaxation {general.Bound}");

            var relaxation = new StageRelaxation(order, budget, new HashSet<int>(), int.MaxValue);
            var relaxed = Solve(relaxation.Model);
            Assert.NotEqual(CpSolverStatus.Infeasible, relaxed.Status);
            Assert.True(relaxation.ToTime(relaxed.Objective) <= best + 1e-9, $"{at}: stage relaxation {relaxation.ToTime(relaxed.Objective)}");

            // The exact stage model: its optimum is at most the brute force's (same first runs), and its plan's memory
            // is the simulator's, run by run.
            var model = new StageModel(order, budget, StageObjective.RecomputeTime, new HashSet<int>(), new HashSet<int>());
            var exact = Solve(model.Model);
            Assert.Equal(CpSolverStatus.Optimal, exact.Status);
            Assert.True(model.ToTime(exact.Objective) <= best + 1e-9, $"{at}: stage model {model.ToTime(exact.Objective)}");
            var plan = model.Extract(exact.Solver);
            var sim = Simulator.Simulate(plan.ToSchedule("stage", budget));
            Assert.Equal(sim.PeakBytes, model.ModelPeakBytes(exact.Solver));
            Assert.Equal(model.ToTime(exact.Objective), sim.RecomputeTime, 9);
        }
    }

    /// <summary>The exact stage model minimising the peak finds the least peak of all brute-force schedules or less, and
    /// its peak is the simulator's.</summary>
    [Theory]
    [InlineData(7)] [InlineData(8)] [InlineData(9)]
    public void TheStageModelsLeastPeak_IsTheSimulatorsPeak_AtMostTheBruteForceLeast(int seed)
    {
        var problem = new PlanningProblem(ReluGraph(seed, nodes: 8));
        long least = BruteForce(problem).Min(r => r.Peak);
        var order = StageOrder.FirstRuns(RecomputePlanner.StoreAll(problem).Schedule);
        var model = new StageModel(order, 0, StageObjective.PeakBytes, new HashSet<int>(), new HashSet<int>());
        var solved = Solve(model.Model);
        Assert.Equal(CpSolverStatus.Optimal, solved.Status);
        long peak = model.ModelPeakBytes(solved.Solver);
        Assert.True(peak <= least, $"seed {seed}: stage model's least peak {peak} above brute force's {least}");
        Assert.True(peak >= MemoryLowerBound.Of(problem.Training).Bytes);
        Assert.Equal(peak, Simulator.Simulate(model.Extract(solved.Solver).ToSchedule("stage", null)).PeakBytes);
    }

    private static (CpSolverStatus Status, double Objective, CpSolver Solver) Solve(CpModel model)
    {
        var solver = new CpSolver { StringParameters = new CpSatSettings(TimeSpan.FromSeconds(20), 1, 1).ToParameterText() };
        var status = solver.Solve(model);
        return (status, status is CpSolverStatus.Optimal or CpSolverStatus.Feasible ? solver.ObjectiveValue : double.NaN, solver);
    }
}
