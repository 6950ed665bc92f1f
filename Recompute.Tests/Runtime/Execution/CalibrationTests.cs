using Recompute.Cli;
using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Execution;
using Recompute.Tests.Import;

namespace Recompute.Tests.Runtime.Execution;

public class CalibrationTests
{
    private static string Graph(string file) => Path.Combine(Recompute.Tests.Support.Paths.RepoRoot, "graphs", file);

    [Fact]
    public void Measure_TimesEveryPlannedTensor_AndAppliesToTheGraph()
    {
        var graph = TestModels.Mlp(6);
        var result = Calibration.Measure(graph, new CalibrationOptions { Repeat = 3, WarmUp = 1 });
        var training = TrainingGraph.Derive(graph);
        foreach (var n in graph.Nodes)
        {
            if (!n.IsPlanned)
            {
                Assert.Equal(0, result.ForwardSeconds[n.Id]);
                Assert.Equal(0, result.BackwardSeconds[n.Id]);
                continue;
            }
            Assert.True(result.ForwardSeconds[n.Id] > 0, $"forward time of {n.Name}");
            // Every planned tensor of the MLP carries a gradient, so its backward task ran and was timed.
            Assert.True(training.GradTaskOf(n.Id) >= 0);
            Assert.True(result.BackwardSeconds[n.Id] > 0, $"backward time of {n.Name}");
        }
        Assert.True(result.StepSeconds > 0);
        Assert.Equal(3, result.Repeat);

        var timed = result.Apply();
        Assert.Equal("s", timed.TimeUnit);
        foreach (var n in timed.Nodes.Where(n => n.IsPlanned))
        {
            Assert.Equal(result.ForwardSeconds[n.Id], n.Time);
            Assert.Equal(result.BackwardSeconds[n.Id], n.BackwardTime);
        }
        // The planner's store-all prediction is the sum of the calibrated times.
        var sim = RecomputePlanner.StoreAll(new PlanningProblem(timed)).Simulation;
        Assert.Equal(result.TotalForwardSeconds, sim.ForwardTime, 12);
        Assert.Equal(result.TotalBackwardSeconds, sim.BackwardTime, 12);
    }

    [Fact]
    public void TimeFile_RoundTripsExactly_ThroughTheLoader()
    {
        using var dir = new TempFolder();
        var graph = GraphLoader.Load(Graph("mlp50.json"));
        var result = Calibration.Measure(graph, new CalibrationOptions { Repeat = 1, WarmUp = 0 });
        var file = dir.File("costs.json");
        File.WriteAllText(file, result.ToJson());
        var loaded = GraphLoader.Load(Graph("mlp50.json"), new GraphLoadOptions { TimeFile = file });
        var direct = result.Apply();
        Assert.Equal("s", loaded.TimeUnit);
        for (int i = 0; i < graph.Count; i++)
        {
            Assert.Equal(direct[i].Time, loaded[i].Time);
            Assert.Equal(direct[i].BackwardTime, loaded[i].BackwardTime);
        }
    }

    [Fact]
    public void Median_OfOddAndEvenCounts()
    {
        Assert.Equal(2, Calibration.Median([3, 1, 2]));
        Assert.Equal(2.5, Calibration.Median([4, 1, 2, 3]));
        Assert.Equal(7, Calibration.Median([7]));
        Assert.Throws<ArgumentException>(() => Calibration.Median([]));
    }

    [Fact]
    public void ThreadCpuClock_MeasuresTheStep()
    {
        if (!OperatingSystem.IsLinux()) return;
        var result = Calibration.Measure(TestModels.Mlp(4), new CalibrationOptions { Repeat = 1, WarmUp = 0, Clock = ExecutionClock.ThreadCpu });
        Assert.Equal(ExecutionClock.ThreadCpu, result.Clock);
        Assert.True(result.StepSeconds > 0);
        Assert.Contains("\"clock\": \"thread-cpu\"", result.ToJson());
    }
}

public class MeasuredTimesTests
{
    private static string Graph(string file) => Path.Combine(Recompute.Tests.Support.Paths.RepoRoot, "graphs", file);

    /// <summary>A time file for mlp50.json: forward 1 ms and backward 2.5 ms for every planned tensor, with edits.</summary>
    private static string Write(TempFolder dir, Func<string, string>? edit = null, bool backward = true)
    {
        var graph = GraphLoader.Load(Graph("mlp50.json"));
        var fwd = graph.Nodes.Select(n => n.IsPlanned ? 0.001 : 0).ToArray();
        var bwd = graph.Nodes.Select(n => n.IsPlanned ? 0.0025 : 0).ToArray();
        string text = MeasuredTimes.Format(graph, fwd, bwd);
        if (!backward) text = text[..text.IndexOf(",\n  \"backwardTimes\"", StringComparison.Ordinal)] + "\n}\n";
        var path = dir.File("times.json");
        File.WriteAllText(path, edit is null ? text : edit(text));
        return path;
    }

    private static GraphFormatException Fails(string timeFile) =>
        Assert.Throws<GraphFormatException>(() => GraphLoader.Load(Graph("mlp50.json"), new GraphLoadOptions { TimeFile = timeFile }));

    [Fact]
    public void NativeGraph_TakesForwardAndBackwardTimes()
    {
        using var dir = new TempFolder();
        var g = GraphLoader.Load(Graph("mlp50.json"), new GraphLoadOptions { TimeFile = Write(dir) });
        Assert.Equal("s", g.TimeUnit);
        Assert.Equal(0.001, g.Find("fc7").Time);
        Assert.Equal(0.0025, g.Find("fc7").BackwardTime);
        Assert.Equal(0, g.Find("fc7.weight").Time);

        // Without backwardTimes a backward costs twice the forward, as in every graph format.
        g = GraphLoader.Load(Graph("mlp50.json"), new GraphLoadOptions { TimeFile = Write(dir, backward: false) });
        Assert.Equal(0.002, g.Find("fc7").BackwardTime);
    }

    [Fact]
    public void BadTimeFiles_NameTheFileAndTheEntry()
    {
        using var dir = new TempFolder();
        var e = Fails(Write(dir, t => t.Replace("    \"relu3\": 0.0025,\n", "")));
        Assert.Contains("times.json", e.Message);
        Assert.Contains("no backward time for tensor 'relu3'", e.Message);

        e = Fails(Write(dir, t => t.Replace("\"relu3\": 0.0025", "\"relu3\": -1")));
        Assert.Contains("\"backwardTimes\".\"relu3\"", e.Message);
        Assert.Contains("non-negative", e.Message);

        e = Fails(Write(dir, t => t.Replace("\"relu3\": 0.0025", "\"relu3\": 0.0025, \"fc3.weight\": 1")));
        Assert.Contains("\"backwardTimes\".\"fc3.weight\"", e.Message);
        Assert.Contains("parameter", e.Message);

        e = Fails(Write(dir, t => t.Replace("\"relu3\": 0.0025", "\"relu3\": 0.0025, \"relu99\": 1")));
        Assert.Contains("\"backwardTimes\".\"relu99\"", e.Message);
        Assert.Contains("names no tensor", e.Message);

        e = Fails(Write(dir, t => t.Replace("\"unit\": \"s\"", "\"unit\": \"s\", \"backwardTime\": {}")));
        Assert.Contains("\"backwardTime\"", e.Message);
        Assert.Contains("unknown field", e.Message);

        e = Fails(Write(dir, t => t.Replace("    \"relu3\": 0.001,\n", "")));
        Assert.Contains("no time for tensor 'relu3'", e.Message);
    }

    [Fact]
    public void OnnxGraph_TakesBackwardTimes()
    {
        using var dir = new TempFolder();
        string path = OnnxModelBuilder.Mlp().Write(dir.File("mlp.onnx"));
        string times = dir.File("times.json");
        File.WriteAllText(times, """{ "unit": "s", "times": { "h": 1, "r": 1, "logits": 1, "loss": 1 }, "backwardTimes": { "h": 3, "r": 0.5, "logits": 2, "loss": 0 } }""");
        var g = GraphLoader.Load(path, new GraphLoadOptions { TimeFile = times });
        Assert.Equal(3, g.Find("h").BackwardTime);
        Assert.Equal(0.5, g.Find("r").BackwardTime);

        File.WriteAllText(times, """{ "times": { "h": 1, "r": 1, "logits": 1, "loss": 1 }, "backwardTimes": { "h": 3, "r": 0.5, "logits": 2 } }""");
        var e = Assert.Throws<GraphFormatException>(() => GraphLoader.Load(path, new GraphLoadOptions { TimeFile = times }));
        Assert.Contains("no backward time for tensor 'loss'", e.Message);
    }
}

public class CalibrateCommandTests
{
    private static string Graph(string file) => Path.Combine(Recompute.Tests.Support.Paths.RepoRoot, "graphs", file);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CommandRunner.Run(args, o, e, CancellationToken.None);
        return (code, o.ToString(), e.ToString());
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Calibrate_WritesATimeFileThatPlanAndTrainAccept()
    {
        using var dir = new TempFolder();
        var costs = dir.File("costs.json");
        var (code, stdout, stderr) = Run("calibrate", Graph("mlp50.json"), "-o", costs, "--repeat", "2", "--warmup", "0");
        Assert.True(code == 0, stderr);
        Assert.Contains("wrote", stdout);
        Assert.True(File.Exists(costs));
        Assert.Empty(Directory.GetFiles(dir.Path, ".*.tmp"));

        (code, stdout, stderr) = Run("plan", Graph("mlp50.json"), "--budget", "50%", "--time-file", costs, "--format", "json");
        Assert.True(code == 0, stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(stdout))
        {
            Assert.True(doc.RootElement.GetProperty("feasible").GetBoolean());
            Assert.True(doc.RootElement.GetProperty("forwardTime").GetDouble() > 0);
        }
        (code, stdout, stderr) = Run("train", Graph("mlp50.json"), "--budget", "50%", "--steps", "1", "--time-file", costs, "--format", "json");
        Assert.True(code == 0, stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(stdout))
        {
            var root = doc.RootElement;
            Assert.Equal(root.GetProperty("predictedPeakBytes").GetInt64(), root.GetProperty("measuredPeakBytes").GetInt64());
            // Per step the recomputation is shared with the backward time too, so it is the smaller ratio.
            Assert.InRange(root.GetProperty("predictedStepOverhead").GetDouble(), 0, root.GetProperty("predictedOverhead").GetDouble());
        }
    }

    [Fact]
    public void Calibrate_BadInvocations_ExitTwoWithOneLine()
    {
        using var dir = new TempFolder();
        var (code, _, err) = Run("calibrate", Graph("mlp50.json"));
        Assert.Equal(2, code);
        Assert.Contains("-o <costs.json> is required", err);

        (code, _, err) = Run("calibrate", Graph("mlp50.json"), "-o", Path.Combine(dir.Path, "missing", "c.json"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", err);

        (code, _, err) = Run("calibrate", dir.File("nope.json"), "-o", dir.File("c.json"));
        Assert.Equal(2, code);
        Assert.Contains("nope.json", err);
        Assert.False(File.Exists(dir.File("c.json")));

        (code, _, err) = Run("calibrate", Graph("mlp50.json"), "-o", dir.File("c.json"), "--clock", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--threads 1", err);
        Assert.DoesNotContain("   at ", err);
    }
}
