using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Reporting;

/// <summary>Sweeps on the paper's own graphs (read from ../shared/conformance, never copied into the repository).</summary>
public class PaperGraphReportTests
{
    private static string PaperGraph(string name) => Recompute.Tests.Import.ConformanceFiles.Paper($"cg_{name}.txt");

    [Theory]
    [InlineData("resnet50", 2, "dp")]
    [InlineData("vgg19", 6, "dp,dp-approx")]
    public void PaperGraph_DpCurvesAreMonotone_AndEveryPlanFitsItsBudget(string name, int points, string solvers)
    {
        var graph = PaperGraphImporter.Load(PaperGraph(name));
        var problem = new PlanningProblem(graph);
        var report = BudgetSweep.Run(problem, new SweepOptions { Points = points, Solvers = solvers.Split(',') });
        Assert.True(report.Complete);
        // Few lower sets on these graphs (ResNet50: 241, VGG19: 47 in the paper), so the exact DP runs.
        Assert.NotNull(report.Graph.LowerSets);
        Assert.Equal(RecomputePlanner.StoreAllPeak(problem), report.StoreAllPeakBytes);
        foreach (var series in new[] { "dp", "dp-approx" })
        {
            double previous = double.PositiveInfinity;
            foreach (var p in report.PointsOf(series).Where(p => p.Feasible))
            {
                Assert.True(p.PeakBytes <= p.BudgetBytes, $"{name} {series} at {p.BudgetBytes}: peak {p.PeakBytes}");
                Assert.True(p.Overhead <= previous, $"{name} {series} at {p.BudgetBytes}: {p.Overhead} after {previous}");
                previous = p.Overhead!.Value;
            }
        }
        // The sweep starts at dp-approx's least budget and the exact DP's family contains the approximate one,
        // so both have a plan at every budget (ResNet50 runs the exact DP alone at two budgets: it is the slow one).
        Assert.All(report.PointsOf("dp-approx"), p => Assert.True(p.Feasible));
        Assert.All(report.PointsOf("dp"), p => Assert.True(p.Feasible));
    }
}
