namespace Recompute.Planner.Solvers;

/// <summary>
/// The greedy solver's settings, each with its default here. Its searches are counted work, not time, so these are
/// what makes a greedy plan the same on any machine; <see cref="SolverOptions.WorkFraction"/> scales the searches'
/// shares under a shorter time limit.
/// </summary>
internal sealed record GreedyOptions
{
    /// <summary>The defaults, as <c>--solver greedy</c> and auto's greedy member run.</summary>
    public static GreedyOptions Default { get; } = new();

    /// <summary>Work budget of one order search, in task-plus-edge visits (about a second on the 500-task graphs).</summary>
    public long OrderSearchWork { get; init; } = 600_000_000;

    /// <summary>Most moves of one order search (1000 per task below it).</summary>
    public int MaxOrderSearchMoves { get; init; } = 300_000;

    /// <summary>Rounds of the pin search at <see cref="SolverOptions.FullWorkLimit"/> (fewer under it).</summary>
    public int PinRounds { get; init; } = 40;

    /// <summary>Rounds of the pin search by rebuild cost (<c>GreedySolver.RebuildPinSearch</c>) at
    /// <see cref="SolverOptions.FullWorkLimit"/> (fewer under it).</summary>
    public int RebuildPinRounds { get; init; } = 20;

    /// <summary>
    /// Work of the pin search at <see cref="SolverOptions.FullWorkLimit"/>, in buffers visited by eviction scans
    /// (<see cref="WorkMeter"/>): about half a second; every round of U-Net or GPT-2, one round of a 5,000-wide
    /// fan-out (whose passes take 0.2–0.7 s each).
    /// </summary>
    public long PinWork { get; init; } = 150_000_000;

    /// <summary>Rounds of the pin chains (<c>GreedySolver.PinChains</c>) at <see cref="SolverOptions.FullWorkLimit"/>
    /// (fewer under it): each round ends with the cheapest plan of its chains as the plan to improve.</summary>
    public int PinChainRounds { get; init; } = 4;

    /// <summary>Chains per round: one from each of this many of the plan's largest recomputed buffers.</summary>
    public int PinChainStarts { get; init; } = 8;

    /// <summary>Chains of each round that start from the largest buffers by rebuild cost not among the
    /// <see cref="PinChainStarts"/> (see <see cref="GreedySolver.RebuildCosts"/>).</summary>
    public int PinChainRebuildStarts { get; init; } = 2;

    /// <summary>Most links (pins) of a chain.</summary>
    public int PinChainLength { get; init; } = 8;

    /// <summary>Rounds of the pin search run on each link's plan.</summary>
    public int PinChainSearchRounds { get; init; } = 6;

    /// <summary>A link's plan gets its pin search only when it costs less than this many times the best plan.</summary>
    public double PinChainSlack { get; init; } = 1.5;

    /// <summary>
    /// Work of the pin chains at <see cref="SolverOptions.FullWorkLimit"/>, in buffers visited by eviction scans
    /// (<see cref="WorkMeter"/>), as <see cref="PinWork"/>.
    /// </summary>
    public long PinChainWork { get; init; } = 150_000_000;

    /// <summary>
    /// On DAGs of more tasks than the exact-cost limit, how many runs back the eviction score counts the time of gone
    /// ancestors (a breadth-first walk; above it the cost is cut, which keeps a pass near-linear).
    /// </summary>
    public int LargeGraphCostDepth { get; init; } = 16;
}
