using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>How the canonical DPs size a block.</summary>
public enum BlockCostModel
{
    /// <summary>The paper's bound 2·M(V') + M(A') + M(B'), bit for bit (compares with the paper's code).</summary>
    Paper,
    /// <summary>The peak of the block's part of the emitted schedule, replayed (<c>LivenessBlockCost</c>).</summary>
    Liveness,
}
