using System.Globalization;
using System.Text.Json;
using Recompute.Planner.Devices;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Reporting;

/// <summary>The budget guide's column of the step with offloading allowed (<c>report --offload</c>).</summary>
public sealed class BudgetGuideOffloadTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("recompute-guide-offload-");

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>
    /// U-Net on the H100 profile with a device that leaves activations the smallest budget with offloading, below the
    /// smallest keep-or-recompute budget: the guide's row there says only offloading fits and gives its step,
    /// which the offload planner's plan at that budget has; where store-all fits, the step is every task run once.
    /// Without --offload the column is a dash and the JSON figure null.
    /// </summary>
    [Fact]
    public void OffloadColumn_GivesTheStepWithOffloading_AndADashWithoutALink()
    {
        string path = Path.Combine(Paths.Graphs, "unet-b1-64.json");
        var graph = DeviceProfiles.Find("h100-sxm")!.Apply(GraphLoader.Load(path));
        var problem = new PlanningProblem(graph);
        long fixedBytes = MaxBatchSearch.FixedBytes(graph, OptimizerKind.Adam);
        var link = new OffloadOptions(DeviceProfiles.Find("h100-sxm")!.HostLink!);
        var (least, keepOrRecompute) = OffloadPlanner.MinMemory(problem, SolverName.DpApprox, new SolverOptions(), link)!.Value;
        Assert.True(least.MinBudgetBytes < keepOrRecompute);
        long activations = least.MinBudgetBytes;
        long device = fixedBytes + activations;

        var dir = Path.Combine(_dir.FullName, "with");
        var (code, stdout, stderr) = InProcessCli.Run("report", path, "-o", dir, "--solvers", "dp-approx", "--points", "3",
            "--device", "h100-sxm", "--offload", "--memory", device.ToString(CultureInfo.InvariantCulture));
        Assert.True(code == 0, stderr);
        Assert.Contains("step with offload", stdout);
        Assert.Contains("(offload only)", stdout);
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "report.json")));
        var devices = json.RootElement.GetProperty("guide").GetProperty("devices").EnumerateArray().ToList();
        var small = devices.Single(d => d.GetProperty("deviceBytes").GetInt64() == device);
        Assert.False(small.GetProperty("fits").GetBoolean());
        Assert.True(small.GetProperty("offloadOnly").GetBoolean());
        var plan = OffloadPlanner.Plan(problem, SolverName.DpApprox, new SolverOptions { BudgetBytes = activations }, link);
        Assert.True(plan.Feasible && plan.Schedule!.HasTransfers);
        Assert.Equal(plan.Simulation!.StepSeconds, small.GetProperty("offloadStepSeconds").GetDouble(), 12);
        double once = problem.Training.ForwardTime + problem.Training.BackwardTime;
        Assert.True(plan.Simulation.StepSeconds >= once);
        foreach (var d in devices.Where(d => d.GetProperty("plan").GetString() == SolverName.StoreAll))
        {
            Assert.Equal(once, d.GetProperty("offloadStepSeconds").GetDouble(), 12);
            Assert.False(d.GetProperty("offloadOnly").GetBoolean());
        }

        var without = Path.Combine(_dir.FullName, "without");
        var (code2, stdout2, stderr2) = InProcessCli.Run("report", path, "-o", without, "--solvers", "dp-approx", "--points", "3",
            "--device", "h100-sxm", "--memory", device.ToString(CultureInfo.InvariantCulture));
        Assert.True(code2 == 0, stderr2);
        Assert.Contains("—", stdout2);
        using var json2 = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(without, "report.json")));
        Assert.All(json2.RootElement.GetProperty("guide").GetProperty("devices").EnumerateArray(),
            d => Assert.Equal(JsonValueKind.Null, d.GetProperty("offloadStepSeconds").ValueKind));
    }
}
