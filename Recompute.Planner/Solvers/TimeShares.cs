namespace Recompute.Planner.Solvers;

/// <summary>
/// How a solver that searches divides <see cref="SolverOptions.TimeLimit"/> among its phases (<c>auto</c> and
/// <c>optimal</c>): shares of the whole limit, checked on construction to add up to 1, so that no phase is promised
/// time another one already has.
/// </summary>
public sealed record TimeShares
{
    /// <param name="exactDp">The exact DP (a portfolio member in <c>auto</c>, a warm start in <c>optimal</c>): it is
    /// quadratic in the number of lower sets, minutes on a 100-node layered graph.</param>
    /// <param name="search">The search for a better general schedule (the optimal solver's improvement in <c>auto</c>;
    /// CP-SAT in <c>optimal</c>, which also gets whatever the exact DP left of its share).</param>
    /// <param name="bound">The bound for every schedule (<c>GeneralBound</c>) proved for the plan at the end.</param>
    /// <param name="relaxationOfSearch">The part of the search's time left that the stage relaxation takes first on
    /// large stage models (<c>optimal</c>), where CP-SAT rarely bounds the exact model itself; 0: none.</param>
    /// <exception cref="ArgumentOutOfRangeException">A share outside [0, 1], or shares that do not add up to 1.</exception>
    public TimeShares(double exactDp, double search, double bound, double relaxationOfSearch = 0)
    {
        foreach (var (share, name) in new[] { (exactDp, nameof(exactDp)), (search, nameof(search)), (bound, nameof(bound)), (relaxationOfSearch, nameof(relaxationOfSearch)) })
            if (!(share >= 0 && share <= 1)) throw new ArgumentOutOfRangeException(name, share, "a share of the time limit is between 0 and 1");
        if (Math.Abs(exactDp + search + bound - 1) > 1e-9)
            throw new ArgumentOutOfRangeException(nameof(search), exactDp + search + bound, "the shares of the exact DP, the search and the bound add up to 1");
        (ExactDp, Search, Bound, RelaxationOfSearch) = (exactDp, search, bound, relaxationOfSearch);
    }

    /// <summary>Share of the limit the exact DP may take.</summary>
    public double ExactDp { get; }

    /// <summary>Share of the limit the search for a better general schedule gets.</summary>
    public double Search { get; }

    /// <summary>Share of the limit the bound for every schedule gets at the end.</summary>
    public double Bound { get; }

    /// <summary>Part of the search's time left that the stage relaxation takes first (optimal, on large models).</summary>
    public double RelaxationOfSearch { get; }

    /// <summary>
    /// <c>auto</c>'s: half for the exact DP (GoogLeNet's 27,358 lower sets need about 30 s), 0.3 for the optimal
    /// solver's improvement and 0.2 for the bound, all as counted work so the same input gives the same plan anywhere.
    /// </summary>
    public static TimeShares Auto { get; } = new(exactDp: 0.5, search: 0.3, bound: 0.2);

    /// <summary>
    /// <c>optimal</c>'s: the exact DP's warm start within half the limit, the bound 0.2 at the end, CP-SAT the rest,
    /// of which the relaxation takes a third first when it runs.
    /// </summary>
    public static TimeShares Optimal { get; } = new(exactDp: 0.5, search: 0.3, bound: 0.2, relaxationOfSearch: 1.0 / 3);
}
