namespace Recompute.Planner.Graph;

/// <summary>
/// How every command counts a graph, in one place: <b>operations</b> (what the file's nodes compute; constants and
/// shape arithmetic folded at import are not counted), <b>tensors</b> (every value, inputs and parameters included)
/// and <b>planned tensors</b> (the activations and the loss that the planner decides to keep or recompute: outputs
/// nothing reads on the way to the loss, such as BatchNormalization's running statistics, are not among them).
/// </summary>
/// <param name="Operations">Operations of the graph (a multi-output operation counts once).</param>
/// <param name="Tensors">Every tensor of the graph.</param>
/// <param name="PlannedTensors">The tensors the planner keeps or recomputes.</param>
public readonly record struct GraphCounts(int Operations, int Tensors, int PlannedTensors)
{
    /// <summary>The counts of a graph.</summary>
    public static GraphCounts Of(ComputationGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return new GraphCounts(graph.OperationHistogram.Values.Sum(), graph.Count, new ForwardDag(graph).Count);
    }

    /// <summary>"78 operations, 70 planned tensors": the words every command prints.</summary>
    public override string ToString() => $"{Operations} operations, {PlannedTensors} planned tensors";
}
