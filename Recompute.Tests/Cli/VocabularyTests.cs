using System.Text.Json;
using Recompute.Cli;
using Recompute.Planner.Import;
using Recompute.Planner.Units;
using Recompute.Tests.Reporting;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>
/// One vocabulary across commands (issue 15, item 4): every solver that draws a curve is a --solver of plan and a
/// --solvers entry of report, units print as units, sizes and overheads read the way people write them and say
/// how they were read, and maxbatch fails like plan.
/// </summary>
public sealed class VocabularyTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("recompute-vocabulary-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    private static string Graph(string file) => Path.Combine(Paths.Graphs, file);

    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void PerBlock_IsASolverOfPlan_AndItsPlanFitsABudgetAboveItsPeak()
    {
        // ResNet-18's module paths give per-block plans ("/net/layer1/layer1.0/..."); 80% of store-all is above their peak.
        var (code, output, err) = Run("plan", Graph("resnet18-b32.onnx"), "--solver", "per-block", "--budget", "80%", "--format", "json");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal("per-block", root.GetProperty("solver").GetString());
        Assert.True(root.GetProperty("peakBytes").GetInt64() <= root.GetProperty("budgetBytes").GetInt64());
        Assert.True(root.GetProperty("recomputeTime").GetDouble() > 0);

        // A graph without module paths has no blocks: a usage error, not "no plan fits the budget".
        (code, output, err) = Run("plan", Graph("mlp50.json"), "--solver", "per-block", "--budget", "80%");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("module paths", err);
        Assert.DoesNotContain("no plan fits", err);
    }

    [Fact]
    public void Report_TakesPerBlockAndGreedy()
    {
        var graph = Path.Combine(_dir.FullName, "residual.json");
        NativeGraphFormat.Save(ReportGraphs.ResidualNet(layers: 2), graph);
        var dir = Path.Combine(_dir.FullName, "report");
        var (code, _, err) = Run("report", graph, "-o", dir, "--solvers", "per-block,greedy", "--points", "3");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
        var series = json.RootElement.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("solver").GetString()).ToHashSet();
        Assert.Contains("per-block", series);
        Assert.Contains("greedy", series);

        (code, _, err) = Run("report", graph, "-o", dir, "--solvers", "greedyy");
        Assert.Equal(2, code);
        Assert.Contains("unknown solver 'greedyy' for a report", err);
        Assert.Contains("did you mean 'greedy'?", err);
    }

    [Trait("Category", "Slow")]
    [Theory]
    [InlineData("2G", 2L << 30)]
    [InlineData("2g", 2L << 30)]
    [InlineData("2gib", 2L << 30)]
    [InlineData("2GIB", 2L << 30)]
    [InlineData("2gb", 2_000_000_000L)]
    [InlineData("512 m", 512L << 20)]
    [InlineData("1.5k", 1536L)]
    [InlineData("100b", 100L)]
    public void Sizes_ReadUnitsCaseInsensitively_AndOneLetterIsBinary(string text, long bytes)
    {
        Assert.Equal(bytes, ByteSize.Parse(text));
        // The same through the command line: plan's budget is the size given.
        var (code, output, err) = Run("plan", Graph("mlp50.json"), "--budget", text, "--format", "json");
        Assert.True(code is 0 or 1, err);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(bytes, json.RootElement.GetProperty("budgetBytes").GetInt64());
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void ABareNumberBudget_SaysItIsBytes_AndSuggestsAPercentage()
    {
        var (code, _, err) = Run("plan", Graph("mlp50.json"), "--budget", "40");
        Assert.Equal(1, code);
        var line = Assert.Single(Lines(err));
        Assert.StartsWith("recompute plan: no plan fits the budget of 40 B", line);
        Assert.EndsWith("(--budget 40 is 40 bytes; for a share of the store-all peak write 40%, or give a unit: MiB, GiB)", line);
        // With a unit nothing is added.
        (_, _, err) = Run("plan", Graph("mlp50.json"), "--budget", "40B");
        Assert.DoesNotContain("bare", err);
        Assert.DoesNotContain("write 40%", err);
    }

    [Trait("Category", "Slow")]
    [Theory]
    [InlineData("20%", "overhead at most 20% of the training step\n")]
    [InlineData("0.2", "overhead at most 20% of the training step (0.2 read as a fraction)\n")]
    public void Overhead_TakesAPercentageOrAFraction_AndSaysHowItReadIt(string overhead, string heading)
    {
        var (code, output, err) = Run("maxbatch", Graph("resnet18-b32.onnx"), "--memory", "4GiB", "--overhead", overhead);
        Assert.True(code == 0, err);
        Assert.Contains(heading, output);
    }

    [Fact]
    public void Overhead_ABareNumberAboveOne_IsRefusedWithWhatWasMeant()
    {
        var (code, output, err) = Run("maxbatch", Graph("resnet18-b32.onnx"), "--memory", "4GiB", "--overhead", "20");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith("recompute maxbatch: --overhead: '20' as a fraction would be 2000% of the training step; write 20% for a percentage", err);
    }

    [Fact]
    public void MaxBatch_TooManyLowerSets_IsOneLineLikePlan()
    {
        // GPT-2 (653 forward tensors) has far more than a million lower sets: the exact DP declines, as in plan.
        var (code, output, err) = Run("maxbatch", Graph("gpt2-124m-b8-t1024.onnx"), "--memory", "24GB", "--overhead", "0.3", "--solver", "dp");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var lines = Lines(err);
        Assert.StartsWith("recompute maxbatch: the graph has more than 1000000 lower sets", lines[0]);
        Assert.Contains("use --solver dp-approx", lines[0]);
        Assert.DoesNotContain("--max-lower-sets", lines[0]); // maxbatch has no such option to raise
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void TimeUnits_PrintAsUnits()
    {
        Assert.Equal("6725 cost units", TimeUnits.Format(6725, "checkmate"));
        Assert.Equal("12 paper units", TimeUnits.Format(12, "paper"));
        Assert.Equal("3.20 GFLOP", TimeUnits.Format(3.2e9, "flop"));
        Assert.Equal("0.125 s", TimeUnits.Format(0.125, "s"));
        Assert.Equal("12.500 ms", TimeUnits.Format(0.0125, "s"));
        Assert.Equal("4.200 µs", TimeUnits.Format(4.2e-6, "s"));

        // A Checkmate/Moccasin file: 0 → 1 → 2, durations 0, 3 and 5 (the forward time is 8 of the file's cost units).
        var file = Path.Combine(_dir.FullName, "layered.json");
        File.WriteAllText(file, """
            {"directed": true, "multigraph": false, "graph": {"name": "p", "source_node": 0, "target_node": 2},
             "nodes": [{"name": 0, "duration": 0, "out_cost": 8}, {"name": 1, "duration": 3, "out_cost": 16}, {"name": 2, "duration": 5, "out_cost": 4}],
             "links": [{"0": 0, "1": 1}, {"0": 1, "1": 2}]}
            """);
        var (code, output, err) = Run("inspect", file);
        Assert.True(code == 0, err);
        Assert.Contains("cost units", output);
        Assert.DoesNotContain("checkmate", output);
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Train_PrintsOverheadsAsPercentages()
    {
        var (code, output, err) = Run("train", Graph("mlp50.json"), "--budget", "50%", "--steps", "1");
        Assert.True(code == 0, err);
        var line = Assert.Single(Lines(output), l => l.StartsWith("predicted overhead", StringComparison.Ordinal));
        Assert.Matches(@"^predicted overhead \d+\.\d\d% of the training step \(recompute / \(forward \+ backward\)\); \d+\.\d\d% of the forward$", line);
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Plan_RecomputedRow_NamesTheFirstTen_AndCountsTheRest()
    {
        string[] args = ["plan", Graph("resnet18-b32.onnx"), "--budget", "50%", "--threads", "1"];
        var (code, table, err) = Run(args);
        Assert.True(code == 0, err);
        var (_, json, _) = Run([.. args, "--format", "json"]);
        using var doc = JsonDocument.Parse(json);
        var names = doc.RootElement.GetProperty("recomputedTensors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.True(names.Count > 10, $"{names.Count} recomputed: the case needs more than the table shows");

        var lines = Lines(table);
        int first = Array.FindIndex(lines, l => l.StartsWith("recomputed ", StringComparison.Ordinal));
        // The row's continuation lines are indented under its value.
        var row = lines.Skip(first).TakeWhile((l, i) => i == 0 || l.StartsWith("     ", StringComparison.Ordinal)).ToList();
        Assert.All(row, l => Assert.True(l.Length <= 100 || l.Trim().Split(' ').Length == 1, l));
        string text = string.Join(" ", row);
        Assert.Contains($"{names.Count} tensors:", text);
        Assert.Contains($"and {names.Count - 10} more (all in --format json and -o)", text);
        var listed = text[(text.IndexOf("tensors:", StringComparison.Ordinal) + "tensors:".Length)..text.IndexOf(" and ", StringComparison.Ordinal)]
            .Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(names.Take(10), listed);
        // The whole answer stays short enough to read: at most 40 lines, on ResNet-50 at 40 % too (118 recomputed).
        Assert.True(lines.Length <= 40, $"{lines.Length} lines");
        var (code50, table50, err50) = Run("plan", Graph("resnet50-b64.onnx"), "--budget", "40%", "--time-limit", "2");
        Assert.True(code50 == 0, err50);
        Assert.True(Lines(table50).Length <= 40, table50);
    }
}
