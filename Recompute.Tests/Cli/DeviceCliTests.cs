using System.Text.Json;
using Recompute.Planner.Devices;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary><c>--device</c> and <c>recompute device</c> as a user runs them.</summary>
public class DeviceCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    private static string Graph(string file) => Path.Combine(Paths.Graphs, file);

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public void Plan_OnAnH100_GivesForwardAndBackwardInSeconds()
    {
        var (code, output, err) = Run("plan", Graph("resnet50-b64.onnx"), "--budget", "100%", "--device", "h100-sxm", "--format", "json");
        Assert.True(code == 0, err);
        var j = Json(output);
        Assert.Equal("s", j.GetProperty("timeUnit").GetString());
        Assert.Equal("h100-sxm", j.GetProperty("device").GetString());
        double forward = j.GetProperty("forwardTime").GetDouble(), backward = j.GetProperty("backwardTime").GetDouble();
        // ResNet-50 at batch 64 is 2 · 4.1 GMAC · 64 ≈ 0.53 TFLOP forward: at 40 TFLOP/s (60 % of the fp32 peak) about
        // 13 ms of convolutions alone, plus the memory-bound layers; the backward about twice that.
        Assert.InRange(forward, 0.010, 0.100);
        Assert.InRange(backward / forward, 1.3, 3.5);
        Assert.Equal(0, j.GetProperty("recomputeTime").GetDouble());
    }

    [Fact]
    public void Plan_OnTheFlopModel_KeepsFlops_AndTheDefaultIsTheCpuProfile()
    {
        string[] args = ["plan", Graph("resnet18-b32.onnx"), "--budget", "50%", "--format", "json", "--time-limit", "1"];
        var (code, flop, err) = Run([.. args, "--device", "flop"]);
        Assert.True(code == 0, err);
        Assert.Equal("flop", Json(flop).GetProperty("timeUnit").GetString());
        Assert.Equal(JsonValueKind.Null, Json(flop).GetProperty("device").ValueKind);
        var (code2, cpu, err2) = Run(args);
        Assert.True(code2 == 0, err2);
        Assert.Equal("s", Json(cpu).GetProperty("timeUnit").GetString());
        Assert.Equal("cpu", Json(cpu).GetProperty("device").GetString());
        // The default device is cpu unless RECOMPUTE_DEVICE names another.
        Assert.Equal("cpu", Recompute.Cli.Commands.DeviceChoice.DefaultName(null));
        Assert.Equal("l4", Recompute.Cli.Commands.DeviceChoice.DefaultName(" l4 "));
    }

    [Fact]
    public void APlanInSeconds_StopsRecomputingMemoryBoundOps_ThatTheFlopModelCallsFree()
    {
        // In FLOPs a BatchNormalization or a ReLU costs a few operations an element, next to a convolution's hundreds; in
        // seconds each is a full pass over memory. The seconds plan, priced on the same device, is never dearer.
        var profile = DeviceProfiles.Find("h100-sxm")!;
        var graph = Recompute.Planner.Import.GraphLoader.Load(Graph("resnet18-b32.onnx"));
        var problem = new Recompute.Planner.Solvers.PlanningProblem(profile.Apply(graph));
        var flopProblem = new Recompute.Planner.Solvers.PlanningProblem(graph);
        long budget = Recompute.Planner.Planning.RecomputePlanner.StoreAllPeak(problem) / 2;
        var options = new Recompute.Planner.Solvers.SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(1), Threads = 1 };
        var inSeconds = Recompute.Planner.Planning.RecomputePlanner.Plan(problem, "greedy", options);
        var inFlops = Recompute.Planner.Planning.RecomputePlanner.Plan(flopProblem, "greedy", options);
        Assert.True(inSeconds.Feasible && inFlops.Feasible);
        // The FLOP plan's recomputations priced in seconds on the device (the graphs have the same tensors, ids and bytes).
        double flopPlanSeconds = inFlops.Schedule!.Steps.Where(s => s.Kind == Recompute.Planner.Scheduling.StepKind.Recompute)
            .Sum(s => problem.Graph[inFlops.Schedule.Training.Tasks[s.Task].Node].Time);
        Assert.True(flopPlanSeconds > 0);
        Assert.True(inSeconds.Simulation!.RecomputeTime <= flopPlanSeconds + 1e-12,
            $"seconds plan {inSeconds.Simulation.RecomputeTime} s > FLOP plan {flopPlanSeconds} s");
    }

    [Fact]
    public void AProfileFile_IsADevice_AndABadOneIsRefusedWithExitCode2()
    {
        var dir = Directory.CreateTempSubdirectory("recompute-device-");
        try
        {
            var (code, json, err) = Run("device", "l4", "--format", "json");
            Assert.True(code == 0, err);
            string file = Path.Combine(dir.FullName, "mine.json");
            File.WriteAllText(file, json.Replace("\"name\": \"l4\"", "\"name\": \"my-l4\""));
            var (code2, plan, err2) = Run("plan", Graph("resnet18-b32.onnx"), "--budget", "100%", "--device", file, "--format", "json");
            Assert.True(code2 == 0, err2);
            Assert.Equal("my-l4", Json(plan).GetProperty("device").GetString());

            File.WriteAllText(file, "{\"name\": \"x\", \"bandwidth\": -3, \"vectorFlops\": 1e12}");
            var (code3, out3, err3) = Run("plan", Graph("resnet18-b32.onnx"), "--budget", "100%", "--device", file);
            Assert.Equal(2, code3);
            Assert.Equal("", out3);
            Assert.Contains("mine.json", err3);
            Assert.Contains("\"bandwidth\"", err3);
            Assert.DoesNotContain("   at ", err3);

            var (code4, _, err4) = Run("plan", Graph("resnet18-b32.onnx"), "--budget", "100%", "--device", "h100");
            Assert.Equal(2, code4);
            Assert.Contains("--device must be one of", err4);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void APaperGraph_KeepsItsOwnTimes_AndSaysSo()
    {
        var (code, output, err) = Run("plan", Paths.PaperGraph("resnet50"), "--budget", "60%", "--device", "h100-sxm", "--format", "json");
        Assert.True(code == 0, err);
        Assert.Equal("paper", Json(output).GetProperty("timeUnit").GetString());
        Assert.Contains("does not apply", err);
    }

    [Fact]
    public void Device_ListsTheProfiles_AndShowsOne()
    {
        var (code, list, err) = Run("device");
        Assert.True(code == 0, err);
        foreach (var name in DeviceProfiles.Names) Assert.Contains(name, list);
        var (code2, shown, err2) = Run("device", "h100-sxm");
        Assert.True(code2 == 0, err2);
        Assert.Contains("NVIDIA H100 SXM", shown);
        Assert.Contains("3350 GB/s", shown);
        var (code3, cpu, err3) = Run("device", "cpu", "--format", "json");
        Assert.True(code3 == 0, err3);
        Assert.Equal("the tests' fixed CPU profile", Json(cpu).GetProperty("description").GetString());
    }
}
