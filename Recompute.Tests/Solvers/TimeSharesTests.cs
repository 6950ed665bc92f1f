using Recompute.Planner.Solvers;

namespace Recompute.Tests.Solvers;

/// <summary>The shares of the time limit of auto and optimal are one record each, checked to add up.</summary>
public class TimeSharesTests
{
    [Fact]
    public void AutoAndOptimal_ShareTheWholeLimit()
    {
        foreach (var shares in new[] { TimeShares.Auto, TimeShares.Optimal })
            Assert.Equal(1, shares.ExactDp + shares.Search + shares.Bound, precision: 12);
        // auto: half for the exact DP, 0.3 for optimal's improvement, 0.2 for the bound.
        Assert.Equal((0.5, 0.3, 0.2), (TimeShares.Auto.ExactDp, TimeShares.Auto.Search, TimeShares.Auto.Bound));
        Assert.Equal(1.0 / 3, TimeShares.Optimal.RelaxationOfSearch);
    }

    [Theory]
    [InlineData(0.5, 0.5, 0.2, 0)] // 1.2 of the limit promised
    [InlineData(0.5, 0.2, 0.2, 0)] // 0.1 of it given to no phase
    [InlineData(-0.1, 0.9, 0.2, 0)]
    [InlineData(0.5, 0.3, 0.2, 1.5)]
    public void SharesThatDoNotAddUp_AreRefused(double exactDp, double search, double bound, double relaxation) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeShares(exactDp, search, bound, relaxation));
}
