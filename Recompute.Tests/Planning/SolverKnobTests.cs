using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>
/// Each descriptor lists the settings its solver reads (<see cref="SolverDescriptor.Knobs"/>), and <c>plan</c> says
/// when an option given does not affect the solver chosen: so a knob left out of the list must indeed change nothing.
/// </summary>
public class SolverKnobTests
{
    /// <summary>Each knob with a value far from its default.</summary>
    private static readonly (SolverKnobs Knob, Func<SolverOptions, SolverOptions> Turn)[] Turned =
    [
        (SolverKnobs.TimeLimit, o => o with { TimeLimit = TimeSpan.FromMilliseconds(1) }),
        (SolverKnobs.Threads, o => o with { Threads = 1 }),
        (SolverKnobs.Seed, o => o with { Seed = 7 }),
        (SolverKnobs.MaxLowerSets, o => o with { MaxLowerSets = 1 }),
        (SolverKnobs.TimeBuckets, o => o with { TimeBuckets = 10 }),
    ];

    [Theory]
    [InlineData(51)] [InlineData(52)] [InlineData(53)]
    public void AKnobASolverDoesNotList_ChangesNotItsPlan(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 14));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        int compared = 0;
        foreach (var d in SolverRegistry.Descriptors)
            foreach (var (knob, turn) in Turned)
            {
                if ((d.Knobs & knob) != 0) continue;
                foreach (double share in new[] { 0.6, 0.8 })
                {
                    var options = new SolverOptions { BudgetBytes = (long)(storeAll * share), TimeLimit = TimeSpan.FromSeconds(2) };
                    var plain = RecomputePlanner.Plan(problem, d.Name, options);
                    var turned = RecomputePlanner.Plan(problem, d.Name, turn(options));
                    Assert.True(plain.Feasible == turned.Feasible, $"{d.Name}: {knob} changes whether it plans at {share:P0}");
                    if (plain.Schedule is { } a && turned.Schedule is { } b)
                        Assert.True(ScheduleFormat.ToJson(a) == ScheduleFormat.ToJson(b),
                            $"{d.Name}: {knob}, which it does not list, changes its schedule at {share:P0}");
                    compared++;
                }
            }
        Assert.True(compared >= 20, $"{compared} comparisons");
    }

    /// <summary>A portfolio reads what its members read: auto lists every knob.</summary>
    [Fact]
    public void Auto_ListsTheKnobsOfItsMembers()
    {
        var auto = SolverRegistry.Describe(AutoPortfolio.Name).Knobs;
        foreach (var d in SolverRegistry.Descriptors) Assert.Equal(d.Knobs, d.Knobs & auto);
    }
}
