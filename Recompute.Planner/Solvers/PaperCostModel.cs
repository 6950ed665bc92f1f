using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>The cost of a canonical strategy in the paper's model.</summary>
/// <param name="PeakBytes">M(L_1..L_k) = max_i [ Σ_{j&lt;i} M(∂(L_j) ∩ V_j) + 2·M(V_i) + M(A_i) + M(B_i) ].</param>
/// <param name="Overhead">T(L_1..L_k) = Σ_i T(V_i \ ∂(L_i)), in the graph's time unit.</param>
internal readonly record struct PaperCost(long PeakBytes, double Overhead);

/// <summary>
/// The cost model of Kusumoto et al. (2019), exactly as their code evaluates it (A_i ∩ B_i is counted twice), so
/// that results compare with the paper on its own graphs. The simulator's peak of the lowered schedule is the
/// project's own truth and is at most this.
/// </summary>
internal static class PaperCostModel
{
    /// <remarks>
    /// One pass over the blocks, O(|V| + |E|) in all: A (outside successors of L) and B (their other inputs outside
    /// L) are kept up to date as each block joins L, with counts of each node's inputs inside L and of its readers
    /// in A, instead of being rebuilt from scratch per block (quadratic on a 100,000-node chain).
    /// </remarks>
    public static PaperCost Evaluate(ForwardDag dag, CanonicalStrategy strategy)
    {
        try { return checked(EvaluateChecked(dag, strategy)); }
        catch (OverflowException)
        {
            throw new GraphFormatException(dag.Graph.Source, "the paper's cost model",
                "a block's memory M(L) + 2·M(V) + M(A) + M(B) overflows 64 bits");
        }
    }

    private static PaperCost EvaluateChecked(ForwardDag dag, CanonicalStrategy strategy)
    {
        checked
        {
        int n = dag.Count;
        var inL = new bool[n];
        var predsInL = new int[n];   // for u outside L: inputs of u inside L (u ∈ A when above 0)
        var readersInA = new int[n]; // readers of p that are in A (p ∈ B when above 0 and p is outside L)
        long cached = 0, peak = 0, ma = 0, mb = 0;
        double overhead = 0;
        var block = new List<int>();
        foreach (var nodes in strategy.Blocks)
        {
            block.Clear();
            foreach (var node in nodes) block.Add(dag.IndexOf[node]);
            foreach (int i in block)
            {
                inL[i] = true;
                if (readersInA[i] > 0) mb -= dag.Bytes[i];
            }
            foreach (int i in block)
            {
                if (predsInL[i] > 0)
                {
                    // i leaves A: its inputs outside L may leave B.
                    ma -= dag.Bytes[i];
                    foreach (int p in dag.Pred[i])
                        if (--readersInA[p] == 0 && !inL[p]) mb -= dag.Bytes[p];
                }
                foreach (int u in dag.Succ[i])
                    if (!inL[u] && ++predsInL[u] == 1)
                    {
                        // u joins A: its inputs outside L join B.
                        ma += dag.Bytes[u];
                        foreach (int p in dag.Pred[u])
                            if (readersInA[p]++ == 0 && !inL[p]) mb += dag.Bytes[p];
                    }
            }
            long mv = 0, mBoundaryInBlock = 0;
            double tNonBoundary = 0;
            foreach (int i in block)
            {
                mv += dag.Bytes[i];
                bool boundary = false;
                foreach (int u in dag.Succ[i]) if (!inL[u]) { boundary = true; break; }
                if (boundary) mBoundaryInBlock += dag.Bytes[i]; else tNonBoundary += dag.Time[i];
            }
            peak = Math.Max(peak, cached + 2 * mv + ma + mb);
            cached += mBoundaryInBlock;
            overhead += tNonBoundary;
        }
        return new PaperCost(peak, overhead);
        }
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
