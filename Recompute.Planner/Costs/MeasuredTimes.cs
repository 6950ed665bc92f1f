using System.Text.Json;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Costs;

/// <summary>
/// Measured forward times per tensor, read from a JSON file that replaces the FLOP model:
/// <code>{ "unit": "s", "times": { "&lt;tensor name&gt;": 0.0012, ... } }</code>
/// Keys are tensor names (an ONNX node's output) or, for convenience, ONNX node names (the time then goes to the
/// node's first output and its other outputs cost 0). Every planned tensor must have a time; a key that names no
/// tensor or node is an error too (a typo would otherwise silently keep a default).
/// </summary>
public sealed class MeasuredTimes
{
    private MeasuredTimes(string unit, IReadOnlyDictionary<string, double> times, string path)
    {
        Unit = unit; Times = times; Path = path;
    }

    /// <summary>Time unit of the file ("s", "ms", ...), recorded as the graph's time unit.</summary>
    public string Unit { get; }
    public IReadOnlyDictionary<string, double> Times { get; }
    public string Path { get; }

    /// <summary>Reads and validates a time file. Errors name the file and the entry.</summary>
    public static MeasuredTimes Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new GraphFormatException(path, null, $"cannot read the time file: {e.Message}");
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e) { throw new GraphFormatException(path, $"line {e.LineNumber + 1}", $"invalid JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, null, "expected a JSON object with \"unit\" and \"times\"");
            string unit = "s";
            if (root.TryGetProperty("unit", out var u))
            {
                if (u.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(u.GetString())) throw new GraphFormatException(path, "\"unit\"", "must be a non-empty string");
                unit = u.GetString()!;
            }
            if (!root.TryGetProperty("times", out var t) || t.ValueKind != JsonValueKind.Object)
                throw new GraphFormatException(path, "\"times\"", "missing: expected an object mapping tensor names to times");
            var times = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var p in t.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out double v) || double.IsNaN(v) || double.IsInfinity(v) || v < 0)
                    throw new GraphFormatException(path, $"\"times\".\"{p.Name}\"", $"must be a non-negative number, got {p.Value.GetRawText()}");
                if (!times.TryAdd(p.Name, v)) throw new GraphFormatException(path, $"\"times\".\"{p.Name}\"", "duplicate key");
            }
            return new MeasuredTimes(unit, times, path);
        }
    }
}
