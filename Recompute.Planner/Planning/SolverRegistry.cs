using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>The solvers available by name (<c>--solver</c>).</summary>
public static class SolverRegistry
{
    private static readonly Dictionary<string, Func<ISolver>> Factories = new(StringComparer.Ordinal)
    {
        [AutoPortfolio.Name] = () => new AutoSolver(),
        [SolverName.StoreAll] = () => new StoreAllSolver(),
        [SolverName.PerBlock] = () => new PerBlockSolver(),
        [SolverName.Chen] = () => new ChenSolver(),
        [SolverName.DpApprox] = () => new DpApproxSolver(),
        [SolverName.Dp] = () => new DpSolver(),
        [SolverName.Greedy] = () => new GreedySolver(),
        [SolverName.Optimal] = () => new Solvers.Optimal.OptimalSolver(PlannerPlanSource.Instance),
    };

    /// <summary>Solver names in the order the help lists them.</summary>
    public static IReadOnlyList<string> Names => Factories.Keys.ToList();

    public static bool Exists(string name) => Factories.ContainsKey(name);

    /// <exception cref="ArgumentException">No solver has that name.</exception>
    public static ISolver Create(string name) => Factories.TryGetValue(name, out var f)
        ? f()
        : throw new ArgumentException($"unknown solver '{name}'; solvers: {string.Join(", ", Factories.Keys)}");

    /// <summary>Adds a solver (the optimal solver registers itself here).</summary>
    public static void Register(string name, Func<ISolver> factory) => Factories[name] = factory;
}
