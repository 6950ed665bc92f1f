using System.Globalization;
using System.Text;
using System.Text.Json;
using Recompute.Planner.Graph;
using static Recompute.Planner.Files.QuotedText;

namespace Recompute.Planner.Import;

/// <summary>
/// Reads the graph files of Kusumoto et al. (NeurIPS 2019), <c>cg_*.txt</c> (format in algorithm.md §7).
/// </summary>
/// <remarks>
/// <para>Mapping to the graph IR:</para>
/// <list type="bullet">
/// <item>Every output of a forward block becomes an <see cref="NodeKind.Activation"/> named by its data id
/// ("23"), with the block's class name as op and its JSON line as attributes (null values are dropped; numbers
/// become long or double, lists of integers long[], lists of numbers double[], booleans bool).</item>
/// <item>The unique sink of the forward graph (the output no forward block reads) becomes the
/// <see cref="NodeKind.Loss"/>. A file with several sinks is rejected: the paper's model has one loss.</item>
/// <item>Data nodes read by forward blocks but produced by none are resident: a parameter when the name is a path
/// (starts with '/'; the node keeps the path as its name), otherwise a network input named <c>input:ID</c> (the
/// files name inputs by argument position, "0", "1", which would clash with the activation names).</item>
/// <item>Data nodes that no forward block reads or produces are dropped: they are not part of the computation and
/// would only inflate the resident byte totals.</item>
/// <item>Time is the paper's unit (<see cref="TimeUnit"/>): 10 for a class whose name starts with "Conv"
/// (Convolution2DFunction), 1 for every other class (Deconvolution2DFunction included).</item>
/// <item><see cref="Node.BackwardNeeds"/> is every operand, not Chainer's <c>_input_indexes_to_retain</c>: the
/// paper's cost model (B_i = all forward inputs of the successors of a lower set) assumes a backward reads every
/// operand, and the DP results must compare with the paper's code. The retain lists stay in the attributes.</item>
/// <item>A multi-output block gives its time to its first output and 0 to the others, so that T(V) is the sum of
/// block times.</item>
/// </list>
/// Backward blocks are not part of the graph; they are checked for well-formedness (known data ids, known tags).
/// Every problem throws <see cref="GraphFormatException"/> naming the file, the line and the problem.
/// </remarks>
public static class PaperGraphImporter
{
    /// <summary>The time unit of the paper's graphs: 10 per convolution, 1 per other function.</summary>
    public const string TimeUnit = "paper";

    private const int MaxJsonDepth = 32;

    private sealed record DataNode(long Id, long Bytes, string Name, int Line);
    private sealed record Block(int Line, List<long> Inputs, List<long> Outputs, string ClassName, Dictionary<string, object> Attributes,
        long Rank, int Index);

    /// <summary>Loads a paper graph file.</summary>
    public static ComputationGraph Load(string path)
    {
        var bytes = Files.InputFile.ReadAllBytes(path, Files.InputKind.PaperGraph);
        int bom = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        string text = new UTF8Encoding(false, throwOnInvalidBytes: false).GetString(bytes, bom, bytes.Length - bom);
        return Parse(text, path, Path.GetFileNameWithoutExtension(path));
    }

    /// <summary>Parses the text of a paper graph file; <paramref name="source"/> names it in errors.</summary>
    public static ComputationGraph Parse(string text, string? source, string name)
    {
        var reader = new LineReader(text, source);
        var header = reader.Next("the header 'N F'");
        var counts = Fields(header, reader.LineNumber, source, 2, "the header 'N F' (data node count, function block count)");
        long n = ParseCount(counts[0], reader.LineNumber, source, "data node count");
        long f = ParseCount(counts[1], reader.LineNumber, source, "function block count");

        var data = new Dictionary<long, DataNode>();
        var dataOrder = new List<DataNode>();
        for (long i = 0; i < n; i++)
        {
            var line = reader.Next($"data node {i + 1} of {n}");
            int ln = reader.LineNumber;
            var parts = line.Split(' ', 3);
            if (parts.Length < 3 || parts[2].Length == 0)
                Fail(source, ln, "a data node line must be 'id bytes name'");
            long id = ParseId(parts[0], ln, source);
            long bytes = ParseBytes(parts[1], ln, source);
            var node = new DataNode(id, bytes, parts[2], ln);
            if (!data.TryAdd(id, node)) Fail(source, ln, $"data id {id} is defined twice (first at line {data[id].Line})");
            dataOrder.Add(node);
        }

        var forward = new List<Block>();
        var producer = new Dictionary<long, Block>();
        for (long b = 0; b < f; b++)
        {
            var direction = reader.Next($"function block {b + 1} of {f}");
            int blockLine = reader.LineNumber;
            bool isForward = direction switch
            {
                "forward" => true,
                "backward" => false,
                _ => Fail<bool>(source, blockLine, $"expected 'forward' or 'backward', found '{Shorten(direction)}'"),
            };
            var kp = Fields(reader.Next("the block's 'k p' line"), reader.LineNumber, source, 2, "'k p' (input count, output count)");
            long k = ParseCount(kp[0], reader.LineNumber, source, "input count");
            long p = ParseCount(kp[1], reader.LineNumber, source, "output count");
            if (isForward && p == 0) Fail(source, reader.LineNumber, "a forward function must have at least one output");
            var inputs = new List<long>();
            for (long j = 0; j < k; j++)
            {
                var parts = Fields(reader.Next($"input {j + 1} of {k}"), reader.LineNumber, source, 2, "an input line 'id tag'");
                long id = ParseId(parts[0], reader.LineNumber, source);
                RequireData(data, id, source, reader.LineNumber);
                string tag = parts[1];
                if (isForward ? tag != "_" : tag is not ("gradient" or "input" or "output"))
                    Fail(source, reader.LineNumber, isForward
                        ? $"a forward input's tag must be '_', found '{Shorten(tag)}'"
                        : $"a backward input's tag must be 'gradient', 'input' or 'output', found '{Shorten(tag)}'");
                inputs.Add(id);
            }
            var outputs = new List<long>();
            for (long j = 0; j < p; j++)
            {
                var parts = Fields(reader.Next($"output {j + 1} of {p}"), reader.LineNumber, source, 1, "an output line 'id'");
                long id = ParseId(parts[0], reader.LineNumber, source);
                RequireData(data, id, source, reader.LineNumber);
                if (isForward && outputs.Contains(id)) Fail(source, reader.LineNumber,
                    $"data id {id} is listed twice as an output of the same function");
                outputs.Add(id);
            }
            var className = reader.Next("the function's class name");
            if (className.Length == 0 || className.Contains(' ')) Fail(source, reader.LineNumber, $"invalid class name '{Shorten(className)}'");
            var attrLine = reader.Next("the function's JSON attributes");
            var attrs = ParseAttributes(attrLine, reader.LineNumber, source);
            if (!isForward) continue;
            long rank = attrs.TryGetValue("rank", out var r) && r is long rl ? rl : 0;
            var block = new Block(blockLine, inputs, outputs, className, attrs, rank, forward.Count);
            foreach (var o in outputs)
            {
                if (producer.TryGetValue(o, out var other))
                    Fail(source, blockLine, $"data id {o} is produced by two forward functions (the other starts at line {other.Line})");
                producer[o] = block;
            }
            forward.Add(block);
        }
        reader.ExpectEnd();
        if (forward.Count == 0) Fail(source, null, "the file has no forward function");

        foreach (var block in forward)
            foreach (var i in block.Inputs)
                if (block.Outputs.Contains(i))
                    Fail(source, block.Line, $"function {block.ClassName} reads its own output {i} (self-loop)");

        // The loss: the unique forward output that no forward function reads.
        var read = new HashSet<long>(forward.SelectMany(b => b.Inputs));
        var sinks = forward.SelectMany(b => b.Outputs).Where(o => !read.Contains(o)).ToList();
        if (sinks.Count != 1)
            Fail(source, null, sinks.Count == 0
                ? "the forward graph has no sink (every output is read again): it must end in one loss"
                : $"the forward graph has {sinks.Count} sinks (data ids {string.Join(", ", sinks.Take(5))}{(sinks.Count > 5 ? ", ..." : "")}): the paper's format has exactly one loss");
        long loss = sinks[0];

        var builder = new GraphBuilder(name, TimeUnit, source);
        var idOf = new Dictionary<long, int>();
        foreach (var d in dataOrder)
        {
            if (producer.ContainsKey(d.Id) || !read.Contains(d.Id)) continue;
            bool isParameter = d.Name.StartsWith('/');
            var spec = isParameter
                ? new NodeSpec(d.Name, "Parameter", NodeKind.Parameter) { Bytes = d.Bytes }
                : new NodeSpec($"input:{d.Id.ToString(CultureInfo.InvariantCulture)}", "Input", NodeKind.Input)
                {
                    Bytes = d.Bytes,
                    Attributes = new Dictionary<string, object> { ["argument"] = d.Name },
                };
            if (builder.TryGetId(spec.Name, out _))
                Fail(source, d.Line, $"parameter '{Shorten(d.Name)}' is defined twice");
            idOf[d.Id] = builder.Add(spec);
        }
        // Activations in execution order: Chainer's rank (generation) first, then file order. Ids are assigned
        // before inputs are resolved, so a block may read a tensor produced by a block listed later in the file.
        var ordered = forward.OrderBy(b => b.Rank).ThenBy(b => b.Index).ToList();
        var pending = new List<(int Id, Block Block, int OutputIndex)>();
        foreach (var block in ordered)
            for (int j = 0; j < block.Outputs.Count; j++)
            {
                long o = block.Outputs[j];
                var kind = o == loss ? NodeKind.Loss : NodeKind.Activation;
                var placeholder = new NodeSpec(o.ToString(CultureInfo.InvariantCulture), block.ClassName, kind);
                int id = builder.Add(placeholder);
                idOf[o] = id;
                pending.Add((id, block, j));
            }
        foreach (var (id, block, j) in pending)
        {
            double time = j > 0 ? 0 : block.ClassName.StartsWith("Conv", StringComparison.Ordinal) ? 10 : 1;
            builder.Replace(id, builder[id] with
            {
                Inputs = block.Inputs.Select(i => idOf[i]).ToArray(),
                Bytes = data[block.Outputs[j]].Bytes,
                Time = time,
                Attributes = block.Attributes,
                OutputIndex = j,
                BackwardNeeds = null,
            });
        }
        return BuildGraph(builder, source);
    }

    private static Dictionary<string, object> ParseAttributes(string line, int ln, string? source)
    {
        var result = new Dictionary<string, object>(StringComparer.Ordinal);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e)
        {
            return Fail<Dictionary<string, object>>(source, ln, $"the attribute line is not valid JSON ({Printable(FirstSentence(e.Message), 200)})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) Fail(source, ln, "the attribute line must be a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                var value = AttributeValue(prop.Value);
                if (value is not null) result[prop.Name] = value;
            }
        }
        return result;
    }

    /// <summary>JSON value → attribute value (null for JSON null). Nested or mixed values are kept as JSON text.</summary>
    private static object? AttributeValue(JsonElement v)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.Null: return null;
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.String: return v.GetString()!;
            case JsonValueKind.Number:
                if (v.TryGetInt64(out long l)) return l;
                if (v.TryGetDouble(out double d) && double.IsFinite(d)) return d;
                return v.GetRawText();
            case JsonValueKind.Array:
                var items = v.EnumerateArray().ToList();
                if (items.All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt64(out _)))
                    return items.Select(x => x.GetInt64()).ToArray();
                if (items.All(x => x.ValueKind == JsonValueKind.Number && x.TryGetDouble(out var xd) && double.IsFinite(xd)))
                    return items.Select(x => x.GetDouble()).ToArray();
                return v.GetRawText();
            default:
                return v.GetRawText();
        }
    }

    private static void RequireData(Dictionary<long, DataNode> data, long id, string? source, int ln)
    {
        if (!data.ContainsKey(id)) Fail(source, ln, $"data id {id} is not defined in the data node list");
    }

    private static string[] Fields(string line, int ln, string? source, int count, string what)
    {
        var parts = line.Split(' ', StringSplitOptions.None);
        if (parts.Length != count || parts.Any(p => p.Length == 0))
            Fail(source, ln, $"expected {what}, found '{Shorten(line)}'");
        return parts;
    }

    private static long ParseCount(string s, int ln, string? source, string what)
    {
        if (!IsDigits(s)) Fail(source, ln, $"the {what} must be a non-negative integer, found '{Shorten(s)}'");
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v > int.MaxValue)
            Fail(source, ln, $"the {what} {Shorten(s)} is too large");
        return v;
    }

    private static long ParseId(string s, int ln, string? source)
    {
        if (!IsDigits(s)) Fail(source, ln, $"a data id must be a non-negative integer, found '{Shorten(s)}'");
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            Fail(source, ln, $"data id {Shorten(s)} is too large (more than 2^63-1)");
        return v;
    }

    private static long ParseBytes(string s, int ln, string? source)
    {
        bool negative = s.StartsWith('-');
        string digits = negative ? s[1..] : s;
        if (!IsDigits(digits)) Fail(source, ln, $"a size must be an integer number of bytes, found '{Shorten(s)}'");
        if (negative) Fail(source, ln, $"negative size {Shorten(s)} bytes");
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            Fail(source, ln, $"size {Shorten(s)} bytes is too large (more than 2^63-1)");
        return v;
    }

    private static bool IsDigits(string s) => s.Length > 0 && s.All(c => c is >= '0' and <= '9');

    /// <summary>Builds the graph; a validation error is attributed to the file and made printable on one line.</summary>
    internal static ComputationGraph BuildGraph(GraphBuilder builder, string? source)
    {
        try
        {
            return builder.Build();
        }
        catch (GraphFormatException e) when (e.Message.Any(c => c < ' '))
        {
            throw new GraphFormatException(e.File ?? source, e.Location is null ? null : Printable(e.Location, 200), Printable(e.Problem, 300), e);
        }
    }

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message.TrimEnd('.');
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Fail(string? source, int? line, string problem) =>
        throw new GraphFormatException(source, line is { } l ? $"line {l.ToString(CultureInfo.InvariantCulture)}" : null, problem);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static T Fail<T>(string? source, int? line, string problem) =>
        throw new GraphFormatException(source, line is { } l ? $"line {l.ToString(CultureInfo.InvariantCulture)}" : null, problem);

    /// <summary>Line-by-line cursor that reports truncation as a format error.</summary>
    private sealed class LineReader(string text, string? source)
    {
        private int _pos;

        public int LineNumber { get; private set; }

        public string Next(string expected)
        {
            if (_pos >= text.Length)
                Fail(source, LineNumber + 1, $"the file ends early: expected {expected}");
            int end = text.IndexOf('\n', _pos);
            if (end < 0) end = text.Length;
            string line = text[_pos..end].TrimEnd('\r');
            _pos = end + 1;
            LineNumber++;
            if (line.Contains('\0')) Fail(source, LineNumber, "the line contains a NUL byte (binary data?)");
            return line;
        }

        public void ExpectEnd()
        {
            while (_pos < text.Length)
            {
                var line = Next("nothing");
                if (line.Trim().Length != 0) Fail(source, LineNumber, $"unexpected text after the last function block: '{Shorten(line)}'");
            }
        }
    }
}
