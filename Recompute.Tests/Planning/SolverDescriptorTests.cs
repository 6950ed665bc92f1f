using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>
/// Issue 11, item 5: each solver describes itself (<see cref="SolverDescriptor"/>), and the registry, the command
/// line, the sweep and the plots read the description instead of naming solvers.
/// </summary>
public class SolverDescriptorTests
{
    [Fact]
    public void Descriptors_DescribeTheSolversTheyCreate()
    {
        foreach (var d in SolverRegistry.Descriptors)
        {
            var solver = d.Create();
            Assert.Equal(d.Name, solver.Name);
            Assert.Equal(d.Can(SolverCapabilities.Canonical), solver.IsCanonical);
            Assert.EndsWith(".", d.Sentence);
            Assert.Same(d, SolverRegistry.Describe(d.Name));
            Assert.Equal(d.Name == SolverName.Auto ? AutoPortfolio.DefaultTimeLimit : TimeSpan.FromSeconds(30), d.DefaultTimeLimit);
        }
        Assert.Throws<ArgumentException>(() => SolverRegistry.Describe("no-such-solver"));
    }

    [Fact]
    public void EverySeries_HasItsOwnPlotSlot()
    {
        var series = SolverRegistry.Descriptors.SelectMany(d => d.MemorySeriesName is { } m ? new[] { d.Name, m } : [d.Name]).ToList();
        var slots = series.Select(s => SolverRegistry.PlotSlot(s)).ToList();
        Assert.All(slots, s => Assert.NotNull(s));
        Assert.Equal(series.Count, slots.Distinct().Count());
        Assert.Null(SolverRegistry.PlotSlot("no-such-series"));
    }

    [Fact]
    public void DefaultSweep_FollowsTheCapabilities()
    {
        // A random DAG: no module blocks, few lower sets, few tensors.
        var problem = new PlanningProblem(RandomGraphs.Forward(2, 12));
        var names = BudgetSweep.Series(problem, new SweepOptions(), lowerSets: 50, hasBlocks: false).Select(s => s.Name).ToList();
        Assert.DoesNotContain(SolverName.PerBlock, names); // needs module blocks
        Assert.DoesNotContain(SolverName.Greedy, names); // not in the default report
        Assert.Contains(SolverName.Dp, names);
        Assert.Contains("dp-approx/memory", names);
        Assert.Equal(SolverName.Auto, names[^1]); // the portfolio runs after its members
        // Too many lower sets: no exact DP; module blocks: per-block.
        var large = BudgetSweep.Series(problem, new SweepOptions(), lowerSets: null, hasBlocks: true).Select(s => s.Name).ToList();
        Assert.DoesNotContain(SolverName.Dp, large);
        Assert.Contains(SolverName.PerBlock, large);
        // ResNet-18 has more planned tensors than the exact search takes by default.
        var resnet = new PlanningProblem(GraphLoader.Load(Path.Combine(Paths.Graphs, "resnet18-b32.onnx")));
        Assert.DoesNotContain(SolverName.Optimal, BudgetSweep.Series(resnet, new SweepOptions(), null, true).Select(s => s.Name));
        Assert.Contains(SolverName.Optimal, names);
    }
}
