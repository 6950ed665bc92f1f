using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Support;

/// <summary>
/// A random 30-node DAG of <see cref="RandomGraphs.Forward"/> with a budget of 40, 50, 60 or 70 % of its store-all peak
/// (by seed) and one activation pinned each way: <see cref="KeepNode"/> (--keep) and <see cref="DropNode"/>
/// (--recompute), the pins the planners' property tests check are honoured.
/// </summary>
public sealed record PinnedRandomCase(PlanningProblem Problem, long Budget, int KeepNode, int DropNode)
{
    /// <summary>The case of <paramref name="seed"/>, or null where both pins fall on the same activation.</summary>
    public static PinnedRandomCase? For(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, 30));
        long budget = RecomputePlanner.StoreAllPeak(problem) * (40 + seed % 4 * 10) / 100;
        var activations = problem.Graph.Nodes.Where(n => n.Kind == NodeKind.Activation).Select(n => n.Id).ToList();
        int keepNode = activations[seed % activations.Count], dropNode = activations[(seed * 7 + 3) % activations.Count];
        return keepNode == dropNode ? null : new PinnedRandomCase(problem, budget, keepNode, dropNode);
    }

    /// <summary>Solver options at the case's budget with both pins.</summary>
    public SolverOptions Options(TimeSpan timeLimit) =>
        new() { BudgetBytes = Budget, TimeLimit = timeLimit, Keep = [KeepNode], ForceRecompute = [DropNode] };
}
