using System.Globalization;

namespace Recompute.Planner.Units;

/// <summary>
/// Time units as a reader sees them. A graph records its unit as a short code (<c>ComputationGraph.TimeUnit</c>,
/// kept as is in JSON): "flop" (the FLOP model), "s" (measured seconds), "paper" (the 2019 paper's abstract unit),
/// "checkmate" (the costs a Checkmate/Moccasin file states, whose unit the file does not say). Printed, each is a
/// unit: FLOP with a prefix, seconds, paper units, cost units.
/// </summary>
public static class TimeUnits
{
    /// <summary>The unit's name in text: "FLOP", "s", "paper units", "cost units", or a native file's own word.</summary>
    public static string Name(string unit) => unit switch
    {
        "flop" => "FLOP",
        "s" => "s",
        "paper" => "paper units",
        "checkmate" => "cost units",
        _ => unit,
    };

    /// <summary>Where the unit comes from, one phrase ("FLOPs of the cost model", "seconds measured on this machine").</summary>
    public static string Describe(string unit) => unit switch
    {
        "flop" => "FLOP (the cost model's floating-point operations)",
        "s" => "seconds (a device profile, or measured)",
        "paper" => "paper units (the 2019 paper's costs: 10 per convolution, 1 otherwise)",
        "checkmate" => "cost units (as the Checkmate/Moccasin file states them)",
        _ => unit,
    };

    /// <summary>A time with its unit: "3.20 GFLOP", "0.125 s", "12.500 ms", "6725 cost units".</summary>
    public static string Format(double t, string unit) => unit switch
    {
        "flop" => t >= 1e12 ? Invariant($"{t / 1e12:0.00} TFLOP") : t >= 1e9 ? Invariant($"{t / 1e9:0.00} GFLOP")
            : t >= 1e6 ? Invariant($"{t / 1e6:0.00} MFLOP") : Invariant($"{t:0} FLOP"),
        // A device profile prices a GPU step in milliseconds and one kernel in microseconds: three digits of each.
        "s" => t == 0 || t >= 0.1 ? Invariant($"{t:0.000} s") : t >= 1e-3 ? Invariant($"{t * 1e3:0.000} ms") : Invariant($"{t * 1e6:0.000} µs"),
        // Past 10^15 a fixed-point figure is a wall of digits: scientific notation instead.
        _ => t >= 1e15 ? Invariant($"{t:0.###E+0} {Name(unit)}") : Invariant($"{t:0.###} {Name(unit)}"),
    };

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
