using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Recompute.Planner.Graph;
using Recompute.Planner.Files;

namespace Recompute.Planner.Scheduling;

/// <summary>
/// The schedule file (<c>-o schedule.json</c>), read back by <c>recompute simulate</c>:
/// <code>
/// {
///   "format": "recompute-schedule",
///   "version": 1,
///   "graph": "resnet50",
///   "graphFingerprint": "sha256:…",
///   "solver": "dp",
///   "budgetBytes": 1266000000,
///   "metadata": { "peakBytes": 1203000000 },
///   "steps": [
///     {"step": "compute", "tensor": "conv1"},
///     …
///   ]
/// }
/// </code>
/// Step names are <see cref="Step.KindName"/>. A schedule with offload, prefetch or wait steps is written as version 2,
/// which adds <c>"hostLink": {"bytesPerSecond": …, "latencySeconds": …}</c> (the link the transfers are timed on, with
/// <c>"blocking": true</c> when its copies hold the step, as on the CPU) and
/// <c>"hostBudgetBytes"</c> (null: no limit) after <c>budgetBytes</c>; any other schedule stays version 1, byte for byte
/// as before. Both versions are read. Tensors are <see cref="TrainingTask.Name"/>s. The fingerprint is a
/// hash of the training graph's tasks (names, kinds, bytes, inputs), so a schedule is never replayed on a graph it
/// was not made for. Output is deterministic: fixed field order, metadata sorted by key, invariant numbers.
/// </summary>
public static class ScheduleFormat
{
    /// <summary>Value of the <c>format</c> field.</summary>
    public const string FormatName = "recompute-schedule";

    /// <summary>The version of schedules without transfer steps.</summary>
    public const int Version = 1;

    /// <summary>The version of schedules with offload, prefetch or wait steps (the newest this code reads).</summary>
    public const int TransferVersion = 2;

    private static readonly string[] TopFields = ["format", "version", "graph", "graphFingerprint", "solver", "budgetBytes", "hostLink", "hostBudgetBytes", "metadata", "steps"];

    private static readonly JsonSerializerOptions StringOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// A stable hash of the tasks of a training graph: their order, names, kinds, bytes and inputs
    /// ("sha256:" and 32 hex digits). Times are left out, so re-profiling a graph keeps its schedules valid.
    /// </summary>
    public static string Fingerprint(TrainingGraph training)
    {
        var sb = new StringBuilder();
        sb.Append("recompute-tasks/1\n");
        foreach (var t in training.Tasks)
        {
            sb.Append(t.Name.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(t.Name)
              .Append('\t').Append(t.Kind == TaskKind.Forward ? 'F' : 'B')
              .Append('\t').Append(t.Bytes.ToString(CultureInfo.InvariantCulture)).Append('\t');
            for (int k = 0; k < t.Inputs.Length; k++)
            {
                if (k > 0) sb.Append(',');
                sb.Append(t.Inputs[k].ToString(CultureInfo.InvariantCulture));
            }
            sb.Append('\n');
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()));
        return "sha256:" + Convert.ToHexStringLower(hash, 0, 16);
    }

    // ---------------------------------------------------------------- writing

    /// <summary>
    /// Writes a schedule to a file atomically: into a temporary file in the same folder, then renamed over
    /// <paramref name="path"/>. A failure (or a kill) leaves either the complete file or no new file.
    /// </summary>
    /// <param name="metadata">Extra fields written under <c>metadata</c> (string, integer, double, bool or null values), sorted by key.</param>
    public static void Write(Schedule schedule, string path, IReadOnlyDictionary<string, object?>? metadata = null) =>
        Recompute.Planner.Files.AtomicFile.WriteStreamed(path, w => WriteTo(schedule, w, metadata));

    /// <summary>Writes a schedule to a text writer (stdout, a string).</summary>
    public static void Write(Schedule schedule, TextWriter writer, IReadOnlyDictionary<string, object?>? metadata = null) =>
        WriteTo(schedule, writer, metadata);

    /// <summary>The schedule's file text: '\n' line ends, one step per line, final newline.</summary>
    public static string ToJson(Schedule schedule, IReadOnlyDictionary<string, object?>? metadata = null)
    {
        using var w = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        WriteTo(schedule, w, metadata);
        return w.ToString();
    }

    /// <summary>Streams the file text (a schedule of millions of steps is hundreds of MB: never one string).</summary>
    private static void WriteTo(Schedule schedule, TextWriter sb, IReadOnlyDictionary<string, object?>? metadata)
    {
        var tg = schedule.Training;
        sb.Append("{\n");
        sb.Append("  \"format\": ").Append(Str(FormatName)).Append(",\n");
        bool transfers = schedule.HasTransfers;
        sb.Append("  \"version\": ").Append((transfers ? TransferVersion : Version).ToString(CultureInfo.InvariantCulture)).Append(",\n");
        sb.Append("  \"graph\": ").Append(Str(tg.Graph.Name)).Append(",\n");
        sb.Append("  \"graphFingerprint\": ").Append(Str(Fingerprint(tg))).Append(",\n");
        sb.Append("  \"solver\": ").Append(Str(schedule.Solver)).Append(",\n");
        sb.Append("  \"budgetBytes\": ").Append(schedule.BudgetBytes is { } b ? b.ToString(CultureInfo.InvariantCulture) : "null").Append(",\n");
        if (transfers)
        {
            var link = schedule.Link ?? throw new ArgumentException("a schedule with transfer steps needs a host link", nameof(schedule));
            sb.Append("  \"hostLink\": {\"bytesPerSecond\": ").Append(Value("bytesPerSecond", link.BytesPerSecond))
              .Append(", \"latencySeconds\": ").Append(Value("latencySeconds", link.LatencySeconds))
              .Append(link.Blocking ? ", \"blocking\": true" : "").Append("},\n");
            sb.Append("  \"hostBudgetBytes\": ").Append(schedule.HostBudgetBytes is { } h ? h.ToString(CultureInfo.InvariantCulture) : "null").Append(",\n");
        }
        if (metadata is { Count: > 0 })
        {
            sb.Append("  \"metadata\": {");
            bool first = true;
            foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                sb.Append(first ? "\n" : ",\n");
                first = false;
                sb.Append("    ").Append(Str(key)).Append(": ").Append(Value(key, value));
            }
            sb.Append("\n  },\n");
        }
        sb.Append("  \"steps\": [");
        for (int i = 0; i < schedule.Steps.Length; i++)
        {
            var step = schedule.Steps[i];
            if (step.Task < 0 || step.Task >= tg.Count)
                throw new ArgumentException($"step {i.ToString(CultureInfo.InvariantCulture)} refers to task #{step.Task.ToString(CultureInfo.InvariantCulture)}, which does not exist", nameof(schedule));
            sb.Append(i == 0 ? "\n" : ",\n");
            sb.Append("    {\"step\": ").Append(Str(Step.KindName(step.Kind))).Append(", \"tensor\": ").Append(Str(tg.Tasks[step.Task].Name)).Append('}');
        }
        sb.Write(schedule.Steps.Length > 0 ? "\n  ]\n" : "]\n");
        sb.Write("}\n");
    }

    private static string Str(string s) => JsonSerializer.Serialize(s, StringOptions);

    private static TextWriter Append(this TextWriter w, string s)
    {
        w.Write(s);
        return w;
    }

    private static TextWriter Append(this TextWriter w, char c)
    {
        w.Write(c);
        return w;
    }

    private static string Value(string key, object? value) => value switch
    {
        null => "null",
        string s => Str(s),
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "null",
        float f => double.IsFinite(f) ? ((double)f).ToString("R", CultureInfo.InvariantCulture) : "null",
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        _ => throw new ArgumentException($"metadata '{key}' has a value of type {value.GetType().Name}; use a string, number, bool or null", nameof(value)),
    };

    // ---------------------------------------------------------------- reading

    /// <summary>
    /// Reads a schedule file for a training graph. Throws <see cref="GraphFormatException"/> naming the file and the
    /// place (<c>steps[12]</c>) for malformed JSON, an unknown step kind, a tensor that is not a task of the graph,
    /// or a fingerprint that does not match the graph. The steps themselves are validated by <see cref="Simulator"/>.
    /// </summary>
    public static Schedule Read(string path, TrainingGraph training)
    {
        using var doc = JsonFields.ParseFile(path, Files.InputKind.ScheduleFor(training));
        return Read(doc.RootElement, training, path);
    }

    /// <summary>Parses schedule JSON text; <paramref name="source"/> names it in errors.</summary>
    public static Schedule Parse(string json, TrainingGraph training, string? source = null)
    {
        using var doc = JsonFields.Parse(Encoding.UTF8.GetBytes(json), source);
        return Read(doc.RootElement, training, source);
    }

    private static Schedule Read(JsonElement root, TrainingGraph training, string? source)
    {
        JsonFields.Object(root, "the document", source);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in root.EnumerateObject())
        {
            if (Array.IndexOf(TopFields, p.Name) < 0) JsonFields.Fail(source, "the document", $"unknown field '{JsonFields.Shorten(p.Name)}'");
            if (!seen.Add(p.Name)) JsonFields.Fail(source, "the document", $"field '{p.Name}' appears twice");
        }
        var format = JsonFields.String(JsonFields.Required(root, "format", "the document", source), "format", source);
        if (format != FormatName) JsonFields.Fail(source, "format", $"expected \"{FormatName}\", found \"{JsonFields.Shorten(format)}\"");
        long version = JsonFields.Long(JsonFields.Required(root, "version", "the document", source), "version", source);
        if (version is not (Version or TransferVersion))
            JsonFields.Fail(source, "version", $"version {version.ToString(CultureInfo.InvariantCulture)} is not supported (this program reads versions {Version.ToString(CultureInfo.InvariantCulture)} and {TransferVersion.ToString(CultureInfo.InvariantCulture)})");
        if (version == Version)
            foreach (var name in (ReadOnlySpan<string>)["hostLink", "hostBudgetBytes"])
                if (root.TryGetProperty(name, out _)) JsonFields.Fail(source, name, $"'{name}' belongs to version {TransferVersion.ToString(CultureInfo.InvariantCulture)} schedules (this one says version {Version.ToString(CultureInfo.InvariantCulture)})");
        Devices.HostLink? hostLink = null;
        long? hostBudget = null;
        if (root.TryGetProperty("hostLink", out var hl) && hl.ValueKind != JsonValueKind.Null) hostLink = ReadLink(hl, source);
        if (root.TryGetProperty("hostBudgetBytes", out var hb) && hb.ValueKind != JsonValueKind.Null)
            hostBudget = JsonFields.Bytes(hb, "hostBudgetBytes", source);
        string graphName = root.TryGetProperty("graph", out var gn) ? JsonFields.String(gn, "graph", source) : "";
        var fingerprint = JsonFields.String(JsonFields.Required(root, "graphFingerprint", "the document", source), "graphFingerprint", source);
        string expected = Fingerprint(training);
        if (fingerprint != expected)
            JsonFields.Fail(source, "graphFingerprint", $"the schedule was made for a different graph ('{JsonFields.Shorten(graphName)}', {JsonFields.Shorten(fingerprint)}) " +
                $"than '{JsonFields.Shorten(training.Graph.Name)}' ({expected}): its tasks, sizes or edges differ");
        string solver = root.TryGetProperty("solver", out var sv) ? JsonFields.String(sv, "solver", source) : "file";
        long? budget = null;
        if (root.TryGetProperty("budgetBytes", out var bb) && bb.ValueKind != JsonValueKind.Null)
            budget = JsonFields.Bytes(bb, "budgetBytes", source);
        if (root.TryGetProperty("metadata", out var md)) JsonFields.Object(md, "metadata", source);

        var byName = new Dictionary<string, int>(training.Count, StringComparer.Ordinal);
        var ambiguous = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in training.Tasks)
            if (!byName.TryAdd(t.Name, t.Id)) ambiguous.Add(t.Name);

        var steps = JsonFields.Array(JsonFields.Required(root, "steps", "the document", source), "steps", source);
        var result = ImmutableArray.CreateBuilder<Step>(steps.GetArrayLength());
        int i = 0;
        foreach (var s in steps.EnumerateArray())
        {
            string where = $"steps[{i.ToString(CultureInfo.InvariantCulture)}]";
            JsonFields.Object(s, where, source);
            foreach (var p in s.EnumerateObject())
                if (p.Name is not ("step" or "tensor")) JsonFields.Fail(source, where, $"unknown field '{JsonFields.Shorten(p.Name)}'");
            string kindName = JsonFields.String(JsonFields.Required(s, "step", where, source), new Place(where, "step"), source);
            if (!Step.TryParseKind(kindName, out var kind))
                JsonFields.Fail(source, new Place(where, "step"), $"unknown step kind '{JsonFields.Shorten(kindName)}' (expected compute, recompute, backward, free-value, free-grad, offload, prefetch or wait)");
            if (version == Version && new Step(kind, 0).IsTransfer)
                JsonFields.Fail(source, new Place(where, "step"), $"'{kindName}' steps need a version {TransferVersion.ToString(CultureInfo.InvariantCulture)} schedule (this one says version {Version.ToString(CultureInfo.InvariantCulture)})");
            string tensor = JsonFields.String(JsonFields.Required(s, "tensor", where, source), new Place(where, "tensor"), source);
            if (!byName.TryGetValue(tensor, out int task))
                JsonFields.Fail(source, new Place(where, "tensor"), $"'{JsonFields.Shorten(tensor)}' is not a task of graph '{JsonFields.Shorten(training.Graph.Name)}'");
            if (ambiguous.Contains(tensor))
                JsonFields.Fail(source, new Place(where, "tensor"), $"'{JsonFields.Shorten(tensor)}' names more than one task of graph '{JsonFields.Shorten(training.Graph.Name)}'");
            result.Add(new Step(kind, task));
            i++;
        }
        return new Schedule(training, result.MoveToImmutable(), solver, budget) { Link = hostLink, HostBudgetBytes = hostBudget };
    }

    private static Devices.HostLink ReadLink(JsonElement link, string? source)
    {
        JsonFields.Object(link, "hostLink", source);
        foreach (var p in link.EnumerateObject())
            if (p.Name is not ("bytesPerSecond" or "latencySeconds" or "blocking")) JsonFields.Fail(source, "hostLink", $"unknown field '{JsonFields.Shorten(p.Name)}'");
        double Number(string name, bool positive)
        {
            var e = JsonFields.Required(link, name, "hostLink", source);
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v) || !double.IsFinite(v) || v < 0 || (positive && v == 0))
                JsonFields.Fail(source, new Place("hostLink", name), positive ? "expected a positive number" : "expected a number of seconds, 0 or more");
            return e.GetDouble();
        }
        bool blocking = false;
        if (link.TryGetProperty("blocking", out var b))
        {
            if (b.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) JsonFields.Fail(source, new Place("hostLink", "blocking"), "expected true or false");
            blocking = b.GetBoolean();
        }
        return new Devices.HostLink(Number("bytesPerSecond", true), Number("latencySeconds", false)) { Blocking = blocking };
    }
}
