namespace Recompute.Planner.Solvers;

/// <summary>
/// What a searching solver has so far, reported while it runs (<see cref="SolverOptions.Progress"/>): the optimal
/// solver after its warm starts and at every better CP-SAT solution.
/// </summary>
/// <param name="Solver">The solver reporting.</param>
/// <param name="Source">Where the best plan so far comes from ("dp's plan", "CP-SAT solution 3").</param>
/// <param name="RecomputeTime">The recomputation of the best plan so far, in the graph's time unit.</param>
/// <param name="Gap">Its gap to the lower bound known now (relative to total compute, as <see cref="SolverResult.Gap"/>), when one is known.</param>
public readonly record struct SolverProgress(string Solver, string Source, double RecomputeTime, double? Gap);
