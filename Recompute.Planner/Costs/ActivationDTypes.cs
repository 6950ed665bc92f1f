using Recompute.Planner.Graph;

namespace Recompute.Planner.Costs;

/// <summary>
/// The what-if of <c>--dtype</c>: a graph whose floating-point activations (every planned tensor of a floating type, hence
/// their gradients, which the memory model sizes like their tensors) have another width — bf16 or fp16 at 2 bytes an
/// element, fp32 at 4. Integer and boolean tensors (token ids, masks) keep their width; parameters, inputs and constants
/// stay as the file has them (mixed-precision training keeps fp32 master weights).
/// </summary>
internal static class ActivationDTypes
{
    /// <summary>The names <c>--dtype</c> takes.</summary>
    public static IReadOnlyList<string> Names { get; } = ["fp32", "bf16", "fp16"];

    /// <summary>The ONNX element type of a <c>--dtype</c> name.</summary>
    public static string ElementType(string name) => name switch
    {
        "fp32" => "float32",
        "bf16" => "bfloat16",
        "fp16" => "float16",
        _ => throw new ArgumentException($"unknown activation dtype '{name}' (one of {string.Join(", ", Names)})", nameof(name)),
    };

    /// <summary>The graph with its floating-point activations as <paramref name="name"/> (see the class remarks); its
    /// <see cref="ComputationGraph.ActivationDType"/> says so.</summary>
    public static ComputationGraph Retype(ComputationGraph graph, string name)
    {
        ArgumentNullException.ThrowIfNull(graph);
        string target = ElementType(name);
        long size = ElementTypes.BitsOf(target) / 8;
        var b = new GraphBuilder(graph.Name, graph.TimeUnit, graph.Source);
        foreach (var n in graph.Nodes)
        {
            long width = ElementTypes.BitsOf(n.DType) / 8;
            bool retype = n.IsPlanned && ElementTypes.IsFloat(n.DType) && n.DType != target && width > 0;
            b.Add(new NodeSpec(n.Name, n.Op, n.Kind)
            {
                Inputs = n.Inputs, Bytes = retype ? n.Bytes / width * size : n.Bytes, Time = n.Time, BackwardTime = n.BackwardTime,
                Shape = n.Shape, DType = retype ? target : n.DType, Attributes = n.Attributes, OutputIndex = n.OutputIndex,
                IsBackward = n.IsBackward, ForwardOf = n.ForwardOf, BackwardNeeds = n.BackwardNeeds, BackwardNeedsOutput = n.BackwardNeedsOutput,
                SavedByRule = n.SavedByRule,
            });
        }
        var result = b.Build();
        result.ActivationDType = name;
        result.FusedPatterns = graph.FusedPatterns;
        return result;
    }
}
