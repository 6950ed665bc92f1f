using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Costs;

/// <summary>
/// Measured times per tensor, read from a JSON file that replaces the FLOP model (see docs/time-file.md):
/// <code>{ "unit": "s", "times": { "&lt;tensor name&gt;": 0.0012, ... }, "backwardTimes": { "&lt;tensor name&gt;": 0.0025, ... } }</code>
/// <c>times</c> are forward times. Keys are tensor names (an ONNX node's output) or, for ONNX graphs, ONNX node
/// names (the time then goes to the node's first output and its other outputs cost 0). Every planned tensor must
/// have a time; a key that names no tensor or node is an error too (a typo would otherwise silently keep a default).
/// The optional <c>backwardTimes</c> (written by <c>recompute calibrate</c>) give each tensor's backward task time
/// (computing the gradient of the tensor); when present every planned tensor needs one, when absent a backward
/// costs twice the forward. An optional <c>metadata</c> object (how the times were measured) is not read.
/// </summary>
public sealed class MeasuredTimes
{
    private static readonly HashSet<string> Fields = new(["unit", "times", "backwardTimes", "metadata"], StringComparer.Ordinal);

    private MeasuredTimes(string unit, IReadOnlyDictionary<string, double> times, IReadOnlyDictionary<string, double>? backwardTimes, string path)
    {
        Unit = unit; Times = times; BackwardTimes = backwardTimes; Path = path;
    }

    /// <summary>Time unit of the file ("s", "ms", ...), recorded as the graph's time unit.</summary>
    public string Unit { get; }
    /// <summary>Forward time per tensor (or ONNX node) name.</summary>
    public IReadOnlyDictionary<string, double> Times { get; }
    /// <summary>Backward task time per tensor name; null when the file has none.</summary>
    public IReadOnlyDictionary<string, double>? BackwardTimes { get; }
    public string Path { get; }

    /// <summary>Times measured in memory (keys are tensor names); <paramref name="source"/> names them in errors.</summary>
    public static MeasuredTimes Create(string unit, IReadOnlyDictionary<string, double> times,
        IReadOnlyDictionary<string, double>? backwardTimes, string source) =>
        new(unit, times, backwardTimes, source);

    /// <summary>Reads and validates a time file. Errors name the file and the entry.</summary>
    public static MeasuredTimes Load(string path)
    {
        var bytes = Files.InputFile.ReadAllBytes(path, Files.InputKind.TimeFile);
        int bom = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        string text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: false).GetString(bytes, bom, bytes.Length - bom);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 64 }); }
        catch (JsonException e)
        {
            throw new GraphFormatException(path, $"line {e.LineNumber + 1}",
                e.Message.Contains("uplicate propert", StringComparison.Ordinal) ? $"duplicate key: {e.Message}" : $"invalid JSON: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new GraphFormatException(path, null, $"invalid JSON: {e.Message.ReplaceLineEndings(" ")}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, null,
                "expected a JSON object with \"unit\" and \"times\"");
            foreach (var p in root.EnumerateObject())
                if (!Fields.Contains(p.Name))
                    throw new GraphFormatException(path, $"\"{p.Name}\"",
                        $"unknown field (expected {string.Join(", ", Fields.Select(f => $"\"{f}\""))})");
            string unit = "s";
            if (root.TryGetProperty("unit", out var u))
            {
                if (u.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(u.GetString())) throw new GraphFormatException(path,
                    "\"unit\"", "must be a non-empty string");
                unit = u.GetString()!;
            }
            if (!root.TryGetProperty("times", out var t) || t.ValueKind != JsonValueKind.Object)
                throw new GraphFormatException(path, "\"times\"", "missing: expected an object mapping tensor names to times");
            var times = ReadTimes(path, "times", t);
            Dictionary<string, double>? backward = null;
            if (root.TryGetProperty("backwardTimes", out var b))
            {
                if (b.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, "\"backwardTimes\"",
                    "must be an object mapping tensor names to times");
                backward = ReadTimes(path, "backwardTimes", b);
            }
            if (root.TryGetProperty("metadata", out var m) && m.ValueKind != JsonValueKind.Object)
                throw new GraphFormatException(path, "\"metadata\"", "must be an object");
            return new MeasuredTimes(unit, times, backward, path);
        }
    }

    private static Dictionary<string, double> ReadTimes(string path, string field, JsonElement obj)
    {
        var times = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in obj.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out double v) || double.IsNaN(v) || double.IsInfinity(v) || v < 0)
                throw new GraphFormatException(path, $"\"{field}\".\"{p.Name}\"", $"must be a non-negative number, got {p.Value.GetRawText()}");
            if (!times.TryAdd(p.Name, v)) throw new GraphFormatException(path, $"\"{field}\".\"{p.Name}\"", "duplicate key");
        }
        return times;
    }

    /// <summary>
    /// The graph with these times: keys are tensor names; every planned tensor needs a forward time (and a
    /// backward time when the file has <c>backwardTimes</c>); unknown names are errors naming the file and the key.
    /// </summary>
    public ComputationGraph Apply(ComputationGraph graph)
    {
        string graphName = graph.Source is { } s ? System.IO.Path.GetFileName(s) : graph.Name;
        foreach (var key in Times.Keys)
            if (!graph.TryFind(key, out _)) throw new GraphFormatException(Path, $"\"times\".\"{key}\"", $"names no tensor of {graphName}");
        if (BackwardTimes is not null)
        {
            if (graph.HasExplicitBackward) throw new GraphFormatException(Path, "\"backwardTimes\"",
                $"{graphName} has an explicit backward pass: give its backward nodes' times in \"times\"");
            foreach (var key in BackwardTimes.Keys)
            {
                if (!graph.TryFind(key, out int id)) throw new GraphFormatException(Path, $"\"backwardTimes\".\"{key}\"",
                    $"names no tensor of {graphName}");
                if (!graph[id].IsPlanned) throw new GraphFormatException(Path, $"\"backwardTimes\".\"{key}\"",
                    $"'{key}' is a {graph[id].Kind.ToString().ToLowerInvariant()} of {graphName}, which has no backward task");
            }
        }
        var nodes = ImmutableArray.CreateBuilder<Node>(graph.Count);
        foreach (var n in graph.Nodes)
        {
            double time = n.Time, backward = n.BackwardTime;
            if (n.IsPlanned)
            {
                if (!Times.TryGetValue(n.Name, out time))
                    throw new GraphFormatException(Path, null,
                        $"no time for tensor '{n.Name}' ({n.Op}) of {graphName}: every operation output needs one");
                backward = Node.DefaultBackwardTime(time);
                if (BackwardTimes is not null && !n.IsBackward && !BackwardTimes.TryGetValue(n.Name, out backward))
                    throw new GraphFormatException(Path, null,
                        $"no backward time for tensor '{n.Name}' ({n.Op}) of {graphName}: with \"backwardTimes\" every operation output needs one");
            }
            nodes.Add(n with { Time = time, BackwardTime = backward });
        }
        return new ComputationGraph(graph.Name, Unit, nodes.MoveToImmutable(), graph.Source);
    }

    /// <summary>
    /// Writes a time file (unit seconds) for the planned tensors of a graph: forward and backward times in graph
    /// order and an optional flat metadata object. Numbers use the shortest round-trip form, invariant culture.
    /// </summary>
    public static string Format(ComputationGraph graph, IReadOnlyList<double> forwardSeconds, IReadOnlyList<double> backwardSeconds,
        IReadOnlyList<KeyValuePair<string, string>>? metadata = null)
    {
        var sb = new StringBuilder();
        sb.Append("{\n  \"unit\": \"s\",\n");
        if (metadata is { Count: > 0 })
        {
            sb.Append("  \"metadata\": {");
            for (int i = 0; i < metadata.Count; i++)
                sb.Append(i == 0 ? "\n" : ",\n").Append("    ").Append(JsonSerializer.Serialize(metadata[i].Key)).Append(": ").Append(JsonSerializer.Serialize(metadata[i].Value));
            sb.Append("\n  },\n");
        }
        void Section(string name, IReadOnlyList<double> values, bool last)
        {
            sb.Append("  \"").Append(name).Append("\": {");
            bool first = true;
            foreach (var n in graph.Nodes)
            {
                if (!n.IsPlanned) continue;
                sb.Append(first ? "\n" : ",\n").Append("    ").Append(JsonSerializer.Serialize(n.Name)).Append(": ")
                    .Append(values[n.Id].ToString("R", CultureInfo.InvariantCulture));
                first = false;
            }
            sb.Append("\n  }").Append(last ? "\n" : ",\n");
        }
        Section("times", forwardSeconds, last: false);
        Section("backwardTimes", backwardSeconds, last: true);
        sb.Append("}\n");
        return sb.ToString();
    }
}
