
namespace Recompute.Planner.Graph;

/// <summary>
/// Collects the garbage of one pass before the next on very large DAGs. Each greedy pass and each member of auto
/// allocates arrays over every task (hundreds of MB at 2,000,000 tasks) that are garbage when it ends; the runtime
/// lets such large-object garbage pile up to several times the live heap before a full collection. A full collection
/// there costs well under a pass.
/// </summary>
internal static class LargeGraphMemory
{
    /// <summary>DAGs of at least this many tasks are collected between passes.</summary>
    public const int Tasks = 200_000;

    public static void Collect(TrainingGraph training)
    {
        if (training.Count >= Tasks) Collect();
    }

    /// <summary>After reading a graph of at least <see cref="Tasks"/> / 2 nodes (its JSON document is garbage then).</summary>
    public static void Collect(ComputationGraph graph)
    {
        if (graph.Count >= Tasks / 2) Collect();
    }

    private static void Collect() => GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
}
