using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>
/// Refines a canonical chain planned over a thinned family of lower sets (graphs with more tensors than
/// <see cref="SolverOptions.MaxApproxSets"/>). There every block spans at least the family's stride of tensors, and
/// the backward recomputes all of a block but its boundary: on a 100,000-node chain that is 98 % of the forward
/// time again, however large the budget. Cutting a block after one of its tensors (in topological order) still
/// gives a chain of lower sets, one that keeps that tensor, and the more cuts, the more the forward pass keeps. The
/// refinement cuts after the tensors dearest to recompute per byte, as many as the budget holds by simulation
/// (the largest number that fits, found by bisection, since a few cuts only shrink blocks and many only add
/// checkpoints), and keeps the result when it recomputes less than the DP's chain.
/// </summary>
internal static class ChainRefinement
{
    public sealed record Refined(CanonicalStrategy Strategy, Schedule Schedule, SimulationResult Simulation);

    public static Refined? Refine(PlanningProblem problem, CanonicalStrategy strategy, string solver, long budget, double recomputeTime,
        CancellationToken ct)
    {
        var dag = problem.Forward;
        // Tensors that may end a new block: any but the last of its block, with a time worth saving.
        var last = new bool[dag.Count];
        foreach (var block in strategy.Blocks) last[dag.IndexOf[block[^1]]] = true;
        var cuts = Enumerable.Range(0, dag.Count).Where(v => !last[v] && dag.Time[v] > 0 && dag.Succ[v].Length > 0).ToArray();
        var worth = cuts.Select(v => dag.Time[v] / Math.Max(1, dag.Bytes[v])).ToArray();
        Array.Sort(worth, cuts);
        Array.Reverse(cuts);
        Array.Reverse(worth);
        // Equal worth in topological order, so that the result does not depend on the sort's stability.
        for (int i = 0, j; i < cuts.Length; i = j)
        {
            for (j = i + 1; j < cuts.Length && worth[j] == worth[i]; j++) { }
            Array.Sort(cuts, i, j - i);
        }

        Refined? best = null;
        bool Fits(int count)
        {
            ct.ThrowIfCancellationRequested();
            var cut = new bool[dag.Count];
            for (int i = 0; i < count; i++) cut[cuts[i]] = true;
            var blocks = ImmutableArray.CreateBuilder<ImmutableArray<int>>();
            foreach (var block in strategy.Blocks)
            {
                var piece = ImmutableArray.CreateBuilder<int>();
                foreach (int node in block)
                {
                    piece.Add(node);
                    if (cut[dag.IndexOf[node]]) { blocks.Add(piece.ToImmutable()); piece.Clear(); }
                }
                if (piece.Count > 0) blocks.Add(piece.ToImmutable());
            }
            var refined = new CanonicalStrategy(blocks.ToImmutable());
            var schedule = Lowering.Lower(problem.Training, dag, refined, solver, budget);
            var simulation = Simulator.Measure(schedule);
            LargeGraphMemory.Collect(problem.Training);
            if (!simulation.Fits(budget)) return false;
            if (simulation.RecomputeTime < (best?.Simulation.RecomputeTime ?? recomputeTime))
                best = new Refined(refined, schedule, simulation);
            return true;
        }

        int lo = 0, hi = cuts.Length;
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (Fits(mid)) lo = mid; else hi = mid - 1;
        }
        return best;
    }
}
