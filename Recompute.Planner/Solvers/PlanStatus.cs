namespace Recompute.Planner.Solvers;

/// <summary>
/// What a plan claims about itself, strongest first. <see cref="PlanStatusText.ToText"/> gives the words the JSON and
/// the tables print (<c>OPTIMAL</c>, <c>CANONICAL_OPTIMAL</c>, ...); <see cref="SolverResult.Claim"/> says in full
/// which schedules a claim covers.
/// </summary>
public enum PlanStatus
{
    /// <summary>
    /// Proven: a lower bound equals the plan's recomputation (gap 0) over the schedules the claim covers
    /// (<see cref="SolverResult.BoundSource"/>; a plan that recomputes nothing is optimal over every schedule).
    /// </summary>
    Optimal,
    /// <summary>
    /// Optimal among the canonical strategies of a DP's family (every lower set, or the ancestral ones) in the block
    /// model named by <see cref="SolverResult.Claim"/> (the paper's or the replayed one), not over every schedule: a
    /// general schedule (greedy, optimal) may cost less.
    /// </summary>
    CanonicalOptimal,
    /// <summary>A plan that fits, with no optimality claim (its gap says how far a bound is, when one is known).</summary>
    Feasible,
    /// <summary>No plan fits the budget.</summary>
    Infeasible,
    /// <summary>The solver does not apply to the problem (a canonical solver on a DAG without backward nodes).</summary>
    NotApplicable,
    /// <summary>The search ended without a plan and without a proof that none exists.</summary>
    Unknown,
}
