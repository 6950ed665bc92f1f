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
/// The settings of <see cref="SolverOptions"/> a solver may read beyond the budget, the objective and the pins, each
/// with its command-line option (<see cref="SolverKnobText"/>); a <see cref="SolverDescriptor"/> lists those its solver
/// reads, and <c>plan</c> says when one given on the command line does not affect the solver chosen.
/// </summary>
[Flags]
public enum SolverKnobs
{
    None = 0,

    /// <summary><see cref="SolverOptions.TimeLimit"/> (<c>--time-limit</c>): how long a searching solver searches.</summary>
    TimeLimit = 1,

    /// <summary><see cref="SolverOptions.Threads"/> (<c>--threads</c>): the DPs' parallel transitions, CP-SAT's workers.</summary>
    Threads = 2,

    /// <summary><see cref="SolverOptions.Seed"/> (<c>--seed</c>): the order search's and CP-SAT's random seed.</summary>
    Seed = 4,

    /// <summary><see cref="SolverOptions.MaxLowerSets"/> (<c>--max-lower-sets</c>): the exact DP's limit on lower sets.</summary>
    MaxLowerSets = 8,

    /// <summary><see cref="SolverOptions.TimeBuckets"/> (<c>--time-buckets</c>): the DPs' time resolution over real-valued costs.</summary>
    TimeBuckets = 16,
}

/// <summary>The command-line options of <see cref="SolverKnobs"/>.</summary>
public static class SolverKnobText
{
    /// <summary>Each knob with its option, in the order the help lists them.</summary>
    public static IReadOnlyList<(SolverKnobs Knob, string Option)> Options { get; } =
    [
        (SolverKnobs.TimeLimit, "--time-limit"), (SolverKnobs.Threads, "--threads"), (SolverKnobs.Seed, "--seed"),
        (SolverKnobs.MaxLowerSets, "--max-lower-sets"), (SolverKnobs.TimeBuckets, "--time-buckets"),
    ];

    /// <summary>The options of <paramref name="knobs"/>, comma-separated ("none" for no knob).</summary>
    public static string ToText(this SolverKnobs knobs)
    {
        var given = Options.Where(o => (knobs & o.Knob) != 0).Select(o => o.Option).ToList();
        return given.Count == 0 ? "none" : string.Join(", ", given);
    }
}

/// <summary>
/// A registered solver, described: its <c>--solver</c> name, the sentence the report and docs/cli.md say it with, what it
/// can do, how long it searches by default and how a report draws it. <see cref="SolverRegistry"/> holds one per
/// solver; adding a solver is its file and one entry there.
/// </summary>
/// <param name="Name">The name on the command line and in the JSON (<see cref="SolverName"/>).</param>
/// <param name="Sentence">What it is, lower case, ending with a full stop (the Solvers list of docs/cli.md starts each entry with it).</param>
/// <param name="Capabilities">What it can do and needs.</param>
/// <param name="Create">Makes a solver (solvers hold no state between calls, but a fresh one is cheap).</param>
public sealed record SolverDescriptor(string Name, string Sentence, SolverCapabilities Capabilities, Func<ISolver> Create)
{
    /// <summary>The settings it reads beyond the budget, the objective and the pins (a portfolio: those of its members).</summary>
    public SolverKnobs Knobs { get; init; }

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
