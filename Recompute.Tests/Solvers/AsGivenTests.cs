using System.Text.Json;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Import;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>The Checkmate/Moccasin protocol: the DAG as the file gives it, budgets of the file's order run once.</summary>
public class AsGivenTests
{
    private const string RandomLayered100 = "random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json";

    [Fact]
    public void ForwardOnlyGraph_AsGiven_HasOneForwardTaskPerNode_AndNoGradients()
    {
        var graph = RandomGraphs.Forward(2, nodes: 12);
        var asGiven = TrainingGraph.AsGiven(graph);
        Assert.Equal(graph.Nodes.Count(n => n.IsPlanned), asGiven.Count);
        Assert.All(asGiven.Tasks, t => Assert.Equal(TaskKind.Forward, t.Kind));
        Assert.False(asGiven.HasBackward);
        Assert.True(TrainingGraph.Derive(graph).HasBackward);
        // Every planned input is read as given.
        foreach (var t in asGiven.Tasks)
            Assert.Equal(graph[t.Node].Inputs.Where(p => graph[p].IsPlanned).Distinct().Count(), t.Inputs.Length);
    }

    [Fact]
    public void RandomLayered_IsReadInTheFilesOrder_AndStoreAllIsThatOrderRunOnce()
    {
        string path = ConformanceFiles.Checkmate(RandomLayered100);
        var graph = CheckmateImporter.Load(path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var order = doc.RootElement.GetProperty("graph").GetProperty("order").EnumerateArray().Select(e => e.GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(order, graph.Nodes.Where(n => n.IsPlanned).Select(n => n.Name));

        // The accounting, computed here independently: in the file's order, a node's output lives from its
        // computation until its last reader has run; a node's inputs and output are live while it runs.
        var nodes = doc.RootElement.GetProperty("nodes").EnumerateArray().ToDictionary(n => n.GetProperty("name").GetInt64(),
            n => n.GetProperty("out_cost").GetInt64());
        var lastReader = new Dictionary<long, int>();
        var position = order.Select((name, i) => (long.Parse(name, System.Globalization.CultureInfo.InvariantCulture),
            i)).ToDictionary(x => x.Item1, x => x.i);
        foreach (var link in doc.RootElement.GetProperty("links").EnumerateArray())
        {
            long from = link.GetProperty("0").GetInt64(), to = link.GetProperty("1").GetInt64();
            lastReader[from] = Math.Max(lastReader.GetValueOrDefault(from, position[from]), position[to]);
        }
        long peak = 0;
        for (int step = 0; step < order.Count; step++)
        {
            long live = position.Where(kv => kv.Value <= step && lastReader.GetValueOrDefault(kv.Key, kv.Value) >= step).Sum(kv => nodes[kv.Key]);
            peak = Math.Max(peak, live);
        }
        var problem = new PlanningProblem(graph, asGiven: true);
        Assert.Equal(peak, RecomputePlanner.StoreAllPeak(problem));
        Assert.Equal(problem.Training.Count, RecomputePlanner.StoreAll(problem).Schedule.Steps.Count(s => s.Allocates));
    }

    [Fact]
    public void RandomLayered100_At80Percent_OptimalFindsAPlan_AndTheCanonicalSolversDecline()
    {
        var problem = new PlanningProblem(CheckmateImporter.Load(ConformanceFiles.Checkmate(RandomLayered100)), asGiven: true);
        long budget = (long)(RecomputePlanner.StoreAllPeak(problem) * 0.8);
        var options = new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(10), Threads = 2, Seed = 1 };
        var plan = RecomputePlanner.Plan(problem, "optimal", options);
        Assert.True(plan.Feasible, plan.Solver.Reason);
        Assert.True(plan.Simulation!.PeakBytes <= budget);
        // Any bound the solver reports is at most the plan's cost, and the total-relative gap is consistent.
        var r = plan.Solver;
        Assert.True(r.LowerBound <= plan.Simulation.RecomputeTime + 1e-9);
        double total = problem.Training.ForwardTime + plan.Simulation.RecomputeTime;
        Assert.Equal(total, r.TotalCost!.Value, 6);
        Assert.Equal((plan.Simulation.RecomputeTime - r.LowerBound!.Value) / total, r.Gap!.Value, 9);

        foreach (var solver in new[] { "chen", "dp-approx", "dp" })
        {
            var declined = RecomputePlanner.Plan(problem, solver, options);
            Assert.False(declined.Feasible);
            Assert.Equal(PlanStatus.NotApplicable, declined.Solver.Status);
            Assert.Contains("no backward nodes", declined.Solver.Reason);
        }
        Assert.True(RecomputePlanner.Plan(problem, "store-all", options with { BudgetBytes = long.MaxValue }).Feasible);
    }

    [Fact]
    public void CheckmateTrainingGraph_AsGiven_KeepsItsTasks_AndTheCanonicalSolversStillPlan()
    {
        var graph = CheckmateImporter.Load(ConformanceFiles.Checkmate("VGG16_256_train.json"));
        var asGiven = new PlanningProblem(graph, asGiven: true);
        var derived = new PlanningProblem(graph);
        Assert.Equal(derived.Training.Tasks.Select(t => (t.Name, t.Kind)), asGiven.Training.Tasks.Select(t => (t.Name, t.Kind)));
        long budget = (long)(RecomputePlanner.StoreAllPeak(asGiven) * 0.9);
        var dp = RecomputePlanner.Plan(asGiven, "dp-approx", new SolverOptions { BudgetBytes = budget });
        Assert.NotEqual(PlanStatus.NotApplicable, dp.Solver.Status);
    }
}
