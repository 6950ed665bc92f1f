using Recompute.Planner.Costs;
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

    /// <summary>ONNX: plan decomposed LayerNorm and GELU as the fused ops frameworks run (default); off, the file node by node.</summary>
    public bool FusePatterns { get; init; } = true;
}

/// <summary>Loads a graph file of any supported format, chosen by the file extension.</summary>
public static class GraphLoader
{
    /// <summary>
    /// Loads <paramref name="path"/>: <c>.onnx</c> (ONNX model), <c>.txt</c> (the 2019 paper's graph files),
    /// <c>.json</c> (the native format or Checkmate/Moccasin node-link JSON, told apart by content). Unknown
    /// extensions and unreadable files throw <see cref="GraphFormatException"/> naming the path.
    /// </summary>
    public static ComputationGraph Load(string path, GraphLoadOptions? options = null)
    {
        options ??= new GraphLoadOptions();
        string ext = Path.GetExtension(path).ToLowerInvariant();
        // Refused before the extension is looked at: a missing file, a directory, a FIFO or a device says so first.
        Files.InputFile.Check(path, ext switch { ".onnx" => Files.InputKind.Onnx, ".txt" => Files.InputKind.PaperGraph,
            _ => Files.InputKind.JsonGraph });
        if (options.TimeFile is { } times) Files.InputFile.Check(times, Files.InputKind.TimeFile);
        return ext switch
        {
            ".onnx" => OnnxImporter.Load(path, new OnnxImportOptions { Batch = options.Batch, TimeFile = options.TimeFile,
                FusePatterns = options.FusePatterns }),
            ".txt" => WithoutShapeOptions(path, options, PaperGraphImporter.Load),
            ".json" => WithoutShapeOptions(path, options, JsonGraphDispatcher.Load),
            _ => throw new GraphFormatException(path, null, $"unknown graph file extension '{ext}' (supported: .onnx, .json, .txt)"),
        };
    }

    /// <summary>
    /// Formats without shape inference cannot be re-inferred for another batch; a time file replaces their times
    /// by tensor name (<see cref="MeasuredTimes.Apply"/>).
    /// </summary>
    private static ComputationGraph WithoutShapeOptions(string path, GraphLoadOptions options, Func<string, ComputationGraph> load)
    {
        if (options.Batch is not null) throw new GraphFormatException(path, null,
            "--batch needs a graph with shapes (ONNX); this format has sizes only");
        var graph = load(path);
        return options.TimeFile is null ? graph : MeasuredTimes.Load(options.TimeFile).Apply(graph);
    }
}
