using System.Globalization;

namespace Recompute.Planner.Units;

/// <summary>
/// Parses and prints byte sizes: plain bytes ("1048576", "1048576B"), decimal units KB/MB/GB/TB (10^3 steps),
/// binary units KiB/MiB/GiB/TiB (2^10 steps), and percentages of a reference size ("40%" of the store-all peak).
/// Units are read case-insensitively ("2gib", "2gb"); a single letter K/M/G/T is binary ("2G" = 2 GiB), as in
/// <c>ls -h</c>, Docker and Java's <c>-Xmx</c>.
/// </summary>
public static class ByteSize
{
    private static readonly (string Suffix, decimal Factor)[] Units =
    [
        ("KiB", 1024m), ("MiB", 1024m * 1024), ("GiB", 1024m * 1024 * 1024), ("TiB", 1024m * 1024 * 1024 * 1024),
        ("KB", 1e3m), ("MB", 1e6m), ("GB", 1e9m), ("TB", 1e12m),
        ("K", 1024m), ("M", 1024m * 1024), ("G", 1024m * 1024 * 1024), ("T", 1024m * 1024 * 1024 * 1024), ("B", 1m),
    ];

    /// <summary>True when the text is a plain number without a unit ("40"): bytes, which a user may have meant as "40%".</summary>
    public static bool IsBareNumber(string text) =>
        decimal.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    /// <summary>True when the text is a percentage (needs a reference size to become bytes).</summary>
    public static bool IsPercentage(string text) => text.Trim().EndsWith('%');

    /// <summary>Parses a size; percentages are taken of <paramref name="percentOf"/>.</summary>
    /// <exception cref="FormatException">The text is not a size, is negative or zero, or is too large.</exception>
    public static long Parse(string text, long? percentOf = null)
    {
        var t = text.Trim();
        if (t.Length == 0) throw new FormatException("empty size");
        if (t.EndsWith('%'))
        {
            if (percentOf is null) throw new FormatException($"'{text}': a percentage needs a reference size");
            if (!decimal.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var pct))
                throw new FormatException($"'{text}' is not a percentage");
            if (pct <= 0) throw new FormatException($"'{text}': the size must be positive");
            return ToLong(text, Math.Floor(pct / 100m * percentOf.Value));
        }
        decimal factor = 1m;
        foreach (var (suffix, f) in Units)
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                factor = f;
                t = t[..^suffix.Length].TrimEnd();
                break;
            }
        if (t.Length == 0 || !decimal.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            throw new FormatException($"'{text}' is not a size (use bytes, KB/MB/GB, KiB/MiB/GiB or a percentage)");
        if (value <= 0) throw new FormatException($"'{text}': the size must be positive");
        decimal bytes;
        try { bytes = value * factor; }
        catch (OverflowException) { throw new FormatException($"'{text}' is too large"); }
        return ToLong(text, Math.Floor(bytes));
    }

    private static long ToLong(string text, decimal bytes)
    {
        if (bytes > long.MaxValue) throw new FormatException($"'{text}' is too large");
        if (bytes < 1) throw new FormatException($"'{text}' is less than one byte");
        return (long)bytes;
    }

    /// <summary>Readable binary size with three significant digits ("1.25 GiB").</summary>
    public static string Format(long bytes)
    {
        string[] names = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double v = bytes;
        int u = 0;
        while (Math.Abs(v) >= 1024 && u < names.Length - 1) { v /= 1024; u++; }
        if (u == 0) return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        return v.ToString(v >= 100 ? "0" : v >= 10 ? "0.0" : "0.00", CultureInfo.InvariantCulture) + " " + names[u];
    }
}
