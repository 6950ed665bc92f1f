using System.Text.Json;
using System.Text.RegularExpressions;
using Recompute.Cli;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>
/// Issue 7, item 4: the same graph and options give byte-identical schedule files and JSON, across runs and thread
/// counts. The only field allowed to differ is <c>solveSeconds</c> (wall-clock time, documented as such).
/// </summary>
public partial class DeterminismTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("recompute-determinism-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static string Graph(string file) => Path.Combine(Paths.Graphs, file);

    /// <summary>The wall-clock field, the one part of the output that is measured rather than computed.</summary>
    [GeneratedRegex(@"^\s*""solveSeconds"": [^\n]*\n", RegexOptions.Multiline)]
    private static partial Regex SolveSecondsLine();

    /// <summary>Runs <c>recompute plan</c> with a schedule file; returns the JSON without its timing line and the file's bytes.</summary>
    private (string Json, byte[] Schedule) Plan(string graph, params string[] options)
    {
        var schedule = Path.Combine(_dir.FullName, "schedule.json");
        if (File.Exists(schedule)) File.Delete(schedule);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandRunner.Run(["plan", graph, "-o", schedule, "--format", "json", .. options], stdout, stderr, CancellationToken.None);
        Assert.True(code == 0, stderr.ToString());
        string json = stdout.ToString();
        Assert.Single(SolveSecondsLine().Matches(json));
        return (SolveSecondsLine().Replace(json, ""), File.ReadAllBytes(schedule));
    }

    /// <summary>
    /// An input, six branches of two tensors each, and a loss reading every branch: 3^6 + 2 = 731 lower sets, with
    /// levels of up to 141 sets of one size, so the exact DP fills its levels in parallel (it does from 8 sets up).
    /// </summary>
    private string WideGraph()
    {
        var b = new GraphBuilder("six-branches", "unit");
        int x = b.Input("x", 64);
        var ends = new List<int>();
        for (int i = 0; i < 6; i++)
        {
            int a = b.Activation($"a{i}", "Op", [x], 40 + 7 * i, 3 + i);
            ends.Add(b.Activation($"b{i}", "Op", [a], 90 - 5 * i, 2 + (i % 3)));
        }
        b.Loss("loss", "Loss", ends, 8, 1);
        var path = Path.Combine(_dir.FullName, "wide.json");
        NativeGraphFormat.Save(b.Build(), path);
        return path;
    }

    public static TheoryData<string, string, string> Cases() => new()
    {
        { "resnet18-b32.onnx", "dp-approx", "--budget=60%" },
        { "resnet18-b32.onnx", "dp-approx", "--min-memory" },
        { "resnet18-b32.onnx", "dp", "--budget=50%" },
        { "resnet18-b32.onnx", "chen", "--budget=1GiB" },
        { "resnet18-b32.onnx", "store-all", "--budget=100%" },
        { "wide", "dp", "--budget=80%" },
        { "wide", "dp", "--min-memory" },
        { "wide", "dp-approx", "--budget=95%" },
    };

    [Trait("Category", "Slow")]
    [Fact]
    public void Auto_OnResNet50At40Percent_SameScheduleForThreads1_2_0()
    {
        // Issue 31: greedy's cut-relaxation guide ran CP-SAT with as many workers as --threads, and one worker is
        // CP-SAT's sequential search: another plan of equal cost at --threads 1. The workers are fixed now, and the
        // threads only run them.
        // A run whose note says the wall clock stopped a member (a machine so loaded that a search's threads did not
        // get its work done in the limit's wall-clock safety margin) may differ by design; every other pair must not.
        static bool Cut(string json) => json.Contains("wall clock stopped", StringComparison.Ordinal);
        string graph = Graph("resnet50-b64.onnx");
        var first = Plan(graph, ["--budget", "40%", "--threads", "1"]);
        foreach (var threads in new[] { "2", "0" })
        {
            var again = Plan(graph, ["--budget", "40%", "--threads", threads]);
            if (Cut(first.Json) || Cut(again.Json)) continue;
            Assert.Equal(first.Json, again.Json);
            Assert.Equal(first.Schedule, again.Schedule);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dp_SameScheduleAndJson_AcrossRunsAndThreadCounts(string graphFile, string solver, string budget)
    {
        string graph = graphFile == "wide" ? WideGraph() : Graph(graphFile);
        string[] budgetArgs = budget.StartsWith("--budget=", StringComparison.Ordinal) ? ["--budget", budget["--budget=".Length..]] : [budget];
        var first = Plan(graph, ["--solver", solver, "--threads", "1", .. budgetArgs]);
        foreach (var threads in new[] { "2", "4", "2", "0" })
        {
            var again = Plan(graph, ["--solver", solver, "--threads", threads, .. budgetArgs]);
            Assert.Equal(first.Json, again.Json);
            Assert.Equal(first.Schedule, again.Schedule);
        }
        // And the schedule is a real plan: it simulates to the peak the JSON reports.
        using var json = JsonDocument.Parse(first.Json);
        Assert.True(json.RootElement.GetProperty("feasible").GetBoolean());
        var sim = new StringWriter();
        Assert.Equal(0, CommandRunner.Run(["simulate", graph, Path.Combine(_dir.FullName, "schedule.json"), "--format", "json"], sim,
            new StringWriter(), CancellationToken.None));
        using var simJson = JsonDocument.Parse(sim.ToString());
        Assert.Equal(json.RootElement.GetProperty("peakBytes").GetInt64(), simJson.RootElement.GetProperty("peakBytes").GetInt64());
    }

    [Fact]
    public void Optimal_WithAFixedSeed_SameScheduleAndJson_WhenTheSearchEndsByProof()
    {
        // A search that ends by proof (status OPTIMAL) is reproducible for a given seed and worker count; one cut by
        // the wall clock is not, so the graph is small enough to be proved in well under a second and the limit is
        // far away.
        var path = Path.Combine(_dir.FullName, "random.json");
        NativeGraphFormat.Save(RandomGraphs.Forward(3, nodes: 6), path);
        (string Json, byte[] Schedule)? previous = null;
        foreach (var threads in new[] { "1", "2" })
        {
            string[] options = ["--solver", "optimal", "--budget", "70%", "--seed", "7", "--threads", threads, "--time-limit", "60"];
            var first = Plan(path, options);
            using (var json = JsonDocument.Parse(first.Json))
            {
                Assert.Equal("OPTIMAL", json.RootElement.GetProperty("status").GetString());
                Assert.Equal(0, json.RootElement.GetProperty("gap").GetDouble());
            }
            var again = Plan(path, options);
            Assert.Equal(first.Json, again.Json);
            Assert.Equal(first.Schedule, again.Schedule);
            // Another worker count searches differently: the same optimum (recompute time), though possibly
            // another schedule of equal cost.
            if (previous is { } p)
            {
                using var a = JsonDocument.Parse(p.Json);
                using var b = JsonDocument.Parse(first.Json);
                Assert.Equal(a.RootElement.GetProperty("recomputeTime").GetDouble(), b.RootElement.GetProperty("recomputeTime").GetDouble());
            }
            previous = first;
        }
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Report_SameFilesAcrossRuns_ApartFromSolveTimes()
    {
        var graph = Graph("resnet18-b32.onnx");
        string[] Files(string dir) => Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        var dirs = new[] { "a", "b" }.Select(n => Path.Combine(_dir.FullName, n)).ToArray();
        foreach (var dir in dirs)
        {
            var stderr = new StringWriter();
            int code = CommandRunner.Run(["report", graph, "-o", dir, "--solvers", "chen,dp-approx,dp", "--points", "4"],
                new StringWriter(), stderr, CancellationToken.None);
            Assert.True(code == 0, stderr.ToString());
        }
        Assert.Equal(Files(dirs[0]), Files(dirs[1]));
        foreach (var file in Files(dirs[0]))
        {
            byte[] a = File.ReadAllBytes(Path.Combine(dirs[0], file)), b = File.ReadAllBytes(Path.Combine(dirs[1], file));
            switch (file)
            {
                case "report.json":
                    Assert.Equal(WithoutSolveSeconds(a), WithoutSolveSeconds(b));
                    break;
                case "report.csv" or "report.html":
                    // Their solve-time column is wall-clock time too; every other cell is the same.
                    Assert.Equal(WithoutSolveTimeColumn(a, file), WithoutSolveTimeColumn(b, file));
                    break;
                default:
                    Assert.True(a.AsSpan().SequenceEqual(b), $"{file} differs between two identical runs");
                    break;
            }
        }
    }

    private static string WithoutSolveSeconds(byte[] json)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        Strip(node);
        return node.ToJsonString();

        static void Strip(System.Text.Json.Nodes.JsonNode? n)
        {
            if (n is System.Text.Json.Nodes.JsonObject o)
            {
                o.Remove("solveSeconds");
                foreach (var (_, v) in o) Strip(v);
            }
            else if (n is System.Text.Json.Nodes.JsonArray a) foreach (var v in a) Strip(v);
        }
    }

    [GeneratedRegex("<td[^>]*>.*?</td>")]
    private static partial Regex HtmlCell();

    /// <summary>The text with the solve-seconds column of the points table removed: the fifth CSV field, or the sixth cell of
    /// the HTML rows of nine (solver, budget, points, peak, overhead, solve s, ...).</summary>
    private static string WithoutSolveTimeColumn(byte[] bytes, string file)
    {
        var lines = System.Text.Encoding.UTF8.GetString(bytes).Split('\n');
        if (file.EndsWith(".csv", StringComparison.Ordinal))
        {
            Assert.Equal("solveSeconds", lines[0].Split(',')[4]);
            return string.Join("\n", lines.Select(l => string.Join(",", l.Split(',').Where((_, i) => i != 4))));
        }
        Assert.Contains("<th>overhead</th><th>solve s</th>", lines.Single(l => l.Contains("<th>solve s</th>")));
        return string.Join("\n", lines.Select(l =>
        {
            var cells = HtmlCell().Matches(l);
            return cells.Count == 9 ? l.Remove(cells[5].Index, cells[5].Length) : l;
        }));
    }
}
