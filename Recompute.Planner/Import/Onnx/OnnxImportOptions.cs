using Recompute.Planner.Graph;

namespace Recompute.Planner.Import.Onnx;

/// <summary>Options of <see cref="OnnxImporter"/>.</summary>
public sealed record OnnxImportOptions
{
    /// <summary>
    /// Batch size to re-infer every shape for: replaces the leading dimension of the data inputs (and of constant
    /// Reshape targets that bake the file's batch size in). Null keeps the file's batch.
    /// </summary>
    public int? Batch { get; init; }

    /// <summary>
    /// Plan the decomposed LayerNorm and GELU of an export as the fused ops a framework runs (see
    /// <see cref="FusedPatterns"/>; default on). Off, every node of the file is planned as written.
    /// </summary>
    public bool FusePatterns { get; init; } = true;

    /// <summary>Measured per-tensor times (JSON, see <see cref="Costs.MeasuredTimes"/>) replacing the FLOP model.</summary>
    public string? TimeFile { get; init; }
}

/// <summary>What an ONNX import produced, with figures about the file for reports and tests.</summary>
/// <param name="Graph">The computation graph (one node per tensor).</param>
/// <param name="OnnxNodeCount">Number of ONNX nodes (operations) in the file's graph.</param>
/// <param name="IrVersion">The file's IR version.</param>
/// <param name="Opset">Version of the default (ai.onnx) operator set.</param>
/// <param name="FileBatch">Leading dimension of the data inputs in the file (0 when there is none).</param>
/// <param name="Batch">Batch size the shapes were inferred for.</param>
/// <param name="CheckedValueInfos">Number of inferred tensors compared with the file's value_info (or graph outputs).</param>
public sealed record OnnxImportResult(ComputationGraph Graph, int OnnxNodeCount, long IrVersion, long Opset, long FileBatch, long Batch,
    int CheckedValueInfos)
{
    /// <summary>Bytes of every tensor an ONNX operation produces (planned activations plus folded constants).</summary>
    public long OperationOutputBytes => Graph.Nodes.Where(n => n.Kind is not (NodeKind.Input or NodeKind.Parameter)
        && n.Op != OnnxImporter.InitializerOp)
        .Aggregate(0L, (s, n) => checked(s + n.Bytes));
}
