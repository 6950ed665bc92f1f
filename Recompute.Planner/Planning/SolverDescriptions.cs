using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>
/// One sentence per solver (and per report series) saying what it is: the report prints them beside its tables, and
/// the README's Solvers list starts each entry with the same sentence (a test holds the two together).
/// </summary>
internal static class SolverDescriptions
{
    private static readonly Dictionary<string, string> Sentences = new(StringComparer.Ordinal)
    {
        [AutoPortfolio.Name] = "the best simulated plan of a portfolio: store-all where it fits, otherwise the best of chen, per-block, the DPs and greedy, improved by optimal for the time left.",
        [SolverName.StoreAll] = "keep every activation until backward reads it: no recomputation, the most memory.",
        [SolverName.PerBlock] = "keep each module block's output and recompute inside the block during its backward (what torch.utils.checkpoint around every layer does).",
        [SolverName.Chen] = "√n checkpoints at articulation points, or Chen's greedy variant when √n does not fit.",
        [SolverName.DpApprox] = "the paper's DP over the |V|+1 ancestor-closed lower sets (on graphs of more than 2,000 tensors, every k-th of them, and the chain found is refined by simulation).",
        ["dp-approx/memory"] = "dp-approx with the memory objective: among the chains that fit, the coarsest one, which needs the least memory and recomputes the most.",
        [SolverName.Dp] = "the exact DP over all lower sets.",
        [SolverName.Greedy] = "general rematerialization by a greedy pass (DTR-like eviction with the known future, recursive recomputation) over good first-run orders (an annealing search over topological orders), and told by the cut relaxation which buffers to drop at the forward/backward boundary; any DAG, seconds at most, no bound.",
        [SolverName.Optimal] = "the best of greedy and the DPs, improved by CP-SAT over general schedules, with a lower bound and gap.",
    };

    /// <summary>Every name with a sentence, in the order the README lists them.</summary>
    public static IReadOnlyList<string> Names => Sentences.Keys.ToList();

    /// <summary>The sentence for a solver or report series (lower case, ending with a full stop); null for an unknown name.</summary>
    public static string? Of(string name) => Sentences.GetValueOrDefault(name);
}
