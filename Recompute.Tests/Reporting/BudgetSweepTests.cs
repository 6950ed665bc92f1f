using System.Globalization;
using System.Text.Json;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Plots;
using Recompute.Tests.Support;

namespace Recompute.Tests.Reporting;

public class BudgetSweepTests
{
    private static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "recompute-report-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    [Fact]
    public void Report_WritesEveryFile_AndCsvAgreesWithJson()
    {
        var graph = ReportGraphs.ResidualNet();
        var problem = new PlanningProblem(graph);
        var report = BudgetSweep.Run(problem, new SweepOptions { Points = 6, Solvers = ["per-block", "chen", "dp-approx", "dp"] });
        Assert.True(report.Complete);
        // Store-all is always there; dp-approx brings its memory-centric line.
        Assert.Equal(["store-all", "per-block", "chen", "dp-approx", "dp-approx/memory", "dp"], report.Series.Select(s => s.Name));
        Assert.Equal(report.Series.Length * report.Budgets.Length, report.Points.Length);
        Assert.Equal(RecomputePlanner.StoreAllPeak(problem), report.Budgets[^1]);

        var dir = TempDir();
        try
        {
            ReportFiles.WriteAll(report, graph, dir);
            foreach (var f in new[] { "pareto.png", "pareto.svg", "timeline.png", "timeline.svg", "report.json", "report.csv",
                "report.html", "graph.dot" })
                Assert.True(new FileInfo(Path.Combine(dir, f)).Length > 0, f);
            Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories).Concat(Directory.GetFiles(dir, ".*")));
            byte[] png = File.ReadAllBytes(Path.Combine(dir, "pareto.png"));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
            Assert.Contains("<svg", File.ReadAllText(Path.Combine(dir, "pareto.svg")));

            // Self-contained page: images inline, nothing fetched from elsewhere.
            var html = File.ReadAllText(Path.Combine(dir, "report.html"));
            Assert.Equal(2, CountOf(html, "src=\"data:image/png;base64,"));
            Assert.DoesNotContain("http://", html);
            Assert.DoesNotContain("<script", html);
            foreach (var name in report.Timeline!.RecomputedTensors) Assert.Contains(name, html);

            // CSV rows are the JSON points, field for field.
            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
            var points = json.RootElement.GetProperty("points").EnumerateArray().ToList();
            var lines = File.ReadAllLines(Path.Combine(dir, "report.csv"));
            Assert.Equal(ReportCsv.Header, lines[0]);
            Assert.Equal(points.Count, lines.Length - 1);
            Assert.True(json.RootElement.GetProperty("complete").GetBoolean());
            for (int i = 0; i < points.Count; i++)
            {
                var cells = lines[i + 1].Split(',');
                var p = points[i];
                Assert.Equal(p.GetProperty("solver").GetString(), cells[0]);
                Assert.Equal(p.GetProperty("budgetBytes").GetInt64(), long.Parse(cells[1], CultureInfo.InvariantCulture));
                var peak = p.GetProperty("peakBytes");
                Assert.Equal(peak.ValueKind == JsonValueKind.Null ? "" : peak.GetInt64().ToString(CultureInfo.InvariantCulture), cells[2]);
                var overhead = p.GetProperty("overhead");
                if (overhead.ValueKind == JsonValueKind.Null) Assert.Equal("", cells[3]);
                else Assert.Equal(overhead.GetDouble(), double.Parse(cells[3], CultureInfo.InvariantCulture));
                Assert.Equal(p.GetProperty("feasible").GetBoolean() ? "true" : "false", cells[6]);
                // A feasible point's simulated peak is within its budget.
                if (p.GetProperty("feasible").GetBoolean()) Assert.True(peak.GetInt64() <= p.GetProperty("budgetBytes").GetInt64());
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Report_IsDeterministic_ApartFromSolveTimes()
    {
        var problem = new PlanningProblem(ReportGraphs.ResidualNet(layers: 2));
        var options = new SweepOptions { Points = 4, Solvers = ["dp-approx", "chen"] };
        var a = BudgetSweep.Run(problem, options);
        var b = BudgetSweep.Run(problem, options);
        static BudgetReport NoTimes(BudgetReport r) => r with { Points = [.. r.Points.Select(p => p with { SolveSeconds = 0 })] };
        Assert.Equal(ReportJson.Serialize(NoTimes(a)), ReportJson.Serialize(NoTimes(b)));
        Assert.Equal(ReportFiles.Svg(ParetoPlot.Build(a), 400, 300), ReportFiles.Svg(ParetoPlot.Build(b), 400, 300));
    }

    /// <summary>On random graphs of up to 14 operations, a DP's sweep never pays more time for more memory.</summary>
    [Fact]
    public void DpCurves_MoreMemoryNeverCostsMoreTime() =>
        Property.Check(RandomGraphs.Small(maxNodes: 14, maxBytes: 1000), DpCurvesAreMonotone, cases: 8, RandomGraphs.Describe);

    private static void DpCurvesAreMonotone(Recompute.Planner.Graph.ComputationGraph graph)
    {
        var problem = new PlanningProblem(graph);
        var report = BudgetSweep.Run(problem, new SweepOptions { Points = 12, Solvers = ["dp", "dp-approx"] });
        foreach (var series in new[] { "dp", "dp-approx" })
        {
            var pts = report.PointsOf(series).ToList();
            Assert.Equal(report.Budgets.Length, pts.Count);
            double previous = double.PositiveInfinity;
            bool seenFeasible = false;
            foreach (var p in pts)
            {
                // Once a budget is feasible every larger one is, and overhead never goes up with the budget.
                if (seenFeasible) Assert.True(p.Feasible, $"{series} at {p.BudgetBytes}");
                if (!p.Feasible) continue;
                seenFeasible = true;
                Assert.True(p.PeakBytes <= p.BudgetBytes);
                Assert.True(p.Overhead <= previous, $"{series}: overhead {p.Overhead} at {p.BudgetBytes} after {previous}");
                previous = p.Overhead!.Value;
            }
            // The smallest budget of the sweep is dp-approx's minimum (in the paper's model, which can exceed the
            // simulated store-all peak on small random graphs), so dp-approx has a plan at every point.
            if (series == "dp-approx" && report.MinBudgetBytes < report.StoreAllPeakBytes) Assert.True(pts[0].Feasible);
            // The plotted line: peak up, overhead down.
            var front = report.Frontier(series);
            for (int i = 1; i < front.Length; i++)
            {
                Assert.True(front[i].PeakBytes > front[i - 1].PeakBytes);
                Assert.True(front[i].Overhead < front[i - 1].Overhead);
            }
        }
    }

    [Fact]
    public void InterruptedSweep_KeepsTheFinishedPointsInReportJson()
    {
        var graph = ReportGraphs.ResidualNet(layers: 2);
        var dir = TempDir();
        try
        {
            using var cts = new CancellationTokenSource();
            const int k = 5;
            var report = BudgetSweep.Run(new PlanningProblem(graph), new SweepOptions { Points = 6, Solvers = ["dp-approx", "chen"] },
                onReport: r => ReportFiles.WriteJson(r, dir),
                onProgress: p => { if (p.Done == k) cts.Cancel(); },
                cancellation: cts.Token);
            Assert.False(report.Complete);
            Assert.Equal(k, report.Points.Length);
            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
            Assert.False(json.RootElement.GetProperty("complete").GetBoolean());
            var points = json.RootElement.GetProperty("points").EnumerateArray().ToList();
            Assert.Equal(k, points.Count);
            for (int i = 0; i < k; i++)
                Assert.Equal(report.Points[i].BudgetBytes, points[i].GetProperty("budgetBytes").GetInt64());
            Assert.Empty(Directory.GetFiles(dir, ".*"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Summary_IsPlainText()
    {
        var report = BudgetSweep.Run(new PlanningProblem(ReportGraphs.ResidualNet(layers: 1)), new SweepOptions { Points = 3,
            Solvers = ["chen", "dp-approx"] });
        var text = ReportSummary.Format(report);
        Assert.Contains("dp-approx", text);
        Assert.DoesNotContain(text, c => char.IsControl(c) && c != '\n');
    }

    [Fact]
    public void DefaultSolvers_AreTheApplicableOnes()
    {
        var small = new PlanningProblem(ReportGraphs.ResidualNet(layers: 1));
        var defaults = new SweepOptions();
        // Module paths, few lower sets, few tensors: everything, optimal and auto included (optimal is registered).
        Assert.Equal(["store-all", "per-block", "chen", "dp-approx", "dp-approx/memory", "dp", "optimal", "auto"],
            BudgetSweep.Series(small, defaults, lowerSets: 40, hasBlocks: true).Select(s => s.Name));
        // Too many lower sets for the exact DP, no module paths, too many tensors for the optimal solver: auto still.
        Assert.Equal(["store-all", "chen", "dp-approx", "dp-approx/memory", "auto"],
            BudgetSweep.Series(small, defaults with { OptimalTensorLimit = 5 }, lowerSets: null, hasBlocks: false).Select(s => s.Name));
        // Asked for by name, a series comes even when it would not by default; store-all always does.
        Assert.Equal(["store-all", "dp-approx/memory"],
            BudgetSweep.Series(small, defaults with { Solvers = ["dp-approx/memory"] }, lowerSets: null, hasBlocks: false).Select(s => s.Name));
    }

    [Fact]
    public void OptimalSolver_PointsFitTheirBudgets()
    {
        var problem = new PlanningProblem(ReportGraphs.ResidualNet(layers: 1));
        var report = BudgetSweep.Run(problem, new SweepOptions { Points = 2, Solvers = ["optimal"], TimeLimit = TimeSpan.FromSeconds(1) });
        var points = report.PointsOf("optimal").ToList();
        Assert.Equal(2, points.Count);
        // The top budget is the store-all peak: store-all itself fits there, so the optimal solver has a plan.
        Assert.True(points[^1].Feasible);
        Assert.All(points.Where(p => p.Feasible), p => Assert.True(p.PeakBytes <= p.BudgetBytes));
    }

    [Fact]
    public void Budgets_AreEvenlySpacedAndEndAtTheTop()
    {
        // 100 → 200 in 5 points: 100, 125, 150, 175, 200.
        Assert.Equal([100L, 125, 150, 175, 200], BudgetSweep.Budgets(100, 200, 5).ToArray());
        Assert.Equal([200L], BudgetSweep.Budgets(200, 200, 5).ToArray());
        Assert.Equal([10L, 11, 12], BudgetSweep.Budgets(10, 12, 25).ToArray());
    }

    [Fact]
    public void UnknownSolver_IsRejectedWithTheList()
    {
        var problem = new PlanningProblem(ReportGraphs.Chain(1));
        var e = Assert.Throws<ArgumentException>(() => BudgetSweep.Run(problem, new SweepOptions { Solvers = ["dpp"] }));
        Assert.Contains("dp-approx", e.Message);
        // A chain has no module paths: per-block cannot be asked for.
        Assert.Throws<ArgumentException>(() => BudgetSweep.Run(problem, new SweepOptions { Solvers = ["per-block"] }));
    }

    [Fact]
    public void PerBlockCheckpointing_KeepsOneOutputPerResidualBlock()
    {
        // Three layers of two blocks: the cuts are the stem's output, then each block's final ReLU except the last
        // block (its end is the end of the graph) plus pooling: every block's inner tensors are recomputed.
        var problem = new PlanningProblem(ReportGraphs.ResidualNet(layers: 3));
        var strategy = BlockCheckpointing.Strategy(problem.Forward);
        Assert.NotNull(strategy);
        var schedule = Lowering.Lower(problem.Training, problem.Forward, strategy, "per-block", null);
        var sim = Simulator.Simulate(schedule);
        var recomputed = schedule.RecomputedNodes.Select(n => problem.Graph[n].Name).ToList();
        Assert.Contains("/layer1/layer1.0/conv1/Conv_output_0", recomputed);
        Assert.DoesNotContain("/layer1/layer1.0/relu_1/Relu_output_0", recomputed);
        Assert.True(sim.PeakBytes < RecomputePlanner.StoreAllPeak(problem));
        Assert.Null(BlockCheckpointing.Strategy(new PlanningProblem(ReportGraphs.Chain(1)).Forward));
    }

    private static int CountOf(string text, string part)
    {
        int n = 0, i = 0;
        while ((i = text.IndexOf(part, i, StringComparison.Ordinal)) >= 0) { n++; i += part.Length; }
        return n;
    }
}
