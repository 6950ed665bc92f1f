using System.Globalization;
using System.Text.Json;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Files;

/// <summary>
/// A place in a JSON document ("nodes[3] ('conv1').inputs[2]"), composed only when an error names it: readers
/// pass places for every field of every node, and most of them are never read.
/// </summary>
internal readonly struct Place(string? container, string? member = null, int index = -1)
{
    /// <summary>The place as text, or null for "no particular place".</summary>
    public string? Text => container is null ? null
        : member is null && index < 0 ? container
        : container + (member is null ? "" : "." + member) + (index < 0 ? "" : "[" + index.ToString(CultureInfo.InvariantCulture) + "]");

    public static implicit operator Place(string? text) => new(text);

    public override string ToString() => Text ?? "";
}

/// <summary>
/// Strict accessors for JSON graph files: every wrong type, missing field or out-of-range number becomes a
/// <see cref="GraphFormatException"/> naming the file and the JSON place (<c>nodes[3].bytes</c>).
/// </summary>
internal static class JsonFields
{
    /// <summary>Deepest nesting accepted; graph files need 4 or 5 levels, attributes a few more.</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Reads and parses a JSON file (a regular file within the size limit of <paramref name="kind"/>); syntax
    /// errors carry the line and byte position.
    /// </summary>
    public static JsonDocument ParseFile(string path, InputKind kind) => Parse(InputFile.ReadAllBytes(path, kind), path);

    /// <remarks>
    /// Duplicate keys in one object are refused: the last one would win silently (a second <c>"cost_ram"</c> in a
    /// Checkmate node would replace its size).
    /// </remarks>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, string? source)
    {
        if (utf8.Span.StartsWith("\uFEFF"u8)) utf8 = utf8[3..];
        if (utf8.Span.Trim(" \r\n\t"u8).IsEmpty) throw new GraphFormatException(source, null, "the file is empty");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is { } l
                ? $"line {(l + 1).ToString(CultureInfo.InvariantCulture)}, byte {((e.BytePositionInLine ?? 0) + 1).ToString(CultureInfo.InvariantCulture)}"
                : "JSON";
            throw new GraphFormatException(source, where, $"invalid JSON: {Describe(e)}", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // The duplicate-key check decodes property names: one that is not valid UTF-16 surfaces here.
            throw new GraphFormatException(source, null, $"invalid JSON: {QuotedText.Printable(e.Message.ReplaceLineEndings(" "), 200)}", e);
        }
        try
        {
            if (!AllStringsDecode(doc.RootElement)) CheckStrings(doc.RootElement, "the document", source);
            // Duplicate keys are found here rather than by the parser, so that the message names the object's place.
            CheckDuplicateKeys(doc.RootElement, "the document", source);
        }
        catch
        {
            doc.Dispose();
            throw;
        }
        return doc;
    }

    /// <summary>
    /// The parser accepts strings that cannot become .NET strings (invalid UTF-8 bytes, escaped lone surrogates
    /// such as "\ud800") and only fails when they are read. Every string and property name is decoded once
    /// here, so such a file is rejected at its place instead of failing later with another exception type.
    /// Recursion is bounded by <see cref="MaxDepth"/>.
    /// </summary>
    private static bool AllStringsDecode(JsonElement e)
    {
        try
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.String:
                    _ = e.GetString();
                    return true;
                case JsonValueKind.Array:
                    foreach (var item in e.EnumerateArray())
                        if (!AllStringsDecode(item)) return false;
                    return true;
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                    {
                        _ = p.Name;
                        if (!AllStringsDecode(p.Value)) return false;
                    }
                    return true;
                default:
                    return true;
            }
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The slow walk that names the place of the first undecodable string (run only when there is one).</summary>
    /// <summary>
    /// Refuses an object that names a key twice (a reader would silently keep one of them), naming the object by
    /// its path in the document.
    /// </summary>
    private static void CheckDuplicateKeys(JsonElement e, string where, string? source)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in e.EnumerateArray())
                    CheckDuplicateKeys(item, $"{(where == "the document" ? "" : where)}[{(i++).ToString(CultureInfo.InvariantCulture)}]", source);
                break;
            case JsonValueKind.Object:
                HashSet<string>? seen = null;
                foreach (var p in e.EnumerateObject())
                {
                    seen ??= new HashSet<string>(StringComparer.Ordinal);
                    if (!seen.Add(p.Name))
                        throw new GraphFormatException(source, where, $"duplicate key '{QuotedText.Printable(p.Name, 100)}': it appears twice");
                    CheckDuplicateKeys(p.Value, where == "the document" ? Shorten(p.Name) : $"{where}.{Shorten(p.Name)}", source);
                }
                break;
        }
    }

    private static void CheckStrings(JsonElement e, string where, string? source)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                Decode(e, where, source);
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in e.EnumerateArray())
                    CheckStrings(item, $"{where}[{(i++).ToString(CultureInfo.InvariantCulture)}]", source);
                break;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException x) { throw new GraphFormatException(source, where,
                        $"invalid text in a field name: {QuotedText.Printable(x.Message.TrimEnd('.'), 200)}", x); }
                    CheckStrings(p.Value, where == "the document" ? name : $"{where}.{Shorten(name)}", source);
                }
                break;
        }
    }

    private static void Decode(JsonElement e, string where, string? source)
    {
        try { _ = e.GetString(); }
        catch (InvalidOperationException x) { throw new GraphFormatException(source, where,
            $"invalid text in a string: {QuotedText.Printable(x.Message.TrimEnd('.'), 200)}", x); }
    }

    /// <summary>The reader's message without its own position suffix (the location already says where).</summary>
    private static string Describe(JsonException e)
    {
        var m = e.Message;
        int cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0) m = m[..cut];
        if (m.Contains("uplicate propert", StringComparison.Ordinal))
            return $"duplicate key: {QuotedText.Printable(m.TrimEnd(' ', '.'), 200)}";
        if (m.Contains("maximum configured depth", StringComparison.Ordinal))
            return $"nested deeper than {MaxDepth.ToString(CultureInfo.InvariantCulture)} levels";
        return QuotedText.Printable(m.TrimEnd(' ', '.'), 200);
    }

    public static JsonElement Object(JsonElement e, Place where, string? source)
    {
        if (e.ValueKind != JsonValueKind.Object) Fail(source, where, $"must be a JSON object, found {Kind(e)}");
        return e;
    }

    public static JsonElement Array(JsonElement e, Place where, string? source)
    {
        if (e.ValueKind != JsonValueKind.Array) Fail(source, where, $"must be a JSON array, found {Kind(e)}");
        return e;
    }

    public static bool TryGet(JsonElement obj, string name, out JsonElement value) => obj.TryGetProperty(name, out value);

    public static JsonElement Required(JsonElement obj, string name, Place where, string? source)
    {
        if (!obj.TryGetProperty(name, out var v)) Fail(source, where, $"missing field '{name}'");
        return v;
    }

    public static string String(JsonElement e, Place where, string? source)
    {
        if (e.ValueKind != JsonValueKind.String) Fail(source, where, $"must be a string, found {Kind(e)}");
        return e.GetString()!;
    }

    public static bool Bool(JsonElement e, Place where, string? source)
    {
        if (e.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) Fail(source, where, $"must be true or false, found {Kind(e)}");
        return e.GetBoolean();
    }

    /// <summary>An integer in the 64-bit range (written plainly, as a decimal with zero fraction, or with an exponent).</summary>
    public static long Long(JsonElement e, Place where, string? source)
    {
        if (e.ValueKind != JsonValueKind.Number) Fail(source, where, $"must be an integer, found {Kind(e)}");
        if (e.TryGetInt64(out long v)) return v;
        if (e.TryGetDecimal(out decimal d))
        {
            if (d != decimal.Truncate(d)) Fail(source, where, $"must be an integer, found {Shorten(e.GetRawText())}");
            if (d > long.MaxValue || d < long.MinValue) Fail(source, where, $"{Shorten(e.GetRawText())} does not fit in 64 bits (more than 2^63-1)");
            return (long)d;
        }
        if (e.TryGetDouble(out double x) && double.IsFinite(x) && x != Math.Truncate(x))
            Fail(source, where, $"must be an integer, found {Shorten(e.GetRawText())}");
        return Fail<long>(source, where, $"{Shorten(e.GetRawText())} does not fit in 64 bits (more than 2^63-1)");
    }

    /// <summary>A size in bytes: an integer, not negative, at most 2^63-1.</summary>
    public static long Bytes(JsonElement e, Place where, string? source)
    {
        long v = Long(e, where, source);
        if (v < 0) Fail(source, where, $"negative size {v.ToString(CultureInfo.InvariantCulture)} bytes");
        return v;
    }

    /// <summary>A time: a finite number, not negative.</summary>
    public static double Time(JsonElement e, Place where, string? source)
    {
        if (e.ValueKind != JsonValueKind.Number) Fail(source, where, $"must be a number, found {Kind(e)}");
        if (!e.TryGetDouble(out double v) || !double.IsFinite(v)) Fail(source, where, $"{Shorten(e.GetRawText())} is not a finite number");
        if (v < 0) Fail(source, where, $"negative time {Shorten(e.GetRawText())}");
        return v;
    }

    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {Shorten(e.GetRawText())}",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    public static string Shorten(string s) => QuotedText.Shorten(s);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Fail(string? source, Place where, string problem) => throw new GraphFormatException(source, where.Text, problem);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static T Fail<T>(string? source, Place where, string problem) => throw new GraphFormatException(source, where.Text, problem);
}
