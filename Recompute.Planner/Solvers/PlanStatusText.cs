namespace Recompute.Planner.Solvers;

/// <summary>The words of <see cref="PlanStatus"/> in JSON and tables.</summary>
public static class PlanStatusText
{
    /// <summary>OPTIMAL, CANONICAL_OPTIMAL, FEASIBLE, INFEASIBLE, NOT_APPLICABLE or UNKNOWN.</summary>
    public static string ToText(this PlanStatus status) => status switch
    {
        PlanStatus.Optimal => "OPTIMAL",
        PlanStatus.CanonicalOptimal => "CANONICAL_OPTIMAL",
        PlanStatus.Feasible => "FEASIBLE",
        PlanStatus.Infeasible => "INFEASIBLE",
        PlanStatus.NotApplicable => "NOT_APPLICABLE",
        PlanStatus.Unknown => "UNKNOWN",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}
