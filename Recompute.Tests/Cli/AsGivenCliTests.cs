using System.Text.Json;
using Recompute.Cli;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary><c>plan --as-given</c> and <c>simulate --as-given</c> on a Moccasin random layered graph.</summary>
public class AsGivenCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    private static readonly string Graph = Paths.CheckmateGraph("random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json");

    [Fact]
    public void Greedy_AsGiven_WritesAScheduleThatSimulateReadsBack()
    {
        var dir = Directory.CreateTempSubdirectory("recompute-asgiven-");
        try
        {
            var schedule = Path.Combine(dir.FullName, "s.json");
            var (code, output, err) = Run("plan", Graph, "--as-given", "--solver", "greedy", "--budget", "80%", "-o", schedule, "--format", "json");
            Assert.True(code == 0, err);
            using var plan = JsonDocument.Parse(output);
            var root = plan.RootElement;
            long peak = root.GetProperty("peakBytes").GetInt64();
            Assert.True(peak <= root.GetProperty("budgetBytes").GetInt64());
            // As given there are no backward tasks: extra compute over the file's order is recomputation over forward.
            Assert.Equal(0, root.GetProperty("backwardTime").GetDouble());
            Assert.Equal(root.GetProperty("overhead").GetDouble(), root.GetProperty("computeOverhead").GetDouble(), 12);

            var (simCode, simOut, simErr) = Run("simulate", Graph, schedule, "--as-given", "--format", "json");
            Assert.True(simCode == 0, simErr);
            using var sim = JsonDocument.Parse(simOut);
            Assert.Equal(peak, sim.RootElement.GetProperty("peakBytes").GetInt64());
            // Without --as-given the schedule is over another DAG (derived gradients): a one-line input error.
            var (wrongCode, _, wrongErr) = Run("simulate", Graph, schedule);
            Assert.Equal(2, wrongCode);
            Assert.Single(wrongErr.Trim().Split('\n'));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void CanonicalSolver_AsGiven_OnAGraphWithoutBackwardNodes_IsAUsageError()
    {
        var (code, _, err) = Run("plan", Graph, "--as-given", "--solver", "dp", "--budget", "80%");
        Assert.Equal(2, code);
        Assert.Contains("no backward nodes", err);
    }
}
