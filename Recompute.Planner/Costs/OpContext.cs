namespace Recompute.Planner.Costs;

/// <summary>
/// One operation as shape inference sees it: op type, opset version of its domain, attributes and what is known
/// about its operands. Attribute values are <c>long</c>, <c>double</c>, <c>string</c>, <c>long[]</c>,
/// <c>double[]</c>, <c>string[]</c> or <see cref="TensorInfo"/> (tensor attributes, with their value when small).
/// </summary>
public sealed class OpContext
{
    public required string OpType { get; init; }
    /// <summary>Opset version the operation binds to (ops changed their operands between versions).</summary>
    public int Opset { get; init; } = 21;
    public required IReadOnlyDictionary<string, object> Attributes { get; init; }
    /// <summary>Operands in ONNX position order; null where an optional operand is absent.</summary>
    public required IReadOnlyList<TensorInfo?> Inputs { get; init; }
    /// <summary>Number of outputs the node declares (including unnamed optional ones).</summary>
    public int OutputCount { get; init; } = 1;

    public TensorInfo In(int i)
    {
        if (i >= Inputs.Count || Inputs[i] is null) throw new ShapeInferenceException($"operand #{i} is required but missing");
        return Inputs[i]!;
    }

    public TensorInfo? Opt(int i) => i < Inputs.Count ? Inputs[i] : null;

    public bool Has(string name) => Attributes.ContainsKey(name);

    public long Int(string name, long fallback) => Attributes.TryGetValue(name, out var v) ? v switch
    {
        long l => l,
        double d => (long)d,
        _ => throw new ShapeInferenceException($"attribute '{name}' must be an integer"),
    } : fallback;

    public double Real(string name, double fallback) => Attributes.TryGetValue(name, out var v) ? v switch
    {
        double d => d,
        long l => l,
        _ => throw new ShapeInferenceException($"attribute '{name}' must be a number"),
    } : fallback;

    public string Str(string name, string fallback) => Attributes.TryGetValue(name, out var v) ? v as string
        ?? throw new ShapeInferenceException($"attribute '{name}' must be a string") : fallback;

    public long[]? Ints(string name) => Attributes.TryGetValue(name, out var v) ? v switch
    {
        long[] a => a,
        long l => [l],
        _ => throw new ShapeInferenceException($"attribute '{name}' must be a list of integers"),
    } : null;

    public double[]? Reals(string name) => Attributes.TryGetValue(name, out var v) ? v switch
    {
        double[] a => a,
        double d => [d],
        _ => throw new ShapeInferenceException($"attribute '{name}' must be a list of numbers"),
    } : null;

    public TensorInfo? Tensor(string name) => Attributes.TryGetValue(name, out var v) ? v as TensorInfo
        ?? throw new ShapeInferenceException($"attribute '{name}' must be a tensor") : null;

    /// <summary>The integer value of operand i, which must be a constant (shape arithmetic).</summary>
    public long[] ConstInts(int i, string what)
    {
        var t = In(i);
        if (t.Value is null)
            throw new ShapeInferenceException($"{what} (operand #{i}) is not a constant or is computed from values only known at run time, so the output shape is not static");
        return t.Value.AsInts();
    }

    /// <summary>The numeric value of operand i, which must be a constant.</summary>
    public ConstantValue ConstValue(int i, string what)
    {
        var t = In(i);
        return t.Value ?? throw new ShapeInferenceException($"{what} (operand #{i}) is not a constant, so the output shape is not static");
    }
}
