using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Devices;

/// <summary>
/// Device profile files (docs/device-profiles.md): one JSON object, every field checked, errors naming the file and
/// the field. The same format is what <c>recompute device NAME --format json</c> prints and the <c>cpu</c> profile's
/// cache holds, so a shipped profile can be copied, edited and given back with <c>--device FILE</c>.
/// </summary>
public static class DeviceProfileFile
{
    /// <summary>Device profile files: 1 MiB.</summary>
    public static readonly Files.InputKind Kind = new("device profile", 1L << 20);

    private static readonly string[] Fields =
        ["name", "description", "memoryBytes", "fixedSecondsPerOp", "bandwidth", "bandwidthFraction", "matrixFlops", "vectorFlops",
         "computeFraction", "tf32", "classes", "hostLink", "metadata"];

    private static readonly string[] ClassFields = ["flops", "bytesPerSecond", "backwardFlops", "backwardBytesPerSecond"];

    /// <summary>The JSON name of a kind of kernel (<c>matMul</c>, <c>groupedConv</c>, ...).</summary>
    public static string ClassName(CostClass c) => JsonNamingPolicy.CamelCase.ConvertName(c.ToString());

    /// <summary>Reads and checks a profile file.</summary>
    public static DeviceProfile Load(string path)
    {
        var bytes = Files.InputFile.ReadAllBytes(path, Kind);
        return Parse(bytes, path);
    }

    /// <summary>Parses a profile from UTF-8 JSON; <paramref name="path"/> names it in errors.</summary>
    public static DeviceProfile Parse(byte[] bytes, string path)
    {
        int bom = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes.AsMemory(bom), new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 16 }); }
        catch (JsonException e) { throw new GraphFormatException(path, $"line {e.LineNumber + 1}", $"invalid JSON: {e.Message}"); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { throw new GraphFormatException(path, null,
            $"invalid JSON: {e.Message.ReplaceLineEndings(" ")}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, null, "expected a JSON object (a device profile)");
            CheckFields(path, root, Fields, "");
            if (!root.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String
                || string.IsNullOrWhiteSpace(nameElement.GetString()))
                throw new GraphFormatException(path, "\"name\"", "missing or empty: a profile needs a name");
            string name = nameElement.GetString()!;
            if (name.Length > 100 || name.Any(c => char.IsControl(c))) throw new GraphFormatException(path, "\"name\"",
                "must be at most 100 printable characters");

            var classes = ImmutableSortedDictionary.CreateBuilder<CostClass, ClassRates>();
            if (root.TryGetProperty("classes", out var cs))
            {
                if (cs.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, "\"classes\"", "must be an object of kernel kinds");
                foreach (var c in cs.EnumerateObject())
                {
                    var cls = Enum.GetValues<CostClass>().Where(k => k != CostClass.Free
                        && ClassName(k) == c.Name).Select(k => (CostClass?)k).FirstOrDefault()
                        ?? throw new GraphFormatException(path, $"\"classes\".\"{c.Name}\"",
                            $"unknown kind of kernel (one of {string.Join(", ", Enum.GetValues<CostClass>().Where(k => k != CostClass.Free).Select(ClassName))})");
                    if (c.Value.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, $"\"classes\".\"{c.Name}\"",
                        "must be an object");
                    string at = $"\"classes\".\"{c.Name}\".";
                    CheckFields(path, c.Value, ClassFields, at);
                    // A FLOP rate of 0 means the kind is bounded by its bytes alone.
                    double Flops(string f) => NonNegative(path, c.Value, f, at) ?? throw new GraphFormatException(path, at + $"\"{f}\"", "missing");
                    double Bytes(string f) => Positive(path, c.Value, f, at) ?? throw new GraphFormatException(path, at + $"\"{f}\"", "missing");
                    classes[cls] = new ClassRates(Flops("flops"), Bytes("bytesPerSecond"), Flops("backwardFlops"), Bytes("backwardBytesPerSecond"));
                }
            }
            var peaks = ImmutableSortedDictionary.CreateBuilder<string, double>(StringComparer.Ordinal);
            if (root.TryGetProperty("matrixFlops", out var mf))
            {
                if (mf.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, "\"matrixFlops\"",
                    "must be an object of element types (fp32, tf32, bf16, fp16)");
                CheckFields(path, mf, ["fp32", "tf32", "bf16", "fp16"], "\"matrixFlops\".");
                foreach (var p in mf.EnumerateObject()) peaks[p.Name] = Positive(path, mf, p.Name, "\"matrixFlops\".")!.Value;
            }
            HostLink? link = null;
            if (root.TryGetProperty("hostLink", out var hl))
            {
                if (hl.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, "\"hostLink\"",
                    "must be an object with \"bytesPerSecond\" and \"latencySeconds\"");
                CheckFields(path, hl, ["bytesPerSecond", "latencySeconds", "blocking"], "\"hostLink\".");
                bool blocking = false;
                if (hl.TryGetProperty("blocking", out var b))
                    blocking = b.ValueKind switch
                    {
                        JsonValueKind.True => true,
                        JsonValueKind.False => false,
                        _ => throw new GraphFormatException(path, "\"hostLink\".\"blocking\"", "must be true or false"),
                    };
                link = new HostLink(Positive(path, hl, "bytesPerSecond", "\"hostLink\".") ?? throw new GraphFormatException(path,
                    "\"hostLink\".\"bytesPerSecond\"", "missing"),
                    NonNegative(path, hl, "latencySeconds", "\"hostLink\".") ?? 0) { Blocking = blocking };
            }
            var metadata = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out var md))
            {
                if (md.ValueKind != JsonValueKind.Object) throw new GraphFormatException(path, "\"metadata\"", "must be an object of strings");
                foreach (var p in md.EnumerateObject())
                    metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new GraphFormatException(path, $"\"metadata\".\"{p.Name}\"", "must be a string");
            }
            string description = "";
            if (root.TryGetProperty("description", out var d))
                description = d.ValueKind == JsonValueKind.String ? d.GetString()! : throw new GraphFormatException(path,
                    "\"description\"", "must be a string");
            bool tf32 = false;
            if (root.TryGetProperty("tf32", out var t))
                tf32 = t.ValueKind is JsonValueKind.True or JsonValueKind.False ? t.GetBoolean() : throw new GraphFormatException(path,
                    "\"tf32\"", "must be true or false");
            long? memory = null;
            if (root.TryGetProperty("memoryBytes", out var m))
                memory = m.ValueKind == JsonValueKind.Number && m.TryGetInt64(out long mb) && mb > 0 ? mb : throw new GraphFormatException(path, "\"memoryBytes\"", $"must be a positive whole number of bytes, got {m.GetRawText()}");

            var profile = new DeviceProfile
            {
                Name = name, Description = description, MemoryBytes = memory,
                FixedSecondsPerOp = NonNegative(path, root, "fixedSecondsPerOp", "") ?? 0,
                Bandwidth = Positive(path, root, "bandwidth", "") ?? 0,
                BandwidthFraction = Fraction(path, root, "bandwidthFraction") ?? 0.8,
                MatrixFlops = peaks.ToImmutable(),
                VectorFlops = Positive(path, root, "vectorFlops", "") ?? 0,
                ComputeFraction = Fraction(path, root, "computeFraction") ?? 0.6,
                Tf32 = tf32, Classes = classes.ToImmutable(), HostLink = link, Metadata = metadata.ToImmutable(),
            };
            // Every kind of kernel needs rates: measured ones, or peaks to take fractions of.
            var missing = Enum.GetValues<CostClass>().Where(k => k != CostClass.Free && !profile.Classes.ContainsKey(k)).ToList();
            if (missing.Count > 0)
            {
                if (profile.Bandwidth <= 0) throw new GraphFormatException(path, "\"bandwidth\"",
                    $"missing: needed for {ClassName(missing[0])} kernels, which \"classes\" does not give");
                if (profile.VectorFlops <= 0) throw new GraphFormatException(path, "\"vectorFlops\"",
                    $"missing: needed for {ClassName(missing[0])} kernels, which \"classes\" does not give");
            }
            return profile;
        }
    }

    /// <summary>The profile as the file format, with shortest round-trip numbers (invariant culture) and a final newline.</summary>
    public static string Format(DeviceProfile p)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("name", p.Name);
            if (p.Description.Length > 0) w.WriteString("description", p.Description);
            if (p.MemoryBytes is { } m) w.WriteNumber("memoryBytes", m);
            w.WriteNumber("fixedSecondsPerOp", p.FixedSecondsPerOp);
            if (p.Bandwidth > 0) { w.WriteNumber("bandwidth", p.Bandwidth); w.WriteNumber("bandwidthFraction", p.BandwidthFraction); }
            if (p.MatrixFlops.Count > 0)
            {
                w.WriteStartObject("matrixFlops");
                foreach (var (k, v) in p.MatrixFlops) w.WriteNumber(k, v);
                w.WriteEndObject();
            }
            if (p.VectorFlops > 0) w.WriteNumber("vectorFlops", p.VectorFlops);
            if (p.MatrixFlops.Count > 0 || p.VectorFlops > 0) w.WriteNumber("computeFraction", p.ComputeFraction);
            if (p.Tf32) w.WriteBoolean("tf32", true);
            if (p.Classes.Count > 0)
            {
                w.WriteStartObject("classes");
                foreach (var (k, r) in p.Classes)
                {
                    w.WriteStartObject(ClassName(k));
                    w.WriteNumber("flops", r.Flops);
                    w.WriteNumber("bytesPerSecond", r.BytesPerSecond);
                    w.WriteNumber("backwardFlops", r.BackwardFlops);
                    w.WriteNumber("backwardBytesPerSecond", r.BackwardBytesPerSecond);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            if (p.HostLink is { } link)
            {
                w.WriteStartObject("hostLink");
                w.WriteNumber("bytesPerSecond", link.BytesPerSecond);
                w.WriteNumber("latencySeconds", link.LatencySeconds);
                if (link.Blocking) w.WriteBoolean("blocking", true);
                w.WriteEndObject();
            }
            if (p.Metadata.Count > 0)
            {
                w.WriteStartObject("metadata");
                foreach (var (k, v) in p.Metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void CheckFields(string path, JsonElement obj, string[] fields, string at)
    {
        foreach (var p in obj.EnumerateObject())
            if (!fields.Contains(p.Name, StringComparer.Ordinal))
                throw new GraphFormatException(path, $"{at}\"{p.Name}\"", $"unknown field (expected one of {string.Join(", ", fields)})");
    }

    private static double? Number(string path, JsonElement obj, string field, string at)
    {
        if (!obj.TryGetProperty(field, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new GraphFormatException(path, $"{at}\"{field}\"", $"must be a number, got {Truncate(v.GetRawText())}");
        return d;
    }

    private static double? Positive(string path, JsonElement obj, string field, string at) =>
        Number(path, obj, field, at) is { } d ? d > 0 ? d : throw new GraphFormatException(path, $"{at}\"{field}\"",
            $"must be positive, got {d.ToString("R", CultureInfo.InvariantCulture)}") : null;

    private static double? NonNegative(string path, JsonElement obj, string field, string at) =>
        Number(path, obj, field, at) is { } d ? d >= 0 ? d : throw new GraphFormatException(path, $"{at}\"{field}\"",
            $"must not be negative, got {d.ToString("R", CultureInfo.InvariantCulture)}") : null;

    private static double? Fraction(string path, JsonElement obj, string field) =>
        Number(path, obj, field, "") is { } d ? d is > 0 and <= 1 ? d : throw new GraphFormatException(path, $"\"{field}\"",
            $"must be a share in (0, 1], got {d.ToString("R", CultureInfo.InvariantCulture)}") : null;

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
