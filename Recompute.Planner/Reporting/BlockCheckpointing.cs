using System.Collections.Immutable;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Reporting;

/// <summary>
/// Per-block checkpointing, what most PyTorch users write by hand (<c>torch.utils.checkpoint</c> around each
/// layer): keep the output of every module block, recompute the inside of a block during its backward.
/// Blocks come from the module paths in tensor names ("/layer1/layer1.0/conv1/Conv_output_0" belongs to
/// "/layer1/layer1.0"); a cut is placed at the last articulation tensor of each block (a tensor that alone
/// separates what comes before from what comes after), so every kept output is a valid checkpoint.
/// </summary>
public static class BlockCheckpointing
{
    /// <summary>The per-block strategy, or null when tensor names carry no module hierarchy with at least two blocks.</summary>
    public static CanonicalStrategy? Strategy(ForwardDag dag)
    {
        var names = dag.NodeOf.Select(n => dag.Graph[n].Name).ToArray();
        var candidates = ChenSolver.ArticulationCandidates(dag);
        if (candidates.Count == 0) return null;
        // The deepest module level at which blocks hold four tensors or more on average: layers, not single ops.
        for (int depth = 4; depth >= 1; depth--)
        {
            var keys = names.Select(n => ModulePrefix(n, depth)).ToArray();
            int runs = 0;
            for (int i = 0; i < keys.Length; i++)
                if (keys[i] is not null && (i == 0 || keys[i] != keys[i - 1])) runs++;
            if (runs < 2 || runs * 4 > keys.Length) continue;
            var cuts = new List<ulong[]>();
            // The last articulation candidate inside each run of one key closes that block.
            for (int c = 0; c < candidates.Count; c++)
            {
                int v = candidates[c].Node; // a forward-DAG index
                string? key = keys[v];
                if (key is null) continue;
                bool lastOfBlock = c + 1 == candidates.Count || keys[candidates[c + 1].Node] != key;
                if (lastOfBlock) cuts.Add(candidates[c].Set);
            }
            if (cuts.Count < 2) continue;
            return Chain(dag, cuts);
        }
        return null;
    }

    /// <summary>The first <paramref name="depth"/> module names of a tensor name, or null when it has fewer.</summary>
    internal static string? ModulePrefix(string name, int depth)
    {
        char sep = name.Contains('/') ? '/' : '.';
        var parts = name.Split(sep, StringSplitOptions.RemoveEmptyEntries);
        // The last part names the operation or output, not a module.
        if (parts.Length - 1 < depth) return null;
        return string.Join(sep, parts.Take(depth));
    }

    private static CanonicalStrategy Chain(ForwardDag dag, List<ulong[]> cuts)
    {
        var full = dag.NewSet();
        for (int v = 0; v < dag.Count; v++) ForwardDag.Add(full, v);
        var blocks = ImmutableArray.CreateBuilder<ImmutableArray<int>>();
        var prev = dag.NewSet();
        foreach (var cut in cuts.Append(full))
        {
            var block = ForwardDag.Members(cut).Where(v => !ForwardDag.Contains(prev, v)).Select(v => dag.NodeOf[v]).ToImmutableArray();
            if (block.Length == 0) continue;
            blocks.Add(block);
            prev = cut;
        }
        return new CanonicalStrategy(blocks.ToImmutable());
    }
}
