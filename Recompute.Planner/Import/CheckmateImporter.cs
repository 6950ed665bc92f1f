using System.Globalization;
using System.Text.Json;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Import;

/// <summary>
/// Reads the node-link JSON graphs of Checkmate (Jain et al. 2020) and Moccasin (Bartan et al. 2023), as written by
/// networkx's <c>node_link_data</c>.
/// </summary>
/// <remarks>
/// <para>Two flavours are recognized per node, by field name:</para>
/// <list type="bullet">
/// <item>Checkmate training graphs: <c>id</c>, <c>name</c>, <c>backward</c>, <c>cost_cpu</c> (time), <c>cost_ram</c>
/// (bytes); links <c>{"source": id, "target": id}</c>. The file is a whole training step: every node becomes an
/// activation, backward nodes keep <see cref="Node.IsBackward"/> and point (<see cref="Node.ForwardOf"/>) to the
/// forward node whose name is theirs without the <c>_backward</c> suffix when it exists (the node "Loss" has none).
/// The last forward node that no forward node reads is the <see cref="NodeKind.Loss"/>.</item>
/// <item>Moccasin random layered graphs: <c>name</c> (the key), <c>duration</c> (time), <c>out_cost</c> (bytes),
/// <c>param_cost</c>; links <c>{"0": src, "1": dst}</c>; the graph record names <c>source_node</c>,
/// <c>target_node</c> and the cost field names (<c>node_output_cost_tag</c>, ...), which are honoured. The target
/// node becomes the loss (without one, the last sink in file order). A <c>param_cost</c> above 0 becomes a resident
/// parameter <c>NAME:param</c> read by the node.</item>
/// </list>
/// <para>Nodes are keyed by <c>id</c> when the nodes carry one, else by <c>name</c>. The file's node order is kept
/// wherever it is topological (<see cref="GraphBuilder"/> keeps insertion order when the edges allow). The time unit
/// is "checkmate" (the files' own: profiled microseconds, FLOPs or abstract durations). A Moccasin graph record's
/// <c>order</c> (a topological order of all nodes) is the file's order: nodes are inserted in it.</para>
/// </remarks>
public static class CheckmateImporter
{
    /// <summary>The time unit given to imported graphs.</summary>
    public const string TimeUnit = "checkmate";

    /// <summary>Suffix of a backward node's name after the name of its forward node.</summary>
    public const string BackwardSuffix = "_backward";

    /// <summary>Loads a Checkmate or Moccasin node-link JSON file.</summary>
    public static ComputationGraph Load(string path)
    {
        using var doc = JsonFields.ParseFile(path, Files.InputKind.JsonGraph);
        return Read(doc.RootElement, path, Path.GetFileNameWithoutExtension(path));
    }

    /// <summary>True when a parsed JSON document looks like node-link data (has <c>nodes</c> and <c>links</c> or <c>edges</c>).</summary>
    public static bool IsNodeLink(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("nodes", out _) &&
        (root.TryGetProperty("links", out _) || root.TryGetProperty("edges", out _));

    private sealed class Row
    {
        public required string Key;
        public required string Name;
        public required string Where;
        public long Bytes;
        public double Time;
        public long ParamBytes;
        public bool Backward;
        public readonly List<string> Inputs = [];
    }

    /// <summary>Builds the graph from a parsed node-link document; <paramref name="source"/> names the file in errors.</summary>
    public static ComputationGraph Read(JsonElement root, string? source, string fallbackName)
    {
        JsonFields.Object(root, "the document", source);
        if (root.TryGetProperty("directed", out var directed) && !JsonFields.Bool(directed, "directed", source))
            JsonFields.Fail(source, "directed", "the graph is undirected; a computation graph must be directed");
        bool multigraph = root.TryGetProperty("multigraph", out var mg) && JsonFields.Bool(mg, "multigraph", source);

        var graphRecord = root.TryGetProperty("graph", out var gr) ? JsonFields.Object(gr, "graph", source) : default;
        bool hasGraph = graphRecord.ValueKind == JsonValueKind.Object;
        string name = hasGraph && graphRecord.TryGetProperty("name", out var gn) && gn.ValueKind == JsonValueKind.String
            ? gn.GetString()! : fallbackName;
        string TagOr(string tag, string fallback) =>
            hasGraph && graphRecord.TryGetProperty(tag, out var t) ? JsonFields.String(t, $"graph.{tag}", source) : fallback;
        string outTag = TagOr("node_output_cost_tag", "out_cost");
        string durationTag = TagOr("node_duration_tag", "duration");
        string paramTag = TagOr("node_param_cost_tag", "param_cost");

        var nodes = JsonFields.Array(JsonFields.Required(root, "nodes", "the document", source), "nodes", source);
        int count = nodes.GetArrayLength();
        if (count == 0) JsonFields.Fail(source, "nodes", "the graph has no nodes");
        string keyField = nodes[0].ValueKind == JsonValueKind.Object && nodes[0].TryGetProperty("id", out _) ? "id" : "name";

        var rows = new List<Row>(count);
        var byKey = new Dictionary<string, Row>(StringComparer.Ordinal);
        int index = 0;
        foreach (var n in nodes.EnumerateArray())
        {
            string where = $"nodes[{index.ToString(CultureInfo.InvariantCulture)}]";
            JsonFields.Object(n, where, source);
            var keyElement = JsonFields.Required(n, keyField, where, source);
            string key = Key(keyElement, new Place(where, keyField), source);
            string nodeName = n.TryGetProperty("name", out var nm) ? Display(nm, new Place(where, "name"), source) : Display(keyElement,
                new Place(where, keyField), source);
            if (nodeName.Length == 0) JsonFields.Fail(source, new Place(where, "name"), "empty name");
            var row = new Row { Key = key, Name = nodeName, Where = $"{where} ('{JsonFields.Shorten(nodeName)}')" };
            row.Bytes = n.TryGetProperty("cost_ram", out var ram) ? JsonFields.Bytes(ram, new Place(where, "cost_ram"), source)
                : n.TryGetProperty(outTag, out var oc) ? JsonFields.Bytes(oc, new Place(where, outTag), source)
                : JsonFields.Fail<long>(source, where, $"missing size: expected 'cost_ram' or '{outTag}'");
            row.Time = n.TryGetProperty("cost_cpu", out var cpu) ? JsonFields.Time(cpu, new Place(where, "cost_cpu"), source)
                : n.TryGetProperty(durationTag, out var du) ? JsonFields.Time(du, new Place(where, durationTag), source)
                : JsonFields.Fail<double>(source, where, $"missing time: expected 'cost_cpu' or '{durationTag}'");
            if (n.TryGetProperty(paramTag, out var pc)) row.ParamBytes = JsonFields.Bytes(pc, new Place(where, paramTag), source);
            if (n.TryGetProperty("backward", out var bw)) row.Backward = JsonFields.Bool(bw, new Place(where, "backward"), source);
            if (!byKey.TryAdd(key, row))
                JsonFields.Fail(source, where, $"duplicate node {keyField} {JsonFields.Shorten(keyElement.GetRawText())} (also {byKey[key].Where})");
            rows.Add(row);
            index++;
        }

        JsonElement links = root.TryGetProperty("links", out var l) ? l
            : root.TryGetProperty("edges", out var ed) ? ed
            : JsonFields.Fail<JsonElement>(source, "the document", "missing field 'links'");
        string linksName = root.TryGetProperty("links", out _) ? "links" : "edges";
        JsonFields.Array(links, linksName, source);
        var seenEdges = new HashSet<(string, string)>();
        index = 0;
        foreach (var link in links.EnumerateArray())
        {
            string where = $"{linksName}[{index.ToString(CultureInfo.InvariantCulture)}]";
            JsonFields.Object(link, where, source);
            bool named = link.TryGetProperty("source", out var s) | link.TryGetProperty("target", out var t);
            if (!named)
            {
                s = JsonFields.Required(link, "0", where, source);
                t = JsonFields.Required(link, "1", where, source);
            }
            else
            {
                s = JsonFields.Required(link, "source", where, source);
                t = JsonFields.Required(link, "target", where, source);
            }
            string sf = named ? "source" : "0", tf = named ? "target" : "1";
            var from = Find(byKey, Key(s, new Place(where, sf), source), s, new Place(where, sf), source);
            var to = Find(byKey, Key(t, new Place(where, tf), source), t, new Place(where, tf), source);
            if (ReferenceEquals(from, to)) JsonFields.Fail(source, where, $"self-loop on node '{JsonFields.Shorten(from.Name)}'");
            if (!seenEdges.Add((from.Key, to.Key)) && !multigraph)
                JsonFields.Fail(source, where,
                    $"duplicate link '{JsonFields.Shorten(from.Name)}' -> '{JsonFields.Shorten(to.Name)}' in a graph that is not a multigraph");
            to.Inputs.Add(from.Key);
            index++;
        }

        // The loss: the graph's target node, else the last forward node that no forward node reads.
        Row? loss = null;
        if (hasGraph && graphRecord.TryGetProperty("target_node", out var target))
            loss = Find(byKey, Key(target, "graph.target_node", source), target, "graph.target_node", source);
        else
        {
            var readByForward = new HashSet<string>(rows.Where(r => !r.Backward).SelectMany(r => r.Inputs), StringComparer.Ordinal);
            loss = rows.LastOrDefault(r => !r.Backward && !readByForward.Contains(r.Key));
        }
        if (hasGraph && graphRecord.TryGetProperty("source_node", out var sourceNode))
            Find(byKey, Key(sourceNode, "graph.source_node", source), sourceNode, "graph.source_node", source);

        // Moccasin's graph record lists a topological order of its nodes ("order"): it is the file's own order
        // (the node list is keyed, not ordered: the target node comes second), so nodes are inserted in it.
        if (hasGraph && graphRecord.TryGetProperty("order", out var orderElement))
            rows = InGivenOrder(rows, byKey, orderElement, source);

        var builder = new GraphBuilder(name, TimeUnit, source);
        var idOf = new Dictionary<string, int>(StringComparer.Ordinal);
        var forwardByName = new Dictionary<string, Row>(StringComparer.Ordinal);
        foreach (var r in rows)
            if (!r.Backward) forwardByName.TryAdd(r.Name, r);
        foreach (var r in rows)
        {
            if (r.ParamBytes > 0)
                idOf[r.Key + "\0param"] = builder.Add(new NodeSpec(r.Name + ":param", "Parameter", NodeKind.Parameter) { Bytes = r.ParamBytes });
            var kind = ReferenceEquals(r, loss) && !r.Backward ? NodeKind.Loss : NodeKind.Activation;
            idOf[r.Key] = builder.Add(new NodeSpec(r.Name, r.Backward ? "Backward" : "Op", kind) { Bytes = r.Bytes, Time = r.Time,
                IsBackward = r.Backward });
        }
        foreach (var r in rows)
        {
            int id = idOf[r.Key];
            var inputs = r.Inputs.Select(k => idOf[k]).ToList();
            if (r.ParamBytes > 0) inputs.Add(idOf[r.Key + "\0param"]);
            int forwardOf = -1;
            if (r.Backward && r.Name.EndsWith(BackwardSuffix, StringComparison.Ordinal) &&
                forwardByName.TryGetValue(r.Name[..^BackwardSuffix.Length], out var fwd))
                forwardOf = idOf[fwd.Key];
            builder.Replace(id, builder[id] with { Inputs = inputs, ForwardOf = forwardOf });
        }
        return PaperGraphImporter.BuildGraph(builder, source);
    }

    /// <summary>The rows in the order of <c>graph.order</c>, which must list every node exactly once.</summary>
    private static List<Row> InGivenOrder(List<Row> rows, Dictionary<string, Row> byKey, JsonElement order, string? source)
    {
        JsonFields.Array(order, "graph.order", source);
        var ordered = new List<Row>(rows.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int index = 0;
        foreach (var e in order.EnumerateArray())
        {
            string where = $"graph.order[{index.ToString(CultureInfo.InvariantCulture)}]";
            var row = Find(byKey, Key(e, where, source), e, where, source);
            if (!seen.Add(row.Key)) JsonFields.Fail(source, where, $"node '{JsonFields.Shorten(row.Name)}' is listed twice");
            ordered.Add(row);
            index++;
        }
        if (ordered.Count != rows.Count)
        {
            var missing = rows.First(r => !seen.Contains(r.Key));
            JsonFields.Fail(source, "graph.order",
                $"does not list node '{JsonFields.Shorten(missing.Name)}' ({ordered.Count} of {rows.Count} nodes listed)");
        }
        return ordered;
    }

    /// <summary>A node key as it appears in links: integers and strings are distinct keys.</summary>
    private static string Key(JsonElement e, Place where, string? source) => e.ValueKind switch
    {
        JsonValueKind.String => "s:" + e.GetString(),
        JsonValueKind.Number => "n:" + JsonFields.Long(e, where, source).ToString(CultureInfo.InvariantCulture),
        _ => JsonFields.Fail<string>(source, where, $"a node key must be a string or an integer, found {JsonFields.Kind(e)}"),
    };

    private static string Display(JsonElement e, Place where, string? source) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!,
        JsonValueKind.Number => JsonFields.Long(e, where, source).ToString(CultureInfo.InvariantCulture),
        _ => JsonFields.Fail<string>(source, where, $"a node name must be a string or an integer, found {JsonFields.Kind(e)}"),
    };

    private static Row Find(Dictionary<string, Row> byKey, string key, JsonElement e, Place where, string? source) =>
        byKey.TryGetValue(key, out var row) ? row
            : JsonFields.Fail<Row>(source, where, $"refers to node {JsonFields.Shorten(e.GetRawText())}, which does not exist");
}
