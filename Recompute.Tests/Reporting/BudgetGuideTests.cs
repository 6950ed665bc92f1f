using System.Globalization;
using System.Text.Json;
using Recompute.Planner.Solvers;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Tests.Support;

namespace Recompute.Tests.Reporting;

/// <summary>
/// The budget guide that opens a report (issue 15, item 5), the sentence per solver, the collapsed table of points
/// and the timeline's bands, all through <c>recompute report</c>.
/// </summary>
public sealed class BudgetGuideTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("recompute-guide-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static long Bytes(JsonElement e, string name) => e.GetProperty(name).GetInt64();

    [Fact]
    public void OnnxGraph_GuideGivesTheStepTotalAndTheLargestBatchOfMaxbatch()
    {
        var graph = Path.Combine(Paths.Graphs, "resnet18-b32.onnx");
        var dir = Path.Combine(_dir.FullName, "report");
        var (code, stdout, stderr) = InProcessCli.Run("report", graph, "-o", dir, "--solvers", "dp-approx", "--points", "3",
            "--memory", "12GiB", "--optimizer", "sgd");
        Assert.True(code == 0, stderr);

        // The summary opens with the guide, before the solver table.
        int guideAt = stdout.IndexOf("budget guide at batch 32, optimizer sgd", StringComparison.Ordinal);
        Assert.True(guideAt > 0, stdout);
        Assert.True(guideAt < stdout.IndexOf("solver  ", StringComparison.Ordinal), stdout);

        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
        var g = json.RootElement.GetProperty("guide");
        long parameters = Bytes(json.RootElement.GetProperty("graph"), "parameterBytes");
        Assert.Equal(parameters, Bytes(g, "parameterBytes"));
        Assert.Equal(parameters, Bytes(g, "gradientBytes"));
        // SGD with momentum keeps one copy of the parameters.
        Assert.Equal(1, g.GetProperty("optimizerStateCopies").GetInt32());
        Assert.Equal(parameters, Bytes(g, "optimizerStateBytes"));
        long fixedBytes = Bytes(g, "fixedBytes");
        Assert.Equal(3 * parameters + Bytes(g, "inputBytes"), fixedBytes);
        Assert.Equal(32, g.GetProperty("batch").GetInt32());

        // The common sizes and --memory's, in increasing order; each row's total is the fixed bytes and the activations.
        var devices = g.GetProperty("devices").EnumerateArray().ToList();
        Assert.Equal(new[] { 12L, 16, 24, 40, 80 }.Select(x => x << 30), devices.Select(d => Bytes(d, "deviceBytes")));
        long storeAll = Bytes(json.RootElement, "storeAllPeakBytes");
        foreach (var d in devices)
        {
            Assert.Equal("store-all", d.GetProperty("plan").GetString());   // 616 MiB of activations fit everywhere
            Assert.Equal(storeAll, Bytes(d, "activationBytes"));
            Assert.Equal(fixedBytes + storeAll, Bytes(d, "totalBytes"));
            Assert.Equal(Bytes(d, "deviceBytes") - fixedBytes, Bytes(d, "activationBudgetBytes"));
            Assert.True(d.GetProperty("largestBatch").GetInt32() > d.GetProperty("largestBatchStoreAll").GetInt32());
        }

        // The largest batch is what `recompute maxbatch` finds with the same solver and optimizer.
        var (mbCode, mb, mbErr) = InProcessCli.Run("maxbatch", graph, "--memory", "16GiB", "--optimizer", "sgd", "--solver", "dp-approx",
            "--format", "json");
        Assert.True(mbCode == 0, mbErr);
        using var maxbatch = JsonDocument.Parse(mb);
        var at16 = devices[1];
        Assert.Equal(maxbatch.RootElement.GetProperty("storeAll").GetProperty("batch").GetInt32(),
            at16.GetProperty("largestBatchStoreAll").GetInt32());
        Assert.Equal(maxbatch.RootElement.GetProperty("planner").GetProperty("batch").GetInt32(), at16.GetProperty("largestBatch").GetInt32());
        Assert.Contains(at16.GetProperty("largestBatch").GetInt32().ToString(CultureInfo.InvariantCulture), stdout);

        // The page opens with the same guide, and says what each solver is.
        var html = File.ReadAllText(Path.Combine(dir, "report.html"));
        int htmlGuide = html.IndexOf("<h2>Budget guide</h2>", StringComparison.Ordinal);
        Assert.True(htmlGuide > 0 && htmlGuide < html.IndexOf("<h2>Graph</h2>", StringComparison.Ordinal));
        Assert.Contains(System.Net.WebUtility.HtmlEncode(SolverDescriptions.Of("dp-approx")!), html);
        Assert.Contains(SolverDescriptions.Of("dp-approx")!, stdout);
        Assert.Equal(SolverDescriptions.Of("store-all"), json.RootElement.GetProperty("series")[0].GetProperty("description").GetString());
    }

    [Fact]
    public void GraphWithoutShapes_SaysItCannotBeRebatched_AndPlansInWhatIsLeft()
    {
        var graph = ReportGraphs.ResidualNet(layers: 2);
        var path = Path.Combine(_dir.FullName, "residual.json");
        NativeGraphFormat.Save(graph, path);
        long storeAll = RecomputePlanner.StoreAllPeak(new PlanningProblem(graph));
        long fixedBytes = MaxBatchSearch.FixedBytes(graph, OptimizerKind.Adam);
        // A device that holds the fixed bytes and 60 % of the store-all peak: a plan must recompute there.
        long device = fixedBytes + storeAll * 6 / 10;
        var dir = Path.Combine(_dir.FullName, "report");
        var (code, stdout, stderr) = InProcessCli.Run("report", path, "-o", dir, "--solvers", "chen,dp-approx", "--points", "6",
            "--memory", device.ToString(CultureInfo.InvariantCulture));
        Assert.True(code == 0, stderr);
        Assert.Contains("no largest batch: the graph's format has sizes only", stdout);

        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
        var g = json.RootElement.GetProperty("guide");
        Assert.Equal(JsonValueKind.Null, g.GetProperty("batch").ValueKind);
        Assert.Equal(2 * Bytes(g, "parameterBytes"), Bytes(g, "optimizerStateBytes"));   // adam by default
        var small = g.GetProperty("devices").EnumerateArray().Single(d => Bytes(d, "deviceBytes") == device);
        Assert.True(small.GetProperty("fits").GetBoolean());
        Assert.NotEqual("store-all", small.GetProperty("plan").GetString());
        Assert.True(Bytes(small, "activationBytes") <= device - fixedBytes);
        Assert.Equal(fixedBytes + Bytes(small, "activationBytes"), Bytes(small, "totalBytes"));
        Assert.True(small.GetProperty("overhead").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, small.GetProperty("largestBatch").ValueKind);

        // The cheapest plan that fits: no point of the sweep within that budget recomputes less.
        double best = json.RootElement.GetProperty("points").EnumerateArray()
            .Where(p => p.GetProperty("feasible").GetBoolean() && Bytes(p, "peakBytes") <= device - fixedBytes)
            .Min(p => p.GetProperty("overhead").GetDouble());
        Assert.True(small.GetProperty("overhead").GetDouble() <= best);

        // The timeline shows the fixed bytes as named bands under the activations.
        var svg = File.ReadAllText(Path.Combine(dir, "timeline.svg"));
        foreach (var band in new[] { "parameters", "parameter gradients", "adam state" }) Assert.Contains(band, svg);

        // The table of every point: store-all's 6 points are two runs (no plan fits below its peak, then its plan).
        var html = File.ReadAllText(Path.Combine(dir, "report.html"));
        var table = html[html.IndexOf("<h2>Every point</h2>", StringComparison.Ordinal)..];
        int rows = table.Split("<tr").Length - 2;   // minus the text before the first row and the header row
        int points = json.RootElement.GetProperty("points").GetArrayLength();
        Assert.True(rows < points, $"{rows} rows for {points} points");
        Assert.Contains($"{points} points; consecutive budgets", table);
    }

    [Fact]
    public void Collapse_MergesConsecutiveIdenticalPlans_AndKeepsEveryPoint()
    {
        var graph = ReportGraphs.ResidualNet(layers: 2);
        var report = BudgetSweep.Run(new PlanningProblem(graph), new SweepOptions { Points = 8, Solvers = ["chen", "dp-approx"] });
        var runs = PointRun.Collapse(report);
        foreach (var s in report.Series)
            Assert.Equal(report.PointsOf(s.Name).Count(), runs.Where(r => r.First.Series == s.Name).Sum(r => r.Count));
        // Store-all fits only at its own peak, the last budget: one run of infeasible points, then that one.
        var storeAll = runs.Where(r => r.First.Series == "store-all").ToList();
        Assert.Equal(2, storeAll.Count);
        Assert.Equal(report.Budgets.Length - 1, storeAll[0].Count);
        Assert.Equal(report.Budgets[^2], storeAll[0].LastBudgetBytes);
        // Neighbouring runs of a series differ in what the table shows.
        foreach (var pair in runs.Zip(runs.Skip(1)).Where(p => p.First.First.Series == p.Second.First.Series))
            Assert.False(pair.First.First.PeakBytes == pair.Second.First.PeakBytes && pair.First.First.Overhead == pair.Second.First.Overhead &&
                         pair.First.First.Status == pair.Second.First.Status && pair.First.First.Feasible == pair.Second.First.Feasible &&
                         pair.First.First.Recomputed == pair.Second.First.Recomputed && pair.First.First.Gap == pair.Second.First.Gap);
    }

    [Theory]
    [InlineData("40%", "is a percentage")]
    [InlineData("12QB", "--memory")]
    public void BadMemory_IsAUsageError(string value, string expected)
    {
        var (code, _, stderr) = InProcessCli.Run("report", Path.Combine(Paths.Graphs, "mlp50.json"), "-o", Path.Combine(_dir.FullName,
            "r"), "--memory", value);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr);
        Assert.False(Directory.Exists(Path.Combine(_dir.FullName, "r")));
    }

    [Fact]
    public void TheGuide_KeepsItsLargestBatchesWithinTheAcceptedOverhead_AndRecommendsTheLeastMemoryWithinIt()
    {
        var graph = Path.Combine(Paths.Graphs, "resnet18-b32.onnx");
        var dir = Path.Combine(_dir.FullName, "capped");
        var (code, stdout, stderr) = InProcessCli.Run("report", graph, "-o", dir, "--solvers", "dp-approx", "--points", "6",
            "--max-overhead", "5%", "--device", "flop");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
        var g = json.RootElement.GetProperty("guide");
        Assert.Equal(0.05, g.GetProperty("maxOverhead").GetDouble());
        foreach (var d in g.GetProperty("devices").EnumerateArray())
            if (d.GetProperty("largestBatchOverhead").ValueKind == JsonValueKind.Number)
                Assert.True(d.GetProperty("largestBatchOverhead").GetDouble() <= 0.05 + 1e-12);
        // The recommended budget: the least peak among the curve's points within 5 %.
        var points = json.RootElement.GetProperty("points").EnumerateArray()
            .Where(p => p.GetProperty("solver").GetString() == "dp-approx" && p.GetProperty("feasible").GetBoolean())
            .Select(p => (Peak: p.GetProperty("peakBytes").GetInt64(), Overhead: p.GetProperty("overhead").GetDouble()))
            .ToList();
        var r = g.GetProperty("recommended");
        Assert.True(r.GetProperty("overhead").GetDouble() <= 0.05);
        Assert.Equal(points.Where(p => p.Overhead <= 0.05).Min(p => p.Peak), r.GetProperty("peakBytes").GetInt64());
        Assert.Contains("recommended budget: ", stdout);
        Assert.Contains("within 5.0% of the training step", stdout);
    }
}
