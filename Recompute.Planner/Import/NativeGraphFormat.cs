using System.Globalization;
using System.Text;
using System.Text.Json;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Import;

/// <summary>
/// The project's own graph file format, <c>{"format": "recompute-graph", "version": 1, ...}</c>, documented in
/// <c>docs/graph-format.md</c>. Writing is canonical: nodes in the graph's topological order, fields in a fixed
/// order, optional fields only when they differ from their defaults, attributes sorted by key, numbers in invariant
/// shortest round-trip form. So <c>Write(Read(Write(g)))</c> is byte-identical to <c>Write(g)</c>.
/// </summary>
public static class NativeGraphFormat
{
    /// <summary>Value of the <c>format</c> field.</summary>
    public const string FormatName = "recompute-graph";

    /// <summary>The version this code writes; it reads versions 1 to <see cref="Version"/>.</summary>
    public const int Version = 1;

    private static readonly string[] NodeFields =
        ["name", "op", "kind", "inputs", "bytes", "time", "backwardTime", "shape", "dtype", "outputIndex", "attributes", "backwardNeeds",
            "backwardNeedsOutput", "savedByRule", "backward", "forwardOf"];

    private static readonly string[] TopFields = ["format", "version", "name", "timeUnit", "nodes"];

    // ---------------------------------------------------------------- reading

    /// <summary>Loads a native graph file.</summary>
    public static ComputationGraph Load(string path)
    {
        using var doc = JsonFields.ParseFile(path, Files.InputKind.JsonGraph);
        return Read(doc.RootElement, path);
    }

    /// <summary>Parses native graph JSON text; <paramref name="source"/> names it in errors.</summary>
    public static ComputationGraph Parse(string json, string? source = null)
    {
        using var doc = JsonFields.Parse(Encoding.UTF8.GetBytes(json), source);
        return Read(doc.RootElement, source);
    }

    /// <summary>True when a parsed JSON document declares itself a native graph (<c>"format": "recompute-graph"</c>).</summary>
    public static bool IsNative(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("format", out var f) &&
        f.ValueKind == JsonValueKind.String && f.GetString() == FormatName;

    /// <summary>Builds the graph from a parsed native document.</summary>
    public static ComputationGraph Read(JsonElement root, string? source)
    {
        JsonFields.Object(root, "the document", source);
        var format = JsonFields.String(JsonFields.Required(root, "format", "the document", source), "format", source);
        if (format != FormatName) JsonFields.Fail(source, "format", $"expected \"{FormatName}\", found \"{JsonFields.Shorten(format)}\"");
        long version = JsonFields.Long(JsonFields.Required(root, "version", "the document", source), "version", source);
        if (version < 1 || version > Version)
            JsonFields.Fail(source, "version",
                $"version {version.ToString(CultureInfo.InvariantCulture)} is not supported (this program reads version 1 to {Version.ToString(CultureInfo.InvariantCulture)})");
        RejectUnknown(root, TopFields, "the document", source);
        string name = JsonFields.String(JsonFields.Required(root, "name", "the document", source), "name", source);
        string timeUnit = root.TryGetProperty("timeUnit", out var tu) ? JsonFields.String(tu, "timeUnit", source) : "unit";
        var nodes = JsonFields.Array(JsonFields.Required(root, "nodes", "the document", source), "nodes", source);

        var builder = new GraphBuilder(name, timeUnit, source);
        var specs = new List<(string Where, JsonElement Node, string[] Inputs, string? ForwardOf)>();
        int index = 0;
        foreach (var n in nodes.EnumerateArray())
        {
            string where = $"nodes[{index.ToString(CultureInfo.InvariantCulture)}]";
            JsonFields.Object(n, where, source);
            RejectUnknown(n, NodeFields, where, source);
            string nodeName = JsonFields.String(JsonFields.Required(n, "name", where, source), new Place(where, "name"), source);
            if (nodeName.Length == 0) JsonFields.Fail(source, new Place(where, "name"), "empty name");
            where = $"{where} ('{JsonFields.Shorten(nodeName)}')";
            if (builder.TryGetId(nodeName, out int other))
                JsonFields.Fail(source, where, $"duplicate name (also nodes[{other.ToString(CultureInfo.InvariantCulture)}])");
            string op = JsonFields.String(JsonFields.Required(n, "op", where, source), new Place(where, "op"), source);
            var kind = ParseKind(JsonFields.String(JsonFields.Required(n, "kind", where, source), new Place(where, "kind"), source),
                new Place(where, "kind"), source);
            string[] inputs = n.TryGetProperty("inputs", out var ins)
                ? JsonFields.Array(ins, new Place(where, "inputs"), source).EnumerateArray()
                    .Select((e, k) => JsonFields.String(e, new Place(where, "inputs", k), source)).ToArray()
                : [];
            long bytes = JsonFields.Bytes(JsonFields.Required(n, "bytes", where, source), new Place(where, "bytes"), source);
            double time = n.TryGetProperty("time", out var t) ? JsonFields.Time(t, new Place(where, "time"), source) : 0;
            double? backwardTime = n.TryGetProperty("backwardTime", out var bt) ? JsonFields.Time(bt, new Place(where, "backwardTime"),
                source) : null;
            long[] shape = n.TryGetProperty("shape", out var sh)
                ? JsonFields.Array(sh, new Place(where, "shape"), source).EnumerateArray()
                    .Select((e, k) => JsonFields.Long(e, new Place(where, "shape", k), source)).ToArray()
                : [];
            string dtype = n.TryGetProperty("dtype", out var dt) ? JsonFields.String(dt, new Place(where, "dtype"), source) : "float32";
            long outputIndex = n.TryGetProperty("outputIndex", out var oi) ? JsonFields.Long(oi, new Place(where, "outputIndex"), source) : 0;
            if (outputIndex is < 0 or > int.MaxValue) JsonFields.Fail(source, new Place(where, "outputIndex"), "must be between 0 and 2^31-1");
            Dictionary<string, object>? attributes = n.TryGetProperty("attributes", out var at) ? ReadAttributes(at, new Place(where,
                "attributes"), source) : null;
            int[]? needs = null;
            if (n.TryGetProperty("backwardNeeds", out var bn))
                needs = JsonFields.Array(bn, new Place(where, "backwardNeeds"), source).EnumerateArray().Select((e, k) =>
                {
                    var w = new Place(where, "backwardNeeds", k);
                    long v = JsonFields.Long(e, w, source);
                    if (v < 0 || v >= inputs.Length) JsonFields.Fail(source, w,
                        $"operand #{v.ToString(CultureInfo.InvariantCulture)} does not exist: the node has {inputs.Length.ToString(CultureInfo.InvariantCulture)} inputs");
                    return (int)v;
                }).ToArray();
            bool backward = n.TryGetProperty("backward", out var b) && JsonFields.Bool(b, new Place(where, "backward"), source);
            bool needsOutput = n.TryGetProperty("backwardNeedsOutput", out var bno) && JsonFields.Bool(bno, new Place(where,
                "backwardNeedsOutput"), source);
            bool savedByRule = n.TryGetProperty("savedByRule", out var sbr) && JsonFields.Bool(sbr, new Place(where, "savedByRule"), source);
            string? forwardOf = n.TryGetProperty("forwardOf", out var fo) ? JsonFields.String(fo, new Place(where, "forwardOf"), source) : null;
            builder.Add(new NodeSpec(nodeName, op, kind)
            {
                Bytes = bytes, Time = time, BackwardTime = backwardTime, Shape = shape, DType = dtype,
                OutputIndex = (int)outputIndex, Attributes = attributes, BackwardNeeds = needs, IsBackward = backward,
                BackwardNeedsOutput = needsOutput, SavedByRule = savedByRule,
            });
            specs.Add((where, n, inputs, forwardOf));
            index++;
        }
        for (int id = 0; id < specs.Count; id++)
        {
            var (where, _, inputs, forwardOf) = specs[id];
            var resolved = new int[inputs.Length];
            for (int k = 0; k < inputs.Length; k++)
            {
                if (!builder.TryGetId(inputs[k], out resolved[k]))
                    JsonFields.Fail(source, new Place(where, "inputs", k),
                        $"refers to '{JsonFields.Shorten(inputs[k])}', which is not a node of the graph");
                if (resolved[k] == id) JsonFields.Fail(source, new Place(where, "inputs", k), "the node reads itself (self-loop)");
            }
            int fwd = -1;
            if (forwardOf is not null && !builder.TryGetId(forwardOf, out fwd))
                JsonFields.Fail(source, new Place(where, "forwardOf"),
                    $"refers to '{JsonFields.Shorten(forwardOf)}', which is not a node of the graph");
            builder.Replace(id, builder[id] with { Inputs = resolved, ForwardOf = fwd });
        }
        return PaperGraphImporter.BuildGraph(builder, source);
    }

    private static void RejectUnknown(JsonElement obj, string[] known, Place where, string? source)
    {
        // Known field sets are small (at most 14): a bit mask finds repeats without allocating.
        int seen = 0;
        foreach (var p in obj.EnumerateObject())
        {
            int k = Array.IndexOf(known, p.Name);
            if (k < 0) JsonFields.Fail(source, where, $"unknown field '{JsonFields.Shorten(p.Name)}'");
            if ((seen & (1 << k)) != 0) JsonFields.Fail(source, where, $"field '{p.Name}' appears twice");
            seen |= 1 << k;
        }
    }

    private static NodeKind ParseKind(string s, Place where, string? source) => s switch
    {
        "input" => NodeKind.Input,
        "parameter" => NodeKind.Parameter,
        "constant" => NodeKind.Constant,
        "activation" => NodeKind.Activation,
        "loss" => NodeKind.Loss,
        _ => JsonFields.Fail<NodeKind>(source, where,
            $"unknown kind '{JsonFields.Shorten(s)}' (expected input, parameter, constant, activation or loss)"),
    };

    private static string KindName(NodeKind k) => k switch
    {
        NodeKind.Input => "input",
        NodeKind.Parameter => "parameter",
        NodeKind.Constant => "constant",
        NodeKind.Activation => "activation",
        NodeKind.Loss => "loss",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    /// <summary>
    /// Attribute values: integer → long, other number → double, string → string, true/false → bool, array of
    /// integers → long[], array of numbers → double[], array of strings → string[]; the tagged form <c>{"type": T, "value": V}</c> carries the
    /// values plain JSON cannot: "float[]", and doubles that are not finite or are integral ("double").
    /// </summary>
    private static Dictionary<string, object> ReadAttributes(JsonElement e, Place place, string? source)
    {
        string where = place.Text!;
        JsonFields.Object(e, where, source);
        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            string w = where + "." + JsonFields.Shorten(p.Name);
            if (!result.TryAdd(p.Name, ReadAttribute(p.Value, w, source))) JsonFields.Fail(source, w, "attribute appears twice");
        }
        return result;
    }

    private static object ReadAttribute(JsonElement v, string where, string? source)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.String: return v.GetString()!;
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Number:
                return IsIntegerLiteral(v) ? (object)JsonFields.Long(v, where, source) : FiniteDouble(v, where, source);
            case JsonValueKind.Array:
                var items = v.EnumerateArray().ToArray();
                if (items.Length == 0) return Array.Empty<long>();
                if (items.All(IsIntegerLiteral))
                    return items.Select((x, k) => JsonFields.Long(x, new Place(where, null, k), source)).ToArray();
                if (items[0].ValueKind == JsonValueKind.String)
                    return items.Select((x, k) => JsonFields.String(x, new Place(where, null, k), source)).ToArray();
                return items.Select((x, k) => FiniteDouble(x, new Place(where, null, k), source)).ToArray();
            case JsonValueKind.Object:
                var type = JsonFields.String(JsonFields.Required(v, "type", where, source), new Place(where, "type"), source);
                var value = JsonFields.Required(v, "value", where, source);
                RejectUnknown(v, ["type", "value"], where, source);
                return type switch
                {
                    "double" => TaggedDouble(value, new Place(where, "value"), source),
                    "float[]" => JsonFields.Array(value, new Place(where, "value"), source).EnumerateArray()
                        .Select((x, k) => (float)TaggedDouble(x, new Place(where, "value", k), source)).ToArray(),
                    "double[]" => JsonFields.Array(value, new Place(where, "value"), source).EnumerateArray()
                        .Select((x, k) => TaggedDouble(x, new Place(where, "value", k), source)).ToArray(),
                    _ => JsonFields.Fail<object>(source, new Place(where, "type"),
                        $"unknown attribute type '{JsonFields.Shorten(type)}' (expected double, double[] or float[])"),
                };
            default:
                return JsonFields.Fail<object>(source, where, $"an attribute cannot be {JsonFields.Kind(v)}");
        }
    }

    private static bool IsIntegerLiteral(JsonElement v) =>
        v.ValueKind == JsonValueKind.Number && v.GetRawText().AsSpan().IndexOfAny(".eE") < 0;

    private static double FiniteDouble(JsonElement v, Place where, string? source)
    {
        if (v.ValueKind != JsonValueKind.Number) JsonFields.Fail(source, where, $"must be a number, found {JsonFields.Kind(v)}");
        if (!v.TryGetDouble(out double d) || !double.IsFinite(d)) JsonFields.Fail(source, where,
            $"{JsonFields.Shorten(v.GetRawText())} is not a finite number");
        return d;
    }

    private static double TaggedDouble(JsonElement v, Place where, string? source)
    {
        if (v.ValueKind == JsonValueKind.String)
            return v.GetString() switch
            {
                "NaN" => double.NaN,
                "Infinity" => double.PositiveInfinity,
                "-Infinity" => double.NegativeInfinity,
                var s => JsonFields.Fail<double>(source, where,
                    $"expected a number, \"NaN\", \"Infinity\" or \"-Infinity\", found \"{JsonFields.Shorten(s ?? "")}\""),
            };
        return FiniteDouble(v, where, source);
    }

    // ---------------------------------------------------------------- writing

    /// <summary>Writes a graph to a file: to a temporary file first, then renamed, so the file is complete or absent.</summary>
    public static void Save(ComputationGraph graph, string path)
    {
        using var ms = new MemoryStream();
        Write(graph, ms);
        Recompute.Planner.Files.AtomicFile.WriteAllBytes(path, ms.GetBuffer().AsSpan(0, (int)ms.Length));
    }

    /// <summary>The canonical text of a graph (UTF-8 JSON, one node per line, '\n' line ends, final newline).</summary>
    public static string ToJson(ComputationGraph graph)
    {
        using var ms = new MemoryStream();
        Write(graph, ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>
    /// Writes the canonical text of a graph to a stream: the header fields one per line, then one node per line
    /// (compact JSON), so that files diff well and large graphs stay readable.
    /// </summary>
    public static void Write(ComputationGraph graph, Stream stream)
    {
        var options = new JsonWriterOptions
        {
            Indented = false,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        using var buffer = new MemoryStream();
        void Raw(string s) => buffer.Write(Encoding.UTF8.GetBytes(s));
        void Json(Action<Utf8JsonWriter> write)
        {
            using var w = new Utf8JsonWriter(buffer, options);
            write(w);
        }
        Raw("{\n  \"format\": ");
        Json(w => w.WriteStringValue(FormatName));
        Raw(",\n  \"version\": " + Version.ToString(CultureInfo.InvariantCulture) + ",\n  \"name\": ");
        Json(w => w.WriteStringValue(graph.Name));
        Raw(",\n  \"timeUnit\": ");
        Json(w => w.WriteStringValue(graph.TimeUnit));
        Raw(",\n  \"nodes\": [");
        for (int i = 0; i < graph.Count; i++)
        {
            Raw(i == 0 ? "\n    " : ",\n    ");
            var n = graph[i];
            Json(w => WriteNode(w, graph, n));
        }
        Raw(graph.Count > 0 ? "\n  ]\n}\n" : "]\n}\n");
        buffer.Position = 0;
        buffer.CopyTo(stream);
    }

    private static void WriteNode(Utf8JsonWriter w, ComputationGraph g, Node n)
    {
        w.WriteStartObject();
        w.WriteString("name", n.Name);
        w.WriteString("op", n.Op);
        w.WriteString("kind", KindName(n.Kind));
        w.WriteStartArray("inputs");
        foreach (var p in n.Inputs) w.WriteStringValue(g[p].Name);
        w.WriteEndArray();
        w.WriteNumber("bytes", n.Bytes);
        w.WritePropertyName("time");
        w.WriteRawValue(Number(n.Time));
        if (n.BackwardTime != Node.DefaultBackwardTime(n.Time))
        {
            w.WritePropertyName("backwardTime");
            w.WriteRawValue(Number(n.BackwardTime));
        }
        if (n.Shape.Length > 0)
        {
            w.WriteStartArray("shape");
            foreach (var d in n.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
        }
        if (n.DType != "float32") w.WriteString("dtype", n.DType);
        if (n.OutputIndex != 0) w.WriteNumber("outputIndex", n.OutputIndex);
        if (n.Attributes.Count > 0)
        {
            w.WriteStartObject("attributes");
            foreach (var (key, value) in n.Attributes) // sorted (ordinal) by the graph
            {
                w.WritePropertyName(key);
                WriteAttribute(w, key, value);
            }
            w.WriteEndObject();
        }
        if (!IsAllOperands(n))
        {
            w.WriteStartArray("backwardNeeds");
            foreach (var k in n.BackwardNeeds) w.WriteNumberValue(k);
            w.WriteEndArray();
        }
        if (n.BackwardNeedsOutput) w.WriteBoolean("backwardNeedsOutput", true);
        if (n.SavedByRule) w.WriteBoolean("savedByRule", true);
        if (n.IsBackward) w.WriteBoolean("backward", true);
        if (n.ForwardOf >= 0) w.WriteString("forwardOf", g[n.ForwardOf].Name);
        w.WriteEndObject();
    }

    private static bool IsAllOperands(Node n)
    {
        if (n.BackwardNeeds.Length != n.Inputs.Length) return false;
        for (int k = 0; k < n.BackwardNeeds.Length; k++) if (n.BackwardNeeds[k] != k) return false;
        return true;
    }

    private static void WriteAttribute(Utf8JsonWriter w, string key, object value)
    {
        switch (value)
        {
            case string s: w.WriteStringValue(s); break;
            case bool b: w.WriteBooleanValue(b); break;
            case long l: w.WriteNumberValue(l); break;
            case int i: w.WriteNumberValue(i); break;
            case double d: WriteDouble(w, d); break;
            case float f: WriteDouble(w, f); break;
            case long[] ls:
                w.WriteStartArray();
                foreach (var x in ls) w.WriteNumberValue(x);
                w.WriteEndArray();
                break;
            case int[] ints:
                w.WriteStartArray();
                foreach (var x in ints) w.WriteNumberValue(x);
                w.WriteEndArray();
                break;
            case double[] ds:
                if (ds.Length > 0 && ds.All(x => double.IsFinite(x) && x != Math.Truncate(x)))
                {
                    w.WriteStartArray();
                    foreach (var x in ds) w.WriteRawValue(Number(x));
                    w.WriteEndArray();
                }
                else WriteTagged(w, "double[]", ds);
                break;
            case float[] fs: WriteTagged(w, "float[]", fs.Select(x => (double)x).ToArray()); break;
            case string[] ss:
                w.WriteStartArray();
                foreach (var x in ss) w.WriteStringValue(x);
                w.WriteEndArray();
                break;
            default:
                throw new ArgumentException($"attribute '{key}' has a value of type {value.GetType().Name}, which the graph format cannot store", nameof(value));
        }
    }

    private static void WriteDouble(Utf8JsonWriter w, double d)
    {
        // A plain number with no '.' or exponent reads back as a long: integral and non-finite doubles are tagged.
        if (double.IsFinite(d) && d != Math.Truncate(d)) w.WriteRawValue(Number(d));
        else WriteTagged(w, "double", [d]);
    }

    private static void WriteTagged(Utf8JsonWriter w, string type, double[] values)
    {
        w.WriteStartObject();
        w.WriteString("type", type);
        w.WritePropertyName("value");
        if (type == "double")
            WriteTaggedNumber(w, values[0]);
        else
        {
            w.WriteStartArray();
            foreach (var x in values) WriteTaggedNumber(w, x);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void WriteTaggedNumber(Utf8JsonWriter w, double x)
    {
        if (double.IsNaN(x)) w.WriteStringValue("NaN");
        else if (double.IsPositiveInfinity(x)) w.WriteStringValue("Infinity");
        else if (double.IsNegativeInfinity(x)) w.WriteStringValue("-Infinity");
        else w.WriteRawValue(Number(x));
    }

    /// <summary>Shortest round-trip invariant text of a finite double ("10", "0.5", "1E+300").</summary>
    private static string Number(double d)
    {
        if (!double.IsFinite(d)) throw new ArgumentException($"cannot write the non-finite number {d.ToString(CultureInfo.InvariantCulture)}");
        if (d == 0) return "0"; // also -0
        return d.ToString("R", CultureInfo.InvariantCulture);
    }
}
