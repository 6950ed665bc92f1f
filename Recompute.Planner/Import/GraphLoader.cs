using Recompute.Planner.Graph;
using Recompute.Planner.Import.Onnx;

namespace Recompute.Planner.Import;

/// <summary>Options shared by the graph importers.</summary>
public sealed record GraphLoadOptions
{
    /// <summary>Batch size to re-infer shapes for (formats with shapes: ONNX). Null keeps the file's batch.</summary>
    public int? Batch { get; init; }

    /// <summary>Measured per-tensor forward times (JSON <c>{ "unit": "s", "times": { name: seconds } }</c>) replacing the cost model.</summary>
    public string? TimeFile { get; init; }
}

/// <summary>Loads a graph file of any supported format, chosen by the file extension.</summary>
public static class GraphLoader
{
    /// <summary>
    /// Loads <paramref name="path"/>: <c>.onnx</c> (ONNX model). Unknown extensions and unreadable files throw
    /// <see cref="GraphFormatException"/> naming the path.
    /// </summary>
    public static ComputationGraph Load(string path, GraphLoadOptions? options = null)
    {
        options ??= new GraphLoadOptions();
        if (!File.Exists(path)) throw new GraphFormatException(path, null, Directory.Exists(path) ? "is a directory, not a graph file" : "file not found");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".onnx" => OnnxImporter.Load(path, new OnnxImportOptions { Batch = options.Batch, TimeFile = options.TimeFile }),
            _ => throw new GraphFormatException(path, null, $"unknown graph file extension '{ext}' (supported: .onnx)"),
        };
    }
}
