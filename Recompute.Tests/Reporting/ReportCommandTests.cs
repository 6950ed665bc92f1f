using System.Text.Json;
using Recompute.Cli;
using Recompute.Cli.Commands;
using Recompute.Planner.Reporting;

namespace Recompute.Tests.Reporting;

public class ReportCommandTests
{
    private static string RepoRoot() => Recompute.Tests.Support.Paths.RepoRoot;

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "recompute-report-cli-" + Guid.NewGuid().ToString("N"));

    private static bool HasControlCharacters(string s) => s.Any(c => char.IsControl(c) && c != '\n');

    [Fact]
    public void Redirected_OutputIsPlainText_AndTheTerminalGetsAProgressBar()
    {
        var graph = ReportGraphs.ResidualNet(layers: 2);
        var options = new SweepOptions { Points = 4, Solvers = ["per-block", "chen", "dp-approx", "dp"] };
        var dir = TempDir();
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = ReportCommand.Execute(graph, options, dir, stdout, stderr, interactive: false, CancellationToken.None);
            Assert.Equal(0, code);
            Assert.False(HasControlCharacters(stdout.ToString()), stdout.ToString());
            Assert.Equal("", stderr.ToString());
            Assert.Contains("report.html", stdout.ToString());
            Assert.Contains("dp-approx", stdout.ToString());

            // The same run on a terminal draws a live status with ANSI escapes (so the quiet mode above is a real
            // switch), and still ends with the same summary.
            var tty = new StringWriter();
            ReportCommand.Execute(graph, options, dir, tty, new StringWriter(), interactive: true, CancellationToken.None);
            Assert.Contains('\u001b', tty.ToString());
            Assert.Contains("points; last:", tty.ToString());
            Assert.Contains("report.html", tty.ToString());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Cancelled_ReportKeepsFinishedPoints_AndExits130()
    {
        var dir = TempDir();
        try
        {
            // Cancelled before anything ran: exit 130, nothing written.
            using (var early = new CancellationTokenSource())
            {
                early.Cancel();
                var err = new StringWriter();
                Assert.Equal(130, ReportCommand.Execute(ReportGraphs.ResidualNet(layers: 1), new SweepOptions { Points = 3,
                    Solvers = ["dp-approx"] }, dir, new StringWriter(), err, false, early.Token));
                Assert.Contains("interrupted", err.ToString());
                Assert.Empty(Directory.GetFiles(dir));
            }
            // Cancelled after three points: the third finished point pulls the trigger.
            using var cts = new CancellationTokenSource();
            var stderr = new StringWriter();
            int code = ReportCommand.Execute(ReportGraphs.ResidualNet(layers: 2), new SweepOptions { Points = 5, Solvers = ["chen",
                "dp-approx"] }, dir, new StringWriter(), stderr, false, cts.Token,
                observe: p => { if (p.Done == 3) cts.Cancel(); });
            Assert.Equal(130, code);
            Assert.Contains("interrupted", stderr.ToString());
            Assert.False(File.Exists(Path.Combine(dir, "report.html")));
            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
            Assert.False(json.RootElement.GetProperty("complete").GetBoolean());
            Assert.Equal(3, json.RootElement.GetProperty("points").GetArrayLength());
            // Nothing half-written: only complete files (no temporaries) are in the folder.
            Assert.All(Directory.GetFiles(dir), f => Assert.False(Path.GetFileName(f).StartsWith('.')));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Cli_ReportOnResnet18_WritesEveryFile()
    {
        var dir = TempDir();
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = CommandRunner.Run(["report", Path.Combine(RepoRoot(), "graphs", "resnet18-b32.onnx"), "-o", dir,
                "--solvers", "dp-approx,chen", "--points", "3", "--budget", "60%"], stdout, stderr, CancellationToken.None);
            Assert.True(code == 0, stderr.ToString());
            foreach (var f in new[] { "pareto.png", "pareto.svg", "timeline.png", "timeline.svg", "report.json", "report.csv",
                "report.html", "graph.dot" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
            long storeAll = json.RootElement.GetProperty("storeAllPeakBytes").GetInt64();
            // --budget 60% is 60% of the store-all peak (floored), drawn on the timeline.
            Assert.Equal(storeAll * 6 / 10, json.RootElement.GetProperty("timeline").GetProperty("budgetBytes").GetInt64());
            Assert.False(HasControlCharacters(stdout.ToString() + stderr.ToString()));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Cli_ReportWithoutSolvers_DrawsTheDefaultSeries()
    {
        // The README's main job names no --solvers: the report must still draw chen and the DPs beside store-all.
        var dir = TempDir();
        try
        {
            var stderr = new StringWriter();
            int code = CommandRunner.Run(["report", Path.Combine(RepoRoot(), "graphs", "resnet18-b32.onnx"), "-o", dir, "--points", "2"],
                new StringWriter(), stderr, CancellationToken.None);
            Assert.True(code == 0, stderr.ToString());
            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
            var names = json.RootElement.GetProperty("series").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
            Assert.Contains("store-all", names);
            Assert.Contains("chen", names);
            Assert.Contains("dp-approx", names);
            Assert.Contains("dp", names);
            // The default plan is drawn on a graph of more tensors than the optimal solver's default limit.
            Assert.Contains("auto", names);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("--solvers", "dpp", "unknown solver 'dpp'")]
    [InlineData("--budget", "lots", "--budget")]
    [InlineData("--points", "0", "--points")]
    public void Cli_BadOptions_ExitTwoWithOneLine(string option, string value, string expected)
    {
        var dir = TempDir();
        var stderr = new StringWriter();
        int code = CommandRunner.Run(["report", Path.Combine(RepoRoot(), "graphs", "resnet18-b32.onnx"), "-o", dir, option, value],
            new StringWriter(), stderr, CancellationToken.None);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr.ToString());
        Assert.DoesNotContain("   at ", stderr.ToString());
        if (Directory.Exists(dir)) Assert.Empty(Directory.GetFiles(dir, "report.html"));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Cli_MissingGraph_NamesTheFile()
    {
        var stderr = new StringWriter();
        int code = CommandRunner.Run(["report", "no-such-graph.onnx", "-o", TempDir()], new StringWriter(), stderr, CancellationToken.None);
        Assert.Equal(2, code);
        Assert.Contains("no-such-graph.onnx", stderr.ToString());
    }

    [Fact]
    public void Cli_MaxBatch_Resnet18_PlannerFitsMoreThanStoreAll()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CommandRunner.Run(["maxbatch", Path.Combine(RepoRoot(), "graphs", "resnet18-b32.onnx"), "--memory", "4GiB", "--format", "json"],
            stdout, stderr, CancellationToken.None);
        Assert.True(code == 0, stderr.ToString());
        using var json = JsonDocument.Parse(stdout.ToString());
        var storeAll = json.RootElement.GetProperty("storeAll");
        var planner = json.RootElement.GetProperty("planner");
        Assert.True(planner.GetProperty("batch").GetInt32() > storeAll.GetProperty("batch").GetInt32());
        foreach (var answer in new[] { storeAll, planner })
        {
            int batch = answer.GetProperty("batch").GetInt32();
            Assert.True(answer.GetProperty("atBatch").GetProperty("fits").GetBoolean());
            Assert.True(answer.GetProperty("atBatch").GetProperty("totalBytes").GetInt64() <= 4L << 30);
            Assert.Equal(batch + 1, answer.GetProperty("atNextBatch").GetProperty("batch").GetInt32());
            Assert.False(answer.GetProperty("atNextBatch").GetProperty("fits").GetBoolean());
        }
    }

    [Theory]
    [InlineData("20%", 0.2)]
    [InlineData("0.35", 0.35)]
    public void Overhead_AcceptsPercentOrFraction(string text, double expected) =>
        Assert.Equal(expected, MaxBatchCommand.ParseOverhead(text), 12);
}
