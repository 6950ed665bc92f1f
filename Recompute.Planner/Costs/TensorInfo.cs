namespace Recompute.Planner.Costs;

/// <summary>
/// A statically known value of a small tensor (shape arithmetic, constants), in row-major order: integer and
/// boolean tensors in <see cref="Ints"/>, floating-point tensors in <see cref="Reals"/>.
/// </summary>
public sealed class ConstantValue
{
    private ConstantValue(long[]? ints, double[]? reals) { Ints = ints; Reals = reals; }

    public long[]? Ints { get; }
    public double[]? Reals { get; }
    public int Length => Ints?.Length ?? Reals!.Length;
    public bool IsInteger => Ints is not null;

    public static ConstantValue FromInts(long[] values) => new(values, null);
    public static ConstantValue FromReals(double[] values) => new(null, values);

    /// <summary>Element i as a double (integers converted).</summary>
    public double Real(int i) => Ints is { } a ? a[i] : Reals![i];

    /// <summary>Element i as an integer (reals truncated toward zero, as ONNX Cast does).</summary>
    public long Int(int i) => Ints is { } a ? a[i] : (long)Reals![i];

    /// <summary>The elements at <paramref name="indexes"/>, in that order.</summary>
    public ConstantValue Pick(int[] indexes) =>
        Ints is { } a ? FromInts(indexes.Select(i => a[i]).ToArray()) : FromReals(indexes.Select(i => Reals![i]).ToArray());

    /// <summary>All elements as integers.</summary>
    public long[] AsInts() => Ints ?? Reals!.Select(r => (long)r).ToArray();

    /// <summary>The value stored in a tensor of the given element type (integers for integral types).</summary>
    public ConstantValue As(string dtype)
    {
        if (ElementTypes.IsIntegral(dtype))
            return Ints is not null ? (dtype == "bool" ? FromInts(Ints.Select(v => v != 0 ? 1L : 0L).ToArray()) : this)
                : FromInts(Reals!.Select(r => dtype == "bool" ? (r != 0 ? 1L : 0L) : (long)r).ToArray());
        return Reals is not null ? this : FromReals(Ints!.Select(v => (double)v).ToArray());
    }
}

/// <summary>
/// What shape inference knows about one tensor: element type, static shape (every dimension known) and,
/// for small constant tensors, the value.
/// </summary>
public sealed record TensorInfo(string DType, long[] Shape, ConstantValue? Value = null)
{
    /// <summary>Number of elements (checked: overflow is reported as an error by the caller).</summary>
    public long Elements => ShapeMath.Elements(Shape);

    public int Rank => Shape.Length;

    /// <summary>Bytes of the tensor: elements × element size (4-bit types round up to whole bytes).</summary>
    public long Bytes => ShapeMath.Bytes(Shape, DType);

    public override string ToString() => $"{DType}[{string.Join(",", Shape)}]";
}
