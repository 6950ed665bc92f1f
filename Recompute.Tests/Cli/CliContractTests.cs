using System.Text.Json;
using Recompute.Cli;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>The command-line contract of design.md: commands, JSON fields, exit codes, one-line errors.</summary>
public class CliContractTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    private static string Graph(string file) => Path.Combine(Paths.Graphs, file);

    [Fact]
    public void Inspect_Json_HasTheContractFields()
    {
        var (code, output, err) = Run("inspect", Graph("resnet18-b32.onnx"), "--format", "json");
        Assert.True(code == 0, err);
        using var j = JsonDocument.Parse(output);
        foreach (var field in new[] { "nodes", "edges", "activationBytes", "parameterBytes", "inputBytes", "ops" })
            Assert.True(j.RootElement.TryGetProperty(field, out _), field);
        Assert.Equal(70, j.RootElement.GetProperty("nodes").GetInt32());
        Assert.Equal(1053592068, j.RootElement.GetProperty("activationBytes").GetInt64());
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Plan_WritesAScheduleThatSimulateReadsBack_WithTheSamePeak()
    {
        var dir = Directory.CreateTempSubdirectory("recompute-cli-");
        try
        {
            var schedule = Path.Combine(dir.FullName, "s.json");
            var (code, output, err) = Run("plan", Graph("resnet18-b32.onnx"), "--budget", "60%", "-o", schedule, "--format", "json");
            Assert.True(code == 0, err);
            using var plan = JsonDocument.Parse(output);
            var root = plan.RootElement;
            foreach (var field in new[] { "solver", "feasible", "budgetBytes", "peakBytes", "storeAllPeakBytes", "paperModelPeakBytes",
                "forwardTime", "recomputeTime", "overhead", "lowerBound", "gap", "solveSeconds", "scheduleFile" })
                Assert.True(root.TryGetProperty(field, out _), field);
            Assert.True(root.GetProperty("feasible").GetBoolean());
            long peak = root.GetProperty("peakBytes").GetInt64();
            Assert.True(peak <= root.GetProperty("budgetBytes").GetInt64());
            Assert.Equal((long)(0.6m * root.GetProperty("storeAllPeakBytes").GetInt64()), root.GetProperty("budgetBytes").GetInt64());

            var (simCode, simOut, simErr) = Run("simulate", Graph("resnet18-b32.onnx"), schedule, "--format", "json");
            Assert.True(simCode == 0, simErr);
            using var sim = JsonDocument.Parse(simOut);
            Assert.Equal(peak, sim.RootElement.GetProperty("peakBytes").GetInt64());

            // Same input, same options: the schedule file is byte for byte the same.
            var again = Path.Combine(dir.FullName, "s2.json");
            Assert.Equal(0, Run("plan", Graph("resnet18-b32.onnx"), "--budget", "60%", "-o", again, "--threads", "1").Code);
            Assert.Equal(File.ReadAllBytes(schedule), File.ReadAllBytes(again));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Plan_BelowTheSmallestFeasibleBudget_Exits1AndSaysWhatWouldFit()
    {
        var (code, _, err) = Run("plan", Graph("resnet18-b32.onnx"), "--budget", "1MiB");
        Assert.Equal(1, code);
        Assert.Contains("smallest feasible budget", err);
    }

    [Theory]
    [InlineData("plan", "graphs/resnet18-b32.onnx", "--budget", "12QB")]
    [InlineData("plan", "graphs/resnet18-b32.onnx", "--budget", "-5GB")]
    [InlineData("plan", "graphs/resnet18-b32.onnx", "--budget", "0")]
    [InlineData("plan", "graphs/resnet18-b32.onnx", "--budget", "1GB", "--min-memory")]
    [InlineData("plan", "graphs/resnet18-b32.onnx", "--budget", "1GB", "--solver", "magic")]
    [InlineData("plan", "graphs/resnet18-b32.onnx", "--budget", "1GB", "--keep", "no-such-tensor")]
    [InlineData("plan", "graphs/does-not-exist.onnx", "--budget", "1GB")]
    [InlineData("inspect")]
    [InlineData("frobnicate")]
    public void BadUsageAndInput_Exit2_WithOneClearLine(params string[] args)
    {
        var fixedArgs = args.Select(a => a.StartsWith("graphs/") ? Path.Combine(Paths.RepoRoot, a) : a).ToArray();
        var (code, _, err) = Run(fixedArgs);
        Assert.Equal(2, code);
        Assert.DoesNotContain("   at ", err); // no stack trace
        Assert.False(string.IsNullOrWhiteSpace(err));
    }

    [Fact]
    public void Simulate_ReportsTheFirstBadStep()
    {
        var dir = Directory.CreateTempSubdirectory("recompute-cli-");
        try
        {
            var schedule = Path.Combine(dir.FullName, "s.json");
            Assert.Equal(0, Run("plan", Graph("resnet18-b32.onnx"), "--budget", "80%", "-o", schedule).Code);
            // Drop the first free: the schedule then never frees that tensor.
            var text = File.ReadAllLines(schedule).ToList();
            int firstFree = text.FindIndex(l => l.Contains("\"free-value\""));
            Assert.True(firstFree > 0);
            text.RemoveAt(firstFree);
            File.WriteAllLines(schedule, text);
            var (code, _, err) = Run("simulate", Graph("resnet18-b32.onnx"), schedule);
            Assert.Equal(2, code);
            Assert.Contains("invalid schedule", err);
        }
        finally { dir.Delete(recursive: true); }
    }
}
