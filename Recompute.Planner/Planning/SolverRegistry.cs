using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>The solvers available by name (<c>--solver</c>), each with its <see cref="SolverDescriptor"/>.</summary>
public static class SolverRegistry
{
    private static readonly List<SolverDescriptor> All =
    [
        new(AutoPortfolio.Name,
            "the best simulated plan of a portfolio: store-all where it fits, otherwise the best of chen, per-block, the DPs and greedy, improved by optimal for the time left.",
            SolverCapabilities.Portfolio, () => new AutoSolver())
        {
            DefaultTimeLimit = AutoPortfolio.DefaultTimeLimit, PlotSlot = 8,
            Knobs = SolverKnobs.TimeLimit | SolverKnobs.Threads | SolverKnobs.Seed | SolverKnobs.MaxLowerSets | SolverKnobs.TimeBuckets,
        },
        new(SolverName.StoreAll, "keep every activation until backward reads it: no recomputation, the most memory.",
            SolverCapabilities.Canonical, () => new StoreAllSolver()) { DrawnAsCurve = false, PlotSlot = 0 },
        new(SolverName.PerBlock,
            "keep each module block's output and recompute inside the block during its backward (what torch.utils.checkpoint around every layer does).",
            SolverCapabilities.Canonical | SolverCapabilities.ModuleBlocks, () => new PerBlockSolver()) { DrawnAsCurve = false, PlotSlot = 1 },
        new(SolverName.Chen, "√n checkpoints at articulation points, or Chen's greedy variant when √n does not fit.",
            SolverCapabilities.Canonical, () => new ChenSolver()) { DrawnAsCurve = false, PlotSlot = 2 },
        new(SolverName.DpApprox,
            "the paper's DP over the |V|+1 ancestor-closed lower sets (on graphs of more than 2,000 tensors, every k-th of them, and the chain found is refined by simulation).",
            SolverCapabilities.Canonical | SolverCapabilities.MemoryObjective, () => new DpApproxSolver())
        {
            PlotSlot = 3,
            Knobs = SolverKnobs.Threads | SolverKnobs.TimeBuckets,
            MemorySeriesSentence = "dp-approx with the memory objective: among the chains that fit, the coarsest one, which needs the least memory and recomputes the most.",
        },
        new(SolverName.Dp, "the exact DP over all lower sets.",
            SolverCapabilities.Canonical | SolverCapabilities.MemoryObjective | SolverCapabilities.EveryLowerSet, () => new DpSolver())
        { PlotSlot = 5, Knobs = SolverKnobs.Threads | SolverKnobs.TimeBuckets | SolverKnobs.MaxLowerSets },
        new(SolverName.Greedy,
            "general rematerialization by a greedy pass (DTR-like eviction with the known future, recursive recomputation) over good first-run orders (an annealing search over topological orders), told by the cut relaxation which buffers to drop at the forward/backward boundary, then forbidden its costliest recomputations one by one while that is cheaper; any DAG, seconds at most, no bound.",
            SolverCapabilities.Searches, () => new GreedySolver())
        { PlotSlot = 7, InDefaultReport = false, Knobs = SolverKnobs.TimeLimit | SolverKnobs.Threads | SolverKnobs.Seed },
        new(SolverName.Optimal, "the best of greedy and the DPs, improved by CP-SAT over general schedules, with a lower bound and gap.",
            SolverCapabilities.Searches | SolverCapabilities.ExactSearch, () => new Solvers.Optimal.OptimalSolver(PlannerPlanSource.Instance))
        {
            // Its warm starts include the DPs' plans: their knobs are its knobs.
            PlotSlot = 6, Knobs = SolverKnobs.TimeLimit | SolverKnobs.Threads | SolverKnobs.Seed | SolverKnobs.MaxLowerSets | SolverKnobs.TimeBuckets,
        },
    ];

    /// <summary>Every solver, in the order the help lists them (auto first).</summary>
    public static IReadOnlyList<SolverDescriptor> Descriptors => All;

    /// <summary>Solver names in the order the help lists them.</summary>
    public static IReadOnlyList<string> Names => All.Select(d => d.Name).ToList();

    public static bool Exists(string name) => All.Exists(d => d.Name == name);

    /// <summary>The solver's descriptor.</summary>
    /// <exception cref="ArgumentException">No solver has that name.</exception>
    public static SolverDescriptor Describe(string name) => All.Find(d => d.Name == name)
        ?? throw new ArgumentException($"unknown solver '{name}'; solvers: {string.Join(", ", Names)}");

    /// <exception cref="ArgumentException">No solver has that name.</exception>
    public static ISolver Create(string name) => Describe(name).Create();

    /// <summary>
    /// The order a sweep runs and draws them in: the solvers in registry order, each followed by its memory-objective
    /// series, then the portfolios (which take the others' plans at the same budget as candidates).
    /// </summary>
    public static IReadOnlyList<SolverDescriptor> SweepOrder =>
        [.. All.Where(d => !d.Can(SolverCapabilities.Portfolio)), .. All.Where(d => d.Can(SolverCapabilities.Portfolio))];

    /// <summary>The colour slot of a report series (a solver or its memory series), or null for a name no solver has.</summary>
    public static int? PlotSlot(string series) =>
        All.Find(d => d.Name == series) is { } d ? d.PlotSlot : All.Find(d => d.MemorySeriesName == series) is { } m ? m.PlotSlot + 1 : null;

    /// <summary>Adds a solver, or replaces the one of the same name.</summary>
    public static void Register(SolverDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        int at = All.FindIndex(d => d.Name == descriptor.Name);
        if (at >= 0) All[at] = descriptor;
        else All.Add(descriptor);
    }

    /// <summary>Removes the solver of that name, if any (a test that registered one for its own duration).</summary>
    internal static bool Unregister(string name) => All.RemoveAll(d => d.Name == name) > 0;

    /// <summary>Adds a solver with no sentence and no capabilities (<see cref="Register(SolverDescriptor)"/> says more).</summary>
    public static void Register(string name, Func<ISolver> factory) =>
        Register(new SolverDescriptor(name, "", SolverCapabilities.None, factory) { PlotSlot = All.Count + 1 });
}
