using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>The cost of a canonical strategy in the paper's model.</summary>
/// <param name="PeakBytes">M(L_1..L_k) = max_i [ Σ_{j&lt;i} M(∂(L_j) ∩ V_j) + 2·M(V_i) + M(A_i) + M(B_i) ].</param>
/// <param name="Overhead">T(L_1..L_k) = Σ_i T(V_i \ ∂(L_i)), in the graph's time unit.</param>
public readonly record struct PaperCost(long PeakBytes, double Overhead);

/// <summary>
/// The cost model of Kusumoto et al. (2019), exactly as their code evaluates it (A_i ∩ B_i is counted twice), so
/// that results compare with the paper on its own graphs. The simulator's peak of the lowered schedule is the
/// project's own truth and is at most this.
/// </summary>
public static class PaperCostModel
{
    public static PaperCost Evaluate(ForwardDag dag, CanonicalStrategy strategy)
    {
        var l = dag.NewSet();
        long cached = 0, peak = 0;
        double overhead = 0;
        foreach (var block in strategy.Blocks)
        {
            var v = block.Select(n => dag.IndexOf[n]).ToArray();
            foreach (var i in v) ForwardDag.Add(l, i);
            var inA = new bool[dag.Count];
            long mv = 0, ma = 0, mb = 0, mBoundaryInBlock = 0;
            double tNonBoundary = 0;
            foreach (var i in v)
            {
                mv += dag.Bytes[i];
                bool boundary = dag.Succ[i].Any(u => !ForwardDag.Contains(l, u));
                if (boundary) mBoundaryInBlock += dag.Bytes[i]; else tNonBoundary += dag.Time[i];
            }
            // A and B depend only on L_i.
            for (int i = 0; i < dag.Count; i++)
                if (ForwardDag.Contains(l, i))
                    foreach (var u in dag.Succ[i])
                        if (!ForwardDag.Contains(l, u) && !inA[u]) { inA[u] = true; ma += dag.Bytes[u]; }
            var inB = new bool[dag.Count];
            for (int u = 0; u < dag.Count; u++)
                if (inA[u])
                    foreach (var p in dag.Pred[u])
                        if (!ForwardDag.Contains(l, p) && !inB[p]) { inB[p] = true; mb += dag.Bytes[p]; }
            peak = Math.Max(peak, checked(cached + 2 * mv + ma + mb));
            cached += mBoundaryInBlock;
            overhead += tNonBoundary;
        }
        return new PaperCost(peak, overhead);
    }

    /// <summary>Checks that blocks partition the planned forward tensors into an increasing chain of lower sets.</summary>
    public static void Validate(ForwardDag dag, CanonicalStrategy strategy)
    {
        var seen = new bool[dag.Count];
        foreach (var block in strategy.Blocks)
        {
            if (block.Length == 0) throw new ArgumentException("a block of a canonical strategy is empty");
            foreach (var n in block)
            {
                int i = dag.IndexOf[n];
                if (i < 0) throw new ArgumentException($"node {n} is not a planned forward tensor");
                if (seen[i]) throw new ArgumentException($"node {dag.Graph[n].Name} appears in two blocks");
                seen[i] = true;
            }
            foreach (var n in block)
                foreach (var p in dag.Pred[dag.IndexOf[n]])
                    if (!seen[p]) throw new ArgumentException($"block is not a lower set: {dag.Graph[n].Name} comes before its input {dag.Graph[dag.NodeOf[p]].Name}");
        }
        if (seen.Any(s => !s)) throw new ArgumentException("the strategy does not cover every forward tensor");
    }
}
