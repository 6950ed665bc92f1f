using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Issue 14: every solver honours <c>--keep</c> and <c>--recompute</c> or refuses them (not applicable), read from
/// the emitted schedule's steps: a tensor pinned by --recompute that the backward pass reads is recomputed there and
/// not live when the backward pass begins; a tensor pinned by --keep is never recomputed.
/// </summary>
public class PinPropertyTests
{
    private static readonly string[] Solvers = ["greedy", "dp-approx", "dp", "chen", "optimal", "auto", "store-all"];

    /// <summary>x → h → loss (the graph greedy got wrong: the loss's gradient reads nothing, so an order may start the backward with it).</summary>
    private static ComputationGraph OneActivation()
    {
        var b = new GraphBuilder("one");
        int x = b.Input("x", 64);
        int h = b.Activation("h", "Relu", [x], 64, 1);
        b.Loss("l", "Sum", [h], 4, 1);
        return b.Build();
    }

    /// <summary>x → a → b → c → loss, and a diamond a → (d, e) → f → loss.</summary>
    private static IEnumerable<ComputationGraph> Graphs()
    {
        yield return OneActivation();
        var c = new GraphBuilder("chain");
        int x = c.Input("x", 32);
        int prev = x;
        for (int i = 0; i < 4; i++) prev = c.Activation($"a{i}", "Relu", [prev], 64 + 16 * i, 1 + i);
        c.Loss("l", "Sum", [prev], 4, 1);
        yield return c.Build();
        var d = new GraphBuilder("diamond");
        int y = d.Input("x", 32);
        int a = d.Activation("a", "Relu", [y], 64, 1);
        int l = d.Activation("d", "Relu", [a], 48, 2);
        int r = d.Activation("e", "Tanh", [a], 80, 1);
        int f = d.Activation("f", "Add", [l, r], 64, 1, backwardNeeds: []);
        d.Loss("l", "Sum", [f], 4, 1);
        yield return d.Build();
    }

    /// <summary>Whether a forward task's value is live just before the first step that allocates after the forward pass.</summary>
    private static bool LiveIntoBackward(Schedule s, int node)
    {
        int task = s.Training.ForwardTaskOf(node);
        int lastCompute = s.Steps.Select((st, i) => (st, i)).Where(p => p.st.Kind == StepKind.Compute).Max(p => p.i);
        bool live = false;
        for (int i = 0; i < s.Steps.Length; i++)
        {
            var st = s.Steps[i];
            if (i > lastCompute && st.Allocates) return live;
            if (st.Task == task) live = st.Allocates;
        }
        return live;
    }

    [Fact]
    public void EverySolver_HonoursRecomputeAndKeep_OrRefuses()
    {
        int checkedPlans = 0;
        foreach (var graph in Graphs())
        {
            var problem = new PlanningProblem(graph);
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (var node in graph.Nodes.Where(n => n.Kind == NodeKind.Activation))
            {
                int task = problem.Training.ForwardTaskOf(node.Id);
                bool readByBackward = problem.Training.Readers(task).ToArray().Any(r => problem.Training.Tasks[r].Kind == TaskKind.Backward);
                foreach (var solver in Solvers)
                {
                    // A generous budget: a pin may cost memory (the paper model of the DPs counts more than the schedule holds).
                    var recompute = RecomputePlanner.Plan(problem, solver, new SolverOptions
                    {
                        BudgetBytes = 4 * storeAll, TimeLimit = TimeSpan.FromSeconds(2), ForceRecompute = [node.Id],
                    });
                    string what = $"{graph.Name}, --recompute {node.Name}, {solver}";
                    if (recompute.Solver.Status == PlanStatus.NotApplicable) { Assert.Contains("--recompute", recompute.Solver.Reason); continue; }
                    Assert.True(recompute.Feasible || solver is not ("greedy" or "auto" or "optimal"), $"{what}: {recompute.Solver.Reason}");
                    if (!recompute.Feasible) continue;
                    checkedPlans++;
                    var s = recompute.Schedule!;
                    Simulator.Simulate(s); // a valid schedule
                    Assert.False(LiveIntoBackward(s, node.Id), $"{what}: kept into the backward pass");
                    if (readByBackward) Assert.Contains(node.Id, s.RecomputedNodes);

                    // --keep at the smallest budget this solver reaches with the tensor pinned: never recomputed.
                    var keep = RecomputePlanner.Plan(problem, solver, new SolverOptions
                    {
                        BudgetBytes = storeAll * 3 / 4, TimeLimit = TimeSpan.FromSeconds(2), Keep = [node.Id],
                    });
                    if (keep.Feasible) Assert.DoesNotContain(node.Id, keep.Schedule!.RecomputedNodes);
                }
            }
        }
        // Three graphs, 1 + 4 + 4 activations, at least greedy, optimal and auto on each.
        Assert.True(checkedPlans >= 27, $"{checkedPlans} plans checked");
    }

    [Fact]
    public void PinCheck_NamesTheBrokenPin()
    {
        // The store-all schedule keeps everything: it breaks --recompute h, and honours --keep h.
        var problem = new PlanningProblem(OneActivation());
        var (schedule, _) = RecomputePlanner.StoreAll(problem);
        int h = problem.Graph.Find("h").Id;
        Assert.Contains("keeps 'h' from the forward pass into the backward pass", PinCheck.Violation(schedule, [], [h]));
        Assert.Null(PinCheck.Violation(schedule, [h], []));
        // dp-approx recomputes h under --recompute h: that breaks --keep h.
        var plan = RecomputePlanner.Plan(problem, "dp-approx", new SolverOptions { BudgetBytes = long.MaxValue, ForceRecompute = [h] });
        Assert.Contains("recomputes 'h', pinned by --keep", PinCheck.Violation(plan.Schedule!, [h], ImmutableHashSet<int>.Empty));
    }
}
