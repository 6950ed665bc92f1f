using System.CommandLine;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Graph;
using Recompute.Runtime.Data;
using Recompute.Runtime.Execution;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>--data batch.npz</c> of <c>train</c> and <c>eval</c>: one array per graph input, by the input's name. Without
/// <c>--batch</c>, an ONNX graph is re-imported at the batch size of the data when that is the only difference.
/// </summary>
internal sealed class DataInput
{
    public Option<string?> Data { get; } = CliOptions.Text("--data", "FILE.npz",
        "a NumPy .npz batch: one array per graph input, by input name (float32 data, int64 labels); default: synthetic data");

    /// <summary>The graph (re-imported at the data's batch size if needed) and the data's arrays (null without --data).</summary>
    public (ComputationGraph Graph, IReadOnlyList<NamedArray>? Arrays) Load(ParseResult parse, GraphInput input, CommandContext context)
    {
        var graph = input.Load(parse, context);
        if (parse.GetValue(Data) is not { } path) return (graph, null);
        // Headers first: names, types and shapes are checked against the graph before any data is read, so an
        // archive of a few megabytes that declares gigabytes is refused for what it declares.
        using var archive = NpzArchive.Open(path);
        var headers = archive.Arrays;
        if (parse.GetValue(input.Batch) is null && BatchOf(graph, headers) is { } batch)
            graph = input.Load(parse, context, batch);
        try { TrainingBatch.CheckDeclared(graph, headers.Select(h => (h.Name, h.DType, h.Shape))); }
        catch (ArgumentException e) { throw new GraphFormatException(path, null, e.Message); }
        var arrays = archive.ReadAll();
        Validate(graph, arrays, path);
        return (graph, arrays);
    }

    /// <summary>The leading dimension of the data when it alone differs, and by the same value, from every data input's.</summary>
    private static int? BatchOf(ComputationGraph graph, IReadOnlyList<NpyHeader> arrays)
    {
        if (graph.Source is not { } s || !s.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return null;
        int? batch = null;
        foreach (var node in graph.Nodes.Where(n => n.Kind == NodeKind.Input))
        {
            var a = arrays.FirstOrDefault(x => x.Name == node.Name);
            if (a is null || a.Shape.Count != node.Shape.Length || a.Shape.Count == 0) return null;
            for (int k = 1; k < a.Shape.Count; k++) if (a.Shape[k] != node.Shape[k]) return null;
            // Every data input must change by the same leading dimension (else the message about the mismatch is clearer).
            if (a.Shape[0] == node.Shape[0] || (batch is not null && batch != a.Shape[0])) return null;
            batch = a.Shape[0];
        }
        return batch;
    }

    /// <summary>Names, shapes and types against the graph's inputs: one line naming the file, the array and the problem.</summary>
    public static void Validate(ComputationGraph graph, IReadOnlyList<NamedArray> arrays, string path)
    {
        try
        {
            var arena = new Recompute.Runtime.Tensors.Arena();
            using var batch = Recompute.Runtime.Execution.TrainingBatch.FromArrays(graph, arena, arrays);
        }
        catch (ArgumentException e) { throw new GraphFormatException(path, null, e.Message); }
    }
}
