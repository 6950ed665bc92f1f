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
/// <param name="TimeLimit">Wall-clock limit of the search.</param>
/// <param name="Workers">Search workers (at least 1).</param>
/// <param name="Seed">Random seed of the search.</param>
/// <param name="LinearizationLevel">How much of the model goes into the linear relaxation (CP-SAT's 0, 1 or 2; 2 adds
/// the Boolean implications and gives stronger bounds at a higher cost per node).</param>
/// <remarks>
/// Reproducibility: with the same seed and worker count the search is deterministic (one worker is sequential;
/// several workers are interleaved deterministically with <c>interleave_search</c>), so a search that ends by
/// proof or by its deterministic time limit returns the same plan every time. A search cut by the wall-clock
/// limit or by cancellation returns whatever it had at that moment.
/// </remarks>
/// <param name="Presolve">Whether CP-SAT presolves the model (slow on models with tens of thousands of variables).</param>
internal sealed record CpSatSettings(TimeSpan TimeLimit, int Workers, int Seed, int LinearizationLevel = 1, bool Presolve = true)
{
    /// <summary>The parameter text passed to <see cref="CpSolver.StringParameters"/>.</summary>
    /// <summary>
    /// The wall-clock limit as a multiple of <see cref="TimeLimit"/> (plus a second when above 1): 1 makes both limits
    /// equal (whichever comes first ends the search); above 1 the deterministic limit decides on a busy machine too,
    /// so the result does not depend on the load.
    /// </summary>
    public double WallClockFactor { get; init; } = 1;

    public string ToParameterText()
    {
        double seconds = Math.Max(0.05, TimeLimit.TotalSeconds);
        double wall = WallClockFactor > 1 ? seconds * WallClockFactor + 1 : seconds;
        var fields = new List<(string Name, string Value)>
        {
            ("max_time_in_seconds", wall.ToString("R", CultureInfo.InvariantCulture)),
            // A deterministic limit equal to the wall-clock one: on this machine it is usually reached first, so
            // a run cut by the limit is reproducible too.
            ("max_deterministic_time", seconds.ToString("R", CultureInfo.InvariantCulture)),
            ("num_workers", Math.Max(1, Workers).ToString(CultureInfo.InvariantCulture)),
            ("random_seed", Seed.ToString(CultureInfo.InvariantCulture)),
            ("interleave_search", Workers > 1 ? "true" : "false"),
            ("linearization_level", Math.Clamp(LinearizationLevel, 0, 2).ToString(CultureInfo.InvariantCulture)),
            ("cp_model_presolve", Presolve ? "true" : "false"),
            ("log_search_progress", "false"),
            // CP-SAT otherwise installs its own SIGINT handler for the search, replacing the process's: Ctrl-C then
            // only ended the search early and the command went on to write its schedule (issue 14). The process's
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
