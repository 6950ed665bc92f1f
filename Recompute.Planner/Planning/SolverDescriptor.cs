using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>What a solver can do and what it needs: the registry, the command line, the sweep and the plots read these.</summary>
[Flags]
public enum SolverCapabilities
{
    None = 0,

    /// <summary>Plans canonical chains of lower sets, which the paper's cost model applies to; declines a DAG taken
    /// as given that has no backward tasks.</summary>
    Canonical = 1,

    /// <summary>Takes <see cref="Objective.Memory"/> (the coarsest chain that fits).</summary>
    MemoryObjective = 2,

    /// <summary>Searches until <see cref="SolverOptions.TimeLimit"/> by the wall clock: on the command line
    /// <c>--time-limit</c> bounds the whole command, reading the graph included.</summary>
    Searches = 4,

    /// <summary>A portfolio of the other solvers (auto): it spends its time limit as counted work, and a sweep runs it
    /// after them at each budget so that their plans are its candidates.</summary>
    Portfolio = 8,

    /// <summary>Needs module blocks (module paths in tensor names); a report draws it only when the graph has them.</summary>
    ModuleBlocks = 16,

    /// <summary>Enumerates every lower set; a report draws it only when the graph has few enough.</summary>
    EveryLowerSet = 32,

    /// <summary>Searches general schedules exactly (CP-SAT); a report draws it only on graphs of up to
    /// <see cref="Reporting.SweepOptions.OptimalTensorLimit"/> planned tensors.</summary>
    ExactSearch = 64,
}

/// <summary>
/// A registered solver, described: its <c>--solver</c> name, the sentence the report and the README say it with, what it
/// can do, how long it searches by default and how a report draws it. <see cref="SolverRegistry"/> holds one per
/// solver; adding a solver is its file and one entry there.
/// </summary>
/// <param name="Name">The name on the command line and in the JSON (<see cref="SolverName"/>).</param>
/// <param name="Sentence">What it is, lower case, ending with a full stop (the README's Solvers list starts each entry with it).</param>
/// <param name="Capabilities">What it can do and needs.</param>
/// <param name="Create">Makes a solver (solvers hold no state between calls, but a fresh one is cheap).</param>
public sealed record SolverDescriptor(string Name, string Sentence, SolverCapabilities Capabilities, Func<ISolver> Create)
{
    /// <summary>The time limit when none is given (<c>--time-limit</c>, <see cref="SolverOptions.TimeLimit"/>).</summary>
    public TimeSpan DefaultTimeLimit { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Drawn as a memory-vs-time curve (true) or as a point per plan (the baselines).</summary>
    public bool DrawnAsCurve { get; init; } = true;

    /// <summary>A report draws it when <c>--solvers</c> is not given (where the graph allows: see the capabilities).</summary>
    public bool InDefaultReport { get; init; } = true;

    /// <summary>The sentence of its memory-objective series in a report (<c>name/memory</c>), or null when it has none.</summary>
    public string? MemorySeriesSentence { get; init; }

    /// <summary>Its colour slot in the plots, the same whichever other series a report shows (the memory series takes the next).</summary>
    public int PlotSlot { get; init; }

    /// <summary>The name of its memory-objective series (<c>dp-approx/memory</c>), or null.</summary>
    public string? MemorySeriesName => MemorySeriesSentence is null ? null : $"{Name}/memory";

    /// <summary>Whether it has every one of <paramref name="capabilities"/>.</summary>
    public bool Can(SolverCapabilities capabilities) => (Capabilities & capabilities) == capabilities;
}
