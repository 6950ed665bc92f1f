using System.Globalization;

namespace Recompute.Plots;

/// <summary>A binary byte unit for an axis, chosen so that the largest value reads between 1 and 1024.</summary>
public readonly record struct ByteAxis(string Unit, double Divisor)
{
    public static ByteAxis For(long maxBytes)
    {
        (string, double)[] units = [("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10)];
        foreach (var (name, div) in units)
            if (maxBytes >= div) return new ByteAxis(name, div);
        return new ByteAxis("B", 1);
    }

    public double Scale(long bytes) => bytes / Divisor;

    public string Format(double value) => value.ToString(value >= 100 ? "0" : value >= 10 ? "0.#" : "0.##", CultureInfo.InvariantCulture);
}
