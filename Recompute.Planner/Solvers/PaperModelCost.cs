namespace Recompute.Planner.Solvers;

/// <summary>
/// A canonical strategy's cost in the paper's model (Kusumoto et al. 2019), kept bit for bit so that results compare
/// with the paper's code: set together or not at all (<see cref="SolverResult.PaperModel"/>).
/// </summary>
/// <param name="PeakBytes">The paper's memory bound of the chain: max over its blocks of 2·M(V') + M(A') + M(B').</param>
/// <param name="RecomputeTime">T(L₁…L_k) = Σᵢ T(Vᵢ \ ∂(Lᵢ)), in the graph's time unit (the paper's "overhead"; JSON
/// <c>paperModelOverhead</c>).</param>
public sealed record PaperModelCost(long PeakBytes, double RecomputeTime);
