using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Import;

/// <summary>
/// LayerNorm and GELU written out node by node as PyTorch exports them (graphs/gpt2-124m-b8-t1024.onnx, opset 15):
/// the forms <c>FusedPatterns</c> recognises. Intermediate names are <c>{prefix}.{step}</c>.
/// </summary>
internal static class DecomposedOps
{
    private static OnnxModelBuilder Scalar(this OnnxModelBuilder b, string name, float value) =>
        b.Node("Constant", [], [name], TensorAttr("value", Tensor(name + "_value", [], floats: [value])));

    /// <summary>
    /// y = (x − μ) / √(mean((x − μ)²) + ε) · scale + bias over the last axis. <paramref name="subReads"/> is what the Sub
    /// subtracts the mean from (x, as exported; another tensor for a graph that is not a LayerNorm).
    /// </summary>
    public static OnnxModelBuilder LayerNorm(this OnnxModelBuilder b, string x, string scale, string bias, string y, string prefix,
        string? subReads = null) => b
        .Node("ReduceMean", [x], [prefix + ".mean"], Ints("axes", -1))
        .Node("Sub", [subReads ?? x, prefix + ".mean"], [prefix + ".centered"])
        .Scalar(prefix + ".two", 2f)
        .Node("Pow", [prefix + ".centered", prefix + ".two"], [prefix + ".square"])
        .Node("ReduceMean", [prefix + ".square"], [prefix + ".variance"], Ints("axes", -1))
        .Scalar(prefix + ".eps", 1e-5f)
        .Node("Add", [prefix + ".variance", prefix + ".eps"], [prefix + ".variance_eps"])
        .Node("Sqrt", [prefix + ".variance_eps"], [prefix + ".std"])
        .Node("Div", [prefix + ".centered", prefix + ".std"], [prefix + ".normalized"])
        .Node("Mul", [prefix + ".normalized", scale], [prefix + ".scaled"])
        .Node("Add", [prefix + ".scaled", bias], [y]);

    /// <summary>y = x · (1 + erf(x / √2)) · 0.5, multiplied in the order PyTorch writes (or ½ first when <paramref name="halfFirst"/>).</summary>
    public static OnnxModelBuilder GeluErf(this OnnxModelBuilder b, string x, string y, string prefix, float half = 0.5f, bool halfFirst = false)
    {
        b.Scalar(prefix + ".sqrt2", MathF.Sqrt(2)).Node("Div", [x, prefix + ".sqrt2"], [prefix + ".scaled"])
            .Node("Erf", [prefix + ".scaled"], [prefix + ".erf"])
            .Scalar(prefix + ".one", 1f).Node("Add", [prefix + ".erf", prefix + ".one"], [prefix + ".one_plus"])
            .Scalar(prefix + ".half", half);
        return halfFirst
            ? b.Node("Mul", [prefix + ".half", x], [prefix + ".halved"]).Node("Mul", [prefix + ".one_plus", prefix + ".halved"], [y])
            : b.Node("Mul", [x, prefix + ".one_plus"], [prefix + ".gated"]).Node("Mul", [prefix + ".gated", prefix + ".half"], [y]);
    }

    /// <summary>y = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))), as Hugging Face's NewGELU exports.</summary>
    public static OnnxModelBuilder GeluTanh(this OnnxModelBuilder b, string x, string y, string prefix) => b
        .Scalar(prefix + ".half", 0.5f).Node("Mul", [prefix + ".half", x], [prefix + ".halved"])
        .Scalar(prefix + ".three", 3f).Node("Pow", [x, prefix + ".three"], [prefix + ".cube"])
        .Scalar(prefix + ".c", 0.044715f).Node("Mul", [prefix + ".c", prefix + ".cube"], [prefix + ".cubic"])
        .Node("Add", [x, prefix + ".cubic"], [prefix + ".inner"])
        .Scalar(prefix + ".k", MathF.Sqrt(2 / MathF.PI)).Node("Mul", [prefix + ".k", prefix + ".inner"], [prefix + ".arg"])
        .Node("Tanh", [prefix + ".arg"], [prefix + ".tanh"])
        .Scalar(prefix + ".one", 1f).Node("Add", [prefix + ".one", prefix + ".tanh"], [prefix + ".one_plus"])
        .Node("Mul", [prefix + ".halved", prefix + ".one_plus"], [y]);
}
