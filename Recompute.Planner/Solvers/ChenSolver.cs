using System.Collections.Immutable;

namespace Recompute.Planner.Solvers;

/// <summary>
/// Chen et al. (2016) √n checkpointing (<c>--solver chen</c>): the candidates are the articulation lower sets
/// (ancestral sets L^v whose boundary is v alone); a checkpoint is placed every M(V)/⌊√#candidates⌋ bytes.
/// When that plan does not fit the budget, Chen's greedy variant is tried with every segment size between the
/// largest single tensor and M(V), and the feasible plan with least recomputation (paper model) is returned.
/// </summary>
public sealed class ChenSolver : ISolver
{
    public string Name => "chen";
    public bool IsCanonical => true;

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        var dag = problem.Forward;
        var candidates = ArticulationCandidates(dag);
        long total = dag.Bytes.Sum();
        int k = Math.Max(1, (int)Math.Floor(Math.Sqrt(candidates.Count)));
        var plan = Chain(dag, candidates, total / k);
        var cost = PaperCostModel.Evaluate(dag, plan);
        if (cost.PeakBytes > options.BudgetBytes)
        {
            // Greedy variant: sweep the segment size; keep the cheapest plan that fits.
            CanonicalStrategy? best = null;
            PaperCost bestCost = default;
            var sizes = candidates.Select(c => c.Mem).Distinct().Order().ToList();
            foreach (var size in sizes.Prepend(1))
            {
                cancellation.ThrowIfCancellationRequested();
                var p = Chain(dag, candidates, size);
                var c = PaperCostModel.Evaluate(dag, p);
                if (c.PeakBytes <= options.BudgetBytes && (best is null || c.Overhead < bestCost.Overhead))
                {
                    best = p;
                    bestCost = c;
                }
            }
            if (best is null)
                return new SolverResult(Name, false, "INFEASIBLE", PaperModelPeakBytes: cost.PeakBytes,
                    Reason: "no segment size of Chen's greedy checkpointing fits the budget");
            plan = best;
            cost = bestCost;
        }
        return new SolverResult(Name, true, "FEASIBLE", Strategy: plan, PaperModelPeakBytes: cost.PeakBytes, PaperModelOverhead: cost.Overhead);
    }

    /// <summary>Articulation candidates (v, M(L^v)) in topological order; each ancestral set contains the previous one.</summary>
    internal static List<(int Node, long Mem, ulong[] Set)> ArticulationCandidates(ForwardDag dag)
    {
        var list = new List<(int, long, ulong[])>();
        // v is an articulation point when every edge leaving L^v leaves from v: count by a sweep in topological
        // order of how many ancestral sets each node's closure covers would be quadratic; closures are built per
        // node, which is fine for the graphs Chen's method is meant for (it is a baseline).
        for (int v = 0; v < dag.Count; v++)
        {
            if (dag.Succ[v].Length == 0) continue;
            var set = dag.AncestorClosure(v);
            bool articulation = true;
            long mem = 0;
            foreach (int u in ForwardDag.Members(set))
            {
                mem += dag.Bytes[u];
                if (u == v) continue;
                foreach (int s in dag.Succ[u])
                    if (!ForwardDag.Contains(set, s)) { articulation = false; break; }
                if (!articulation) break;
            }
            if (articulation) list.Add((v, mem, set));
        }
        return list;
    }

    private static CanonicalStrategy Chain(ForwardDag dag, List<(int Node, long Mem, ulong[] Set)> candidates, long segment)
    {
        var cuts = new List<ulong[]>();
        long last = 0;
        foreach (var (_, mem, set) in candidates)
            if (mem - last >= segment) { cuts.Add(set); last = mem; }
        var full = dag.NewSet();
        for (int v = 0; v < dag.Count; v++) ForwardDag.Add(full, v);
        cuts.Add(full);
        var blocks = ImmutableArray.CreateBuilder<ImmutableArray<int>>();
        var prev = dag.NewSet();
        foreach (var cut in cuts)
        {
            var block = ForwardDag.Members(cut).Where(v => !ForwardDag.Contains(prev, v)).Select(v => dag.NodeOf[v]).ToImmutableArray();
            if (block.Length > 0) blocks.Add(block);
            prev = cut;
        }
        return new CanonicalStrategy(blocks.ToImmutable());
    }
}
