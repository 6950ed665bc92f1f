using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Recompute.Cli.Output;

/// <summary>
/// Writes the one JSON object a command prints with <c>--format json</c>: fields in a fixed order, invariant numbers,
/// and every number that is not finite written as <c>null</c> (JSON has no NaN or Infinity, and System.Text.Json
/// throws on them): every command's JSON goes through here.
/// </summary>
public sealed class JsonOutput
{
    private readonly MemoryStream _buffer = new();
    private readonly Utf8JsonWriter _writer;

    public JsonOutput()
    {
        _writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        _writer.WriteStartObject();
    }

    public Utf8JsonWriter Writer => _writer;

    public JsonOutput Field(string name, string? value) { if (value is null) _writer.WriteNull(name); else _writer.WriteString(name,
        value); return this; }
    public JsonOutput Field(string name, long value) { _writer.WriteNumber(name, value); return this; }
    public JsonOutput Field(string name, long? value) { if (value is null) _writer.WriteNull(name); else _writer.WriteNumber(name,
        value.Value); return this; }
    public JsonOutput Field(string name, bool value) { _writer.WriteBoolean(name, value); return this; }
    public JsonOutput Field(string name, double value) { WriteDouble(name, value); return this; }
    public JsonOutput Field(string name, double? value) { if (value is null) _writer.WriteNull(name); else WriteDouble(name,
        value.Value); return this; }

    public JsonOutput Field(string name, IEnumerable<KeyValuePair<string, int>> map)
    {
        _writer.WriteStartObject(name);
        foreach (var (k, v) in map) _writer.WriteNumber(k, v);
        _writer.WriteEndObject();
        return this;
    }

    public JsonOutput Field(string name, IEnumerable<string> list)
    {
        _writer.WriteStartArray(name);
        foreach (var s in list) _writer.WriteStringValue(s);
        _writer.WriteEndArray();
        return this;
    }

    public JsonOutput Field(string name, IEnumerable<double> list)
    {
        _writer.WriteStartArray(name);
        foreach (var d in list) _writer.WriteRawValue(Number(d));
        _writer.WriteEndArray();
        return this;
    }

    /// <summary>float32 values (losses) in their own shortest round-trip form; a non-finite one is null.</summary>
    public JsonOutput Field(string name, IEnumerable<float> list)
    {
        _writer.WriteStartArray(name);
        foreach (var f in list) _writer.WriteRawValue(Number(f));
        _writer.WriteEndArray();
        return this;
    }

    /// <summary>A float32 value; null when it is not finite.</summary>
    public JsonOutput Field(string name, float value) { _writer.WritePropertyName(name); _writer.WriteRawValue(Number(value)); return this; }

    /// <summary>Shortest round-trip form of a float32, invariant culture; "null" when not finite (JSON has no NaN or Infinity).</summary>
    public static string Number(float f) => float.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : "null";

    private void WriteDouble(string name, double value)
    {
        if (double.IsFinite(value)) { _writer.WritePropertyName(name); _writer.WriteRawValue(Number(value)); }
        else _writer.WriteNull(name);
    }

    /// <summary>Shortest round-trip form, invariant culture.</summary>
    public static string Number(double d) => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "null";

    public void WriteTo(TextWriter w)
    {
        _writer.WriteEndObject();
        _writer.Flush();
        // The relaxed encoder keeps non-ASCII names readable but passes C1 and bidirectional controls through raw;
        // they can only stand inside JSON strings, where \uXXXX is the same text and nothing unsafe reaches a terminal.
        var json = Encoding.UTF8.GetString(_buffer.ToArray());
        var safe = new StringBuilder(json.Length);
        foreach (char c in json)
            if (c >= '\u007f' && Recompute.Planner.Files.TerminalText.IsUnsafe(c)) safe.Append("\\u").Append(((int)c).ToString("x4",
                System.Globalization.CultureInfo.InvariantCulture));
            else safe.Append(c);
        w.WriteLine(safe.ToString());
    }
}
