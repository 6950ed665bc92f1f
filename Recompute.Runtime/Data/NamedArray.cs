namespace Recompute.Runtime.Data;

/// <summary>
/// A named n-dimensional array as a user supplies it: a data batch's input (float32 images, int64 labels), a weight
/// tensor, or an array read from a NumPy <c>.npz</c> file. Exactly one of <see cref="Floats"/> and <see cref="Longs"/>
/// holds the row-major values.
/// </summary>
public sealed class NamedArray
{
    private NamedArray(string name, int[] shape, float[]? floats, long[]? longs)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        foreach (var d in shape) ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
        long n = shape.Aggregate(1L, (a, d) => checked(a * d));
        long length = floats?.LongLength ?? longs!.LongLength;
        if (n != length) throw new ArgumentException($"array '{name}' has {length} values, its shape [{string.Join(",", shape)}] holds {n}", nameof(shape));
        Name = name; Shape = shape; Floats = floats; Longs = longs;
    }

    /// <summary>A float32 array.</summary>
    public static NamedArray Of(string name, float[] values, params int[] shape) => new(name, (int[])shape.Clone(), values
        ?? throw new ArgumentNullException(nameof(values)), null);

    /// <summary>An int64 array (labels, token ids).</summary>
    public static NamedArray Of(string name, long[] values, params int[] shape) => new(name, (int[])shape.Clone(), null, values
        ?? throw new ArgumentNullException(nameof(values)));

    /// <summary>The array's name (a graph input's or a parameter's).</summary>
    public string Name { get; }
    /// <summary>Dimensions; empty for a scalar.</summary>
    public IReadOnlyList<int> Shape { get; }
    /// <summary>The values of a float32 array, else null.</summary>
    public float[]? Floats { get; }
    /// <summary>The values of an int64 array, else null.</summary>
    public long[]? Longs { get; }
    /// <summary><c>float32</c> or <c>int64</c>.</summary>
    public string DType => Floats is not null ? "float32" : "int64";
    /// <summary>Number of elements.</summary>
    public int Length => Floats?.Length ?? Longs!.Length;

    /// <summary>The shape as the runtime prints it: <c>[2,3,224,224]</c>.</summary>
    public string ShapeText => $"[{string.Join(",", Shape)}]";

    public override string ToString() => $"{Name}: {DType}{ShapeText}";
}
