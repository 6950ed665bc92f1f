using System.Text.Json;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary><c>plan --offload</c>, <c>simulate</c> of its schedule, and the errors of the offload options.</summary>
public class OffloadCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    private static string Graph(string file) => Path.Combine(Paths.Graphs, file);

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    /// <summary>
    /// <c>--offload</c> before the graph: the graph is not taken for a bandwidth, a word starting with a digit is, and a
    /// word that is neither a bandwidth nor an argument the command takes is refused.
    /// </summary>
    [Fact]
    public void OffloadBeforeTheGraph_TakesTheProfilesLink_AndANumberAsTheBandwidth()
    {
        var (code, output, err) = Run("plan", "--offload", Graph("gpt2-2l-t128.onnx"), "--budget", "50%", "--device", "h100-sxm", "--time-limit", "1", "--format", "json");
        Assert.True(code == 0, err);
        Assert.Equal(5.04e10, Json(output).GetProperty("linkBytesPerSecond").GetDouble());

        (code, output, err) = Run("plan", "--offload", "25GB/s", Graph("gpt2-2l-t128.onnx"), "--budget", "50%", "--device", "h100-sxm", "--time-limit", "1", "--format", "json");
        Assert.True(code == 0, err);
        Assert.Equal(25e9, Json(output).GetProperty("linkBytesPerSecond").GetDouble());

        (code, output, err) = Run("plan", Graph("gpt2-2l-t128.onnx"), "--offload", "fast", "--budget", "50%", "--device", "h100-sxm");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("'fast'", err);
    }

    /// <summary>
    /// The 2-layer GPT-2 on the H100 profile (PCIe 5) at 50 %: the plan offloads, fits, is no slower than the plan
    /// without offloading, writes a version 2 schedule, and simulate replays it to the same figures.
    /// </summary>
    [Fact]
    public void PlanWithOffload_WritesAVersion2Schedule_ThatSimulateAccepts()
    {
        var dir = Directory.CreateTempSubdirectory("offload-");
        try
        {
            string schedule = Path.Combine(dir.FullName, "s.json");
            var (code, output, err) = Run("plan", Graph("gpt2-2l-t128.onnx"), "--budget", "50%", "--device", "h100-sxm", "--offload", "--time-limit", "1",
                "--format", "json", "-o", schedule);
            Assert.True(code == 0, err);
            var plan = Json(output);
            Assert.True(plan.GetProperty("feasible").GetBoolean());
            Assert.Equal("offload", plan.GetProperty("winningSolver").GetString());
            Assert.True(plan.GetProperty("offloadBytes").GetInt64() > 0);
            Assert.True(plan.GetProperty("offloadedTensors").GetArrayLength() > 0);
            Assert.True(plan.GetProperty("peakBytes").GetInt64() <= plan.GetProperty("budgetBytes").GetInt64());
            Assert.Equal(5.04e10, plan.GetProperty("linkBytesPerSecond").GetDouble());
            double step = plan.GetProperty("predictedStepSeconds").GetDouble();
            Assert.True(step <= plan.GetProperty("keepOrRecomputeStepSeconds").GetDouble());
            Assert.True(plan.GetProperty("hostPeakBytes").GetInt64() > 0);
            Assert.True(plan.GetProperty("transferSeconds").GetDouble() > 0);
            Assert.Equal(JsonValueKind.Null, plan.GetProperty("lowerBound").ValueKind);
            Assert.Contains("\"version\": 2,", File.ReadAllText(schedule));

            var (simCode, simOut, simErr) = Run("simulate", Graph("gpt2-2l-t128.onnx"), schedule, "--device", "h100-sxm", "--format", "json");
            Assert.True(simCode == 0, simErr);
            var sim = Json(simOut);
            Assert.True(sim.GetProperty("valid").GetBoolean());
            Assert.Equal(plan.GetProperty("peakBytes").GetInt64(), sim.GetProperty("peakBytes").GetInt64());
            Assert.Equal(plan.GetProperty("hostPeakBytes").GetInt64(), sim.GetProperty("hostPeakBytes").GetInt64());
            Assert.Equal(plan.GetProperty("offloadBytes").GetInt64(), sim.GetProperty("offloadBytes").GetInt64());
            Assert.Equal(step, sim.GetProperty("predictedStepSeconds").GetDouble());

            // A host budget below what the schedule holds on the host: the replay names the step.
            var (tight, _, tightErr) = Run("simulate", Graph("gpt2-2l-t128.onnx"), schedule, "--device", "h100-sxm", "--offload", "--host-memory", "1KB");
            Assert.Equal(2, tight);
            Assert.Contains("exceeds the stated host budget of 1000 bytes", tightErr);
            Assert.Contains("step ", tightErr);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Theory]
    [InlineData("fast", "is not a bandwidth")]
    [InlineData("-3GB/s", "is not a bandwidth")]
    public void ABadBandwidth_IsAUsageError(string bandwidth, string message)
    {
        var (code, _, err) = Run("plan", Graph("gpt2-2l-t128.onnx"), "--budget", "50%", "--device", "h100-sxm", $"--offload={bandwidth}");
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void OffloadOptions_OutOfPlace_AreUsageErrors()
    {
        string g = Graph("gpt2-2l-t128.onnx");
        var (c1, _, e1) = Run("plan", g, "--budget", "50%", "--device", "h100-sxm", "--host-memory", "1GiB");
        Assert.Equal(2, c1);
        Assert.Contains("--host-memory applies with --offload only", e1);
        var (c2, _, e2) = Run("plan", g, "--min-memory", "--device", "flop", "--offload", "25GB/s");
        Assert.Equal(2, c2);
        Assert.Contains("timed in seconds", e2);
        var (c3, _, e3) = Run("plan", g, "--budget", "50%", "--device", "flop", "--offload", "25GB/s");
        Assert.Equal(2, c3);
        Assert.Contains("timed in seconds", e3);
        var (c4, _, e4) = Run("plan", g, "--budget", "50%", "--device", "flop", "--offload");
        Assert.Equal(2, c4);
        Assert.Contains("no device profile is in use", e4);
    }

    /// <summary>
    /// <c>plan --min-memory --offload</c> gives the smallest budget with offloading, below the keep-or-recompute one on
    /// U-Net, beside it and the largest step; the schedule it writes replays within that budget.
    /// </summary>
    [Fact]
    public void MinMemoryWithOffload_GoesBelowKeepOrRecompute()
    {
        string g = Graph("unet-b1-64.json");
        string schedule = Path.Combine(Path.GetTempPath(), $"recompute-minoff-{Environment.ProcessId}.json");
        try
        {
            var (code, output, err) = Run("plan", g, "--min-memory", "--solver", "dp-approx", "--device", "h100-sxm", "--offload", "--format", "json", "-o", schedule);
            Assert.True(code == 0, err);
            var j = Json(output);
            long min = j.GetProperty("minBudgetBytes").GetInt64();
            Assert.True(min < j.GetProperty("keepOrRecomputeMinBudgetBytes").GetInt64());
            Assert.True(min >= j.GetProperty("peakLowerBoundBytes").GetInt64());
            Assert.True(j.GetProperty("offloadBytes").GetInt64() > 0);
            Assert.Equal("offload", j.GetProperty("winningSolver").GetString());
            var (sc, so, se) = Run("simulate", g, schedule, "--device", "h100-sxm", "--format", "json");
            Assert.True(sc == 0, se);
            Assert.True(Json(so).GetProperty("peakBytes").GetInt64() <= min);
        }
        finally { File.Delete(schedule); }
    }

    /// <summary>A bandwidth given on the command line is the link the plan is timed on, with the profile's latency.</summary>
    [Fact]
    public void AGivenBandwidth_IsTheLink()
    {
        var (code, output, err) = Run("plan", Graph("gpt2-2l-t128.onnx"), "--budget", "50%", "--device", "h100-sxm", "--offload", "25GB/s", "--time-limit", "1", "--format", "json");
        Assert.True(code == 0, err);
        var j = Json(output);
        Assert.Equal(25e9, j.GetProperty("linkBytesPerSecond").GetDouble());
        Assert.Equal(10e-6, j.GetProperty("linkLatencySeconds").GetDouble());
    }
}
