namespace Recompute.Planner.Solvers;

/// <summary>A recomputation strategy finder. One implementation per file, all behind this interface.</summary>
public interface ISolver
{
    /// <summary>Name used on the command line (<c>--solver</c>).</summary>
    string Name { get; }

    /// <summary>True when results are canonical chains that the paper's cost model applies to.</summary>
    bool IsCanonical { get; }

    SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default);
}
