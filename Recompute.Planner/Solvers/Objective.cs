namespace Recompute.Planner.Solvers;

/// <summary>What a time-centric or memory-centric solver optimises.</summary>
public enum Objective
{
    /// <summary>Least recomputation under the budget (time-centric).</summary>
    Time,
    /// <summary>Among chains under the budget, the coarsest one: most recomputation, least memory (memory-centric).</summary>
    Memory,
}
