using System.Collections.Immutable;

namespace Recompute.Planner.Graph;

/// <summary>
/// A canonical strategy (Kusumoto et al. 2019): an increasing chain of lower sets of the forward graph, given by
/// its increments V_1..V_k (graph node ids of planned forward tensors, each block in topological order). The
/// canonical solvers produce it and <c>Lowering</c> turns it into a schedule; it lives beside the graph so that
/// scheduling needs nothing from the solvers.
/// </summary>
public sealed record CanonicalStrategy(ImmutableArray<ImmutableArray<int>> Blocks)
{
    /// <summary>Every tensor its own block: every tensor with a reader is a checkpoint (the store-all strategy).</summary>
    internal static CanonicalStrategy EveryTensor(ForwardDag dag) =>
        new(dag.NodeOf.Select(n => ImmutableArray.Create(n)).ToImmutableArray());
}
