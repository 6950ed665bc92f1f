using Recompute.Planner.Files;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Import;

/// <summary>
/// Loads a <c>.json</c> graph of either kind: the native format (<c>"format": "recompute-graph"</c>) or
/// Checkmate/Moccasin node-link data (<c>nodes</c> and <c>links</c>). The file is parsed once.
/// </summary>
public static class JsonGraphDispatcher
{
    /// <summary>Loads a JSON graph file, choosing the reader by content.</summary>
    public static ComputationGraph Load(string path)
    {
        using var doc = JsonFields.ParseFile(path, Files.InputKind.JsonGraph);
        var root = doc.RootElement;
        if (root.ValueKind != System.Text.Json.JsonValueKind.Object)
            throw new GraphFormatException(path, "the document", $"must be a JSON object, found {JsonFields.Kind(root)}");
        if (root.TryGetProperty("format", out _)) return NativeGraphFormat.Read(root, path);
        if (CheckmateImporter.IsNodeLink(root)) return CheckmateImporter.Read(root, path, Path.GetFileNameWithoutExtension(path));
        throw new GraphFormatException(path, "the document", $"not a known graph format: expected \"format\": \"{NativeGraphFormat.FormatName}\" " +
            "(native format) or \"nodes\" and \"links\" (Checkmate/Moccasin node-link JSON)");
    }
}
