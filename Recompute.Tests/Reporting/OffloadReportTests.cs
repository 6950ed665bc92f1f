using Recompute.Planner.Devices;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;
using Recompute.Plots;
using Recompute.Tests.Support;

namespace Recompute.Tests.Reporting;

public class OffloadReportTests
{
    /// <summary>
    /// With offloading, the report draws auto+offload beside auto: at every budget its step is never longer than auto's
    /// (the overhead counts stalls on transfers as recomputation), it fits wherever auto does, and every file is written.
    /// </summary>
    [Fact]
    public void TheOffloadCurve_IsNeverAboveAuto()
    {
        var graph = RandomGraphs.Forward(21, nodes: 12, seconds: true);
        var problem = new PlanningProblem(graph);
        var report = BudgetSweep.Run(problem, new SweepOptions
        {
            Points = 5, Solvers = [AutoPortfolio.Name], TimeLimit = TimeSpan.FromSeconds(0.9),
            Offload = new OffloadOptions(new HostLink(20_000, 10e-6)),
        });
        Assert.True(report.Complete);
        Assert.Equal(["store-all", "auto", BudgetSweep.OffloadSeries], report.Series.Select(s => s.Name));
        foreach (long b in report.Budgets)
        {
            var auto = report.Points.Single(p => p.Series == AutoPortfolio.Name && p.BudgetBytes == b);
            var offload = report.Points.Single(p => p.Series == BudgetSweep.OffloadSeries && p.BudgetBytes == b);
            if (!auto.Feasible) continue;
            Assert.True(offload.Feasible);
            Assert.True(offload.PeakBytes <= b);
            Assert.True(offload.Overhead <= auto.Overhead + 1e-12, $"at {b}: offload {offload.Overhead} > auto {auto.Overhead}");
        }
        var dir = Directory.CreateTempSubdirectory("offload-report-");
        try
        {
            ReportFiles.WriteAll(report, graph, dir.FullName);
            Assert.Contains(BudgetSweep.OffloadSeries, File.ReadAllText(Path.Combine(dir.FullName, "report.csv")));
            Assert.True(new FileInfo(Path.Combine(dir.FullName, "timeline.png")).Length > 0);
        }
        finally { dir.Delete(recursive: true); }
        // The timeline of an offload plan draws its host memory too.
        if (report.Timeline!.Schedule?.HasTransfers == true) Assert.NotNull(report.Timeline.Host);
        else Assert.Null(report.Timeline.Host);
    }
}
