using System.Text.RegularExpressions;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Reporting;

public class DotWriterTests
{
    private static string Dot(ComputationGraph g, Recompute.Planner.Scheduling.Schedule? s)
    {
        var w = new StringWriter();
        DotWriter.Write(g, s, w);
        return w.ToString();
    }

    [Fact]
    public void Dot_IsWellFormed_AndColoursEveryRole()
    {
        var graph = ReportGraphs.ResidualNet(layers: 2);
        var problem = new PlanningProblem(graph);
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        long min = SmallestBudget.MinMemory(problem, "dp", new SolverOptions()).MinBudgetBytes;
        var plan = RecomputePlanner.Plan(problem, "dp", new SolverOptions { BudgetBytes = min + (storeAll - min) / 3 });
        Assert.True(plan.Feasible);
        var dot = Dot(graph, plan.Schedule);

        Assert.StartsWith("digraph \"", dot);
        Assert.EndsWith("}\n", dot);
        // Every node declared once, every edge between declared nodes, one edge per distinct operand.
        var declared = Regex.Matches(dot, @"^  n(\d+) \[label=", RegexOptions.Multiline).Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.Equal(Enumerable.Range(0, graph.Count), declared.Order());
        var edges = Regex.Matches(dot, @"^  n(\d+) -> n(\d+);$", RegexOptions.Multiline).ToList();
        Assert.Equal(graph.Nodes.Sum(n => n.Inputs.Distinct().Count()), edges.Count);
        Assert.All(edges, e => Assert.Contains(int.Parse(e.Groups[1].Value), declared));
        // Quotes balance on every line (labels are escaped).
        Assert.All(dot.Split('\n'), line => Assert.Equal(0, Regex.Matches(line, "(?<!\\\\)\"").Count % 2));

        var roles = DotWriter.Roles(graph, plan.Schedule);
        foreach (var n in plan.Schedule!.RecomputedNodes)
        {
            Assert.Equal(TensorRole.Recomputed, roles[n]);
            Assert.Matches($"n{n} \\[.*fillcolor=\"{DotWriter.ColourOf(TensorRole.Recomputed)}\"", dot);
        }
        Assert.Contains(TensorRole.Boundary, roles);
        Assert.Contains(TensorRole.Kept, roles);
        Assert.Equal(TensorRole.Resident, roles[graph.Find("input").Id]);
        // A boundary tensor feeds a recomputed one and was stored across the forward/backward turn.
        var recomputed = plan.Schedule.RecomputedNodes.ToHashSet();
        for (int i = 0; i < graph.Count; i++)
            if (roles[i] == TensorRole.Boundary)
                Assert.Contains(graph.Nodes, n => recomputed.Contains(n.Id) && n.Inputs.Contains(i));
    }

    [Fact]
    public void Dot_EscapesNamesWithQuotesAndBackslashes()
    {
        var b = new GraphBuilder("odd \"name\"");
        int x = b.Input("in\\put", 8);
        int h = b.Activation("say \"hi\"", "Op", [x], 8, 1);
        b.Loss("loss", "Loss", [h], 4, 1);
        var dot = Dot(b.Build(), null);
        Assert.Contains("digraph \"odd \\\"name\\\"\" {", dot);
        Assert.Contains("label=\"say \\\"hi\\\"\\nOp 8 B\"", dot);
        Assert.Contains("label=\"in\\\\put\\nInput 8 B\"", dot);
    }
}
