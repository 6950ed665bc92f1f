namespace Recompute.Planner.Solvers;

/// <summary>The chen solver's settings, each with its default here (<see cref="ChenSolver.Options"/>).</summary>
internal sealed record ChenOptions
{
    /// <summary>The defaults, as <c>--solver chen</c> runs.</summary>
    public static ChenOptions Default { get; } = new();

    /// <summary>
    /// Most segment sizes the greedy variant tries (evenly spaced among the candidates' sizes past it): each try is
    /// O(|V| + |E|), and a long chain has as many candidates as tensors.
    /// </summary>
    public int MaxGreedySizes { get; init; } = 512;

    /// <summary>Most segment sizes whose schedules are lowered and simulated when none fits the paper model.</summary>
    public int MaxSimulatedSizes { get; init; } = 64;
}
