namespace Recompute.Planner.Graph;

/// <summary>
/// The one rule for what a loss may be, shared by the planner (every <see cref="Solvers.PlanningProblem"/>: inspect,
/// plan, simulate, report, maxbatch) and the runtime: a single floating-point value. A loss of several elements
/// (an ONNX loss with <c>reduction="none"</c>, a native graph whose loss has a shape of more than one element) is
/// refused, never reduced silently: backpropagation starts from one value, and which reduction (sum, mean) the user
/// meant changes every gradient. A loss of unknown shape (the paper's and Checkmate's graphs have none) is taken
/// as scalar.
/// </summary>
internal static class LossRule
{
    /// <summary>Refuses the first loss that is not a scalar float, naming the file and the tensor.</summary>
    /// <exception cref="GraphFormatException">A loss with more than one element, or of a non-float type.</exception>
    public static void Check(ComputationGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        foreach (var loss in graph.Nodes)
        {
            if (loss.Kind != NodeKind.Loss) continue;
            bool scalar = loss.Shape.All(d => d == 1);
            if (scalar && loss.DType is "float32" or "float" or "float64" or "float16" or "bfloat16") continue;
            throw new GraphFormatException(graph.Source, $"tensor '{loss.Name}'",
                $"the loss must be a scalar float, but it is {loss.DType} of shape [{string.Join(",", loss.Shape)}] " +
                "(a loss with reduction \"none\"? reduce it in the model, e.g. with ReduceMean or reduction \"mean\")");
        }
    }
}
