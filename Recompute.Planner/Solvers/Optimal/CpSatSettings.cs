using System.Globalization;
using System.Text;
using Google.OrTools.Sat;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// The CP-SAT parameters the optimal solver sets, as typed values. The .NET wrapper of CP-SAT only accepts
/// parameters as protobuf text, and an unknown field in that text aborts the process natively; so the text is
/// built here from typed values with invariant culture, and every field name is checked against the
/// <see cref="SatParameters"/> descriptor first (a name missing from this OR-Tools version throws a managed
/// exception instead of aborting).
/// </summary>
/// <param name="TimeLimit">Wall-clock limit of the search (see <see cref="WorkLimited"/> for its deterministic one).</param>
/// <param name="Workers">Search workers (at least 1).</param>
/// <param name="Seed">Random seed of the search.</param>
/// <param name="LinearizationLevel">How much of the model goes into the linear relaxation (CP-SAT's 0, 1 or 2; 2 adds
/// the Boolean implications and gives stronger bounds at a higher cost per node).</param>
/// <remarks>
/// Reproducibility: with the same seed and worker count the search is deterministic (one worker is sequential;
/// several workers are interleaved deterministically with <c>interleave_search</c>), so a search that ends by
/// proof or by its deterministic time limit returns the same plan every time. A search cut by the wall-clock
/// limit or by cancellation returns whatever it had at that moment (<see cref="CutByWallClock"/> tells which).
/// </remarks>
/// <param name="Presolve">Whether CP-SAT presolves the model (slow on models with tens of thousands of variables).</param>
internal sealed record CpSatSettings(TimeSpan TimeLimit, int Workers, int Seed, int LinearizationLevel = 1, bool Presolve = true)
{
    /// <summary>
    /// When true, the search is limited as work: CP-SAT's deterministic time may reach
    /// <see cref="DeterministicRate"/> times <see cref="TimeLimit"/>, and the wall clock ends it only at
    /// <see cref="WallClockSafety"/> times <see cref="TimeLimit"/>. A search that ends by proof or by its deterministic
    /// limit returns the same result on any load; one the wall clock ended (<see cref="CutByWallClock"/>) does not, and
    /// work-limited callers set its result aside. When false, both limits equal <see cref="TimeLimit"/>.
    /// </summary>
    public bool WorkLimited { get; init; }

    /// <summary>
    /// Threads that run the <see cref="Workers"/> interleaved subsolvers (0: one per worker; at least 2, see
    /// <see cref="ToParameterText"/>). The subsolvers and the
    /// batch they are interleaved in are fixed by <see cref="Workers"/> alone, so the thread count changes how fast
    /// the search runs, never what it finds (<c>--threads 1</c>, <c>2</c> and <c>0</c> give the same plan).
    /// </summary>
    public int Threads { get; init; }

    /// <summary>
    /// Deterministic seconds a work-limited search may spend per second of <see cref="TimeLimit"/>. CP-SAT's
    /// deterministic clock runs at 0.01 (the cut relaxation's chain on GPT-2) to 0.6 (small single-cut models) of
    /// the wall clock on the 2-core reference machine, about 0.05 on the stage models of the shipped graphs: at this
    /// rate such a search ends by its work limit within half its time limit, and still does so on a machine five
    /// times slower or busier (<see cref="WallClockSafety"/>).
    /// </summary>
    public const double DeterministicPerSecond = 0.02;

    /// <summary>The deterministic rate of this search (default <see cref="DeterministicPerSecond"/>; a caller that
    /// knows its model runs faster, such as the cut relaxation over one cut, sets a higher one).</summary>
    public double DeterministicRate { get; init; } = DeterministicPerSecond;

    /// <summary>The wall-clock limit of a work-limited search, as a multiple of <see cref="TimeLimit"/> (plus <see
    /// cref="WallClockSlack"/>).</summary>
    public const double WallClockSafety = 2.5;

    /// <summary>
    /// Seconds added to a work-limited search's wall-clock limit: loading and presolving a model take a time of their
    /// own that does not shrink with a short limit, so at a fifth of a second (<c>--time-limit 1</c>) the multiple
    /// alone ended searches on a busy machine, and set aside, they made the plan differ between runs.
    /// </summary>
    public const double WallClockSlack = 1;

    private double LimitSeconds => Math.Max(0.05, TimeLimit.TotalSeconds);

    private double WallSeconds => WorkLimited ? LimitSeconds * WallClockSafety + WallClockSlack : LimitSeconds;

    private double DeterministicSeconds => WorkLimited ? LimitSeconds * DeterministicRate : LimitSeconds;

    /// <summary>The deterministic time a work-limited search may reach (its <c>max_deterministic_time</c>).</summary>
    public double DeterministicLimit => DeterministicSeconds;

    /// <summary>
    /// Whether the wall clock ended a work-limited search: it neither proved its answer nor reached its deterministic
    /// limit. Its solution and bound then depend on the machine's speed and load.
    /// </summary>
    public bool CutByWallClock(CpSolver solver, CpSolverStatus status) =>
        WorkLimited && status is not (CpSolverStatus.Optimal or CpSolverStatus.Infeasible or CpSolverStatus.ModelInvalid)
        && (solver.Response?.DeterministicTime ?? 0) < DeterministicSeconds;

    /// <summary>The threads CP-SAT searches on (its <c>num_workers</c>): see <see cref="ToParameterText"/>.</summary>
    public int SearchThreads => Workers > 1 ? Math.Max(2, Threads > 0 ? Threads : Workers) : 1;

    /// <summary>
    /// Runs <paramref name="solver"/> (made with this text) on <paramref name="model"/>; a command's stop counts the
    /// time its thread waits here as its own (<see cref="SolverWaits"/>).
    /// </summary>
    public CpSolverStatus Solve(CpSolver solver, CpModel model, SolutionCallback? callback = null)
    {
        using var wait = SolverWaits.Enter(SearchThreads);
        return solver.Solve(model, callback);
    }

    /// <summary>The parameter text passed to <see cref="CpSolver.StringParameters"/>.</summary>
    public string ToParameterText()
    {
        var fields = new List<(string Name, string Value)>
        {
            ("max_time_in_seconds", WallSeconds.ToString("R", CultureInfo.InvariantCulture)),
            ("max_deterministic_time", DeterministicSeconds.ToString("R", CultureInfo.InvariantCulture)),
            // CP-SAT runs its interleaved search only on two threads or more; on one it falls back to its sequential
            // search, which finds other plans of the same cost (ResNet-50 at 40 %): a search of several workers
            // therefore gets at least two threads, so that --threads 1 plans as --threads 2 does.
            ("num_workers", SearchThreads.ToString(CultureInfo.InvariantCulture)),
            ("random_seed", Seed.ToString(CultureInfo.InvariantCulture)),
            ("interleave_search", Workers > 1 ? "true" : "false"),
            // The subsolvers and the interleaving batch follow the logical workers, not the threads (CP-SAT derives
            // both from num_workers when they are 0).
            ("num_full_subsolvers", Math.Max(1, Workers).ToString(CultureInfo.InvariantCulture)),
            ("interleave_batch_size", Math.Max(1, Workers).ToString(CultureInfo.InvariantCulture)),
            ("linearization_level", Math.Clamp(LinearizationLevel, 0, 2).ToString(CultureInfo.InvariantCulture)),
            ("cp_model_presolve", Presolve ? "true" : "false"),
            ("log_search_progress", "false"),
            // CP-SAT otherwise installs its own SIGINT handler for the search, replacing the process's: Ctrl-C then
            // would only end the search early and the command would go on to write its schedule. The process's
            // handler cancels the command, and the cancellation stops the search (CpSolver.StopSearch).
            ("catch_sigint_signal", "false"),
        };
        var text = new StringBuilder();
        foreach (var (name, value) in fields)
        {
            if (SatParameters.Descriptor.FindFieldByName(name) is null)
                throw new InvalidOperationException($"this CP-SAT version has no parameter '{name}'");
            if (text.Length > 0) text.Append(' ');
            text.Append(name).Append(':').Append(value);
        }
        return text.ToString();
    }
}

/// <summary>CP-SAT's search: how many subsolvers it interleaves (what it finds) and on how many threads (how fast; 0: one per subsolver).</summary>
/// <param name="Logical">Interleaved subsolvers.</param>
/// <param name="Threads">Threads that run them.</param>
internal readonly record struct SearchWorkers(int Logical, int Threads);
