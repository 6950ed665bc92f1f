using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>
/// Per-block checkpointing, what most PyTorch users write by hand (<c>torch.utils.checkpoint</c> around each
/// layer): keep the output of every module block, recompute the inside of a block during its backward.
/// Blocks come from the module paths in tensor names ("/net/layer1/layer1.0/conv1/Conv_output_0" belongs to
/// "/net/layer1/layer1.0"). The level is the one whose modules are numbered children of a list ("layer1.0",
/// "h.11"), as checkpointed layers are; without numbered modules, the level with about √n blocks.
/// Block i ends at the lower set L_i = L_{i-1} ∪ ancestors(last tensor of block i), plus the tensors nobody reads
/// whose inputs are all inside (BatchNorm's running statistics), so the chain is increasing and every cut is valid.
/// </summary>
internal static partial class BlockCheckpointing
{
    /// <summary>The per-block strategy, or null when tensor names carry no module hierarchy with at least two blocks.</summary>
    public static CanonicalStrategy? Strategy(ForwardDag dag)
    {
        var names = dag.NodeOf.Select(n => dag.Graph[n].Name).ToArray();
        int? depth = ChooseDepth(names);
        if (depth is null) return null;
        var keys = names.Select(n => ModulePrefix(n, depth.Value)).ToArray();

        // The last tensor of each block that something reads (a block's output).
        var ends = new List<int>();
        for (int v = 0; v < dag.Count; v++)
        {
            if (keys[v] is null || dag.Succ[v].Length == 0) continue;
            if (ends.Count > 0 && keys[ends[^1]] == keys[v]) ends[^1] = v;
            else ends.Add(v);
        }
        if (ends.Count < 2) return null;

        var cuts = new List<ulong[]>();
        var current = dag.NewSet();
        foreach (int v in ends)
        {
            var next = (ulong[])current.Clone();
            var closure = dag.AncestorClosure(v);
            for (int w = 0; w < next.Length; w++) next[w] |= closure[w];
            AddDeadEnds(dag, next);
            if (next.AsSpan().SequenceEqual(current)) continue;
            cuts.Add(next);
            current = next;
        }
        return cuts.Count < 2 ? null : Chain(dag, cuts);
    }

    /// <summary>The module level blocks are taken at, or null when names have no usable hierarchy.</summary>
    public static int? ChooseDepth(string[] names)
    {
        int n = names.Length;
        int? best = null;
        int bestNumbered = 1;
        for (int depth = 1; depth <= 5; depth++)
        {
            var numbered = names.Select(x => ModulePrefix(x, depth)).Where(k => k is not null && NumberedModule().IsMatch(k)).Distinct().Count();
            // Numbered single operations (VGG's "features.0", "features.1") are not layers: blocks hold three tensors or more.
            if (numbered > bestNumbered && numbered * 3 <= n) { best = depth; bestNumbered = numbered; }
        }
        if (best is not null) return best;
        double target = Math.Sqrt(n), bestDistance = double.MaxValue;
        for (int depth = 1; depth <= 5; depth++)
        {
            var keys = names.Select(x => ModulePrefix(x, depth)).ToArray();
            int runs = 0;
            for (int i = 0; i < keys.Length; i++)
                if (keys[i] is not null && (i == 0 || keys[i] != keys[i - 1])) runs++;
            if (runs < 2 || runs * 2 > n) continue;
            double distance = Math.Abs(Math.Log(runs / target));
            if (distance < bestDistance) { best = depth; bestDistance = distance; }
        }
        return best;
    }

    [GeneratedRegex(@"\.[0-9]+$")]
    private static partial Regex NumberedModule();

    /// <summary>The first <paramref name="depth"/> module names of a tensor name, or null when it has fewer.</summary>
    internal static string? ModulePrefix(string name, int depth)
    {
        char sep = name.Contains('/') ? '/' : '.';
        var parts = name.Split(sep, StringSplitOptions.RemoveEmptyEntries);
        // The last part names the operation or output, not a module.
        if (parts.Length - 1 < depth) return null;
        return (name.StartsWith(sep) ? sep.ToString() : "") + string.Join(sep, parts.Take(depth));
    }

    /// <summary>Adds tensors without readers whose inputs are all in the set (they would otherwise pin their inputs).</summary>
    private static void AddDeadEnds(ForwardDag dag, ulong[] set)
    {
        for (int v = 0; v < dag.Count; v++)
            if (!ForwardDag.Contains(set, v) && dag.Succ[v].Length == 0 && dag.Pred[v].Length > 0
                && dag.Pred[v].All(p => ForwardDag.Contains(set, p)))
                ForwardDag.Add(set, v);
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
