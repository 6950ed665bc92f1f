namespace Recompute.Runtime.Tensors;

/// <summary>
/// A dense row-major tensor whose storage is a float32 buffer rented from an <see cref="Arena"/>. Integer and boolean
/// tensors (labels, indices, masks) keep their values in the same float storage (exact below 2^24) but are counted
/// at their declared element size, so that the arena measures the bytes the graph declares.
/// Disposing a tensor returns its buffer to the arena.
/// </summary>
public sealed class Tensor : IDisposable
{
    private float[]? _data;

    internal Tensor(Arena arena, float[] data, int[] shape, int length, int elementBytes, MemoryCategory category)
    {
        Arena = arena; _data = data; Shape = shape; Length = length; ElementBytes = elementBytes; Category = category;
        Bytes = (long)length * elementBytes;
    }

    public Arena Arena { get; }
    /// <summary>Dimensions; empty for a scalar.</summary>
    public int[] Shape { get; }
    /// <summary>Number of elements (1 for a scalar).</summary>
    public int Length { get; }
    /// <summary>Bytes per element the tensor is counted at (4 for float32, 8 for int64, 1 for bool).</summary>
    public int ElementBytes { get; }
    /// <summary>Bytes the arena counts for this tensor: <see cref="Length"/> × <see cref="ElementBytes"/>.</summary>
    public long Bytes { get; }
    public MemoryCategory Category { get; }
    public int Rank => Shape.Length;
    public bool IsReleased => _data is null;

    /// <summary>The elements.</summary>
    public Span<float> Span => (_data ?? throw new ObjectDisposedException(nameof(Tensor), "the tensor's buffer was returned to the arena")).AsSpan(0, Length);

    /// <summary>The backing array (may be longer than <see cref="Length"/>).</summary>
    internal float[] Buffer => _data ?? throw new ObjectDisposedException(nameof(Tensor));

    public float this[int i]
    {
        get => Span[i];
        set => Span[i] = value;
    }

    /// <summary>Returns the buffer to the arena; a second call throws (a double free is a bug in the schedule or executor).</summary>
    public void Dispose()
    {
        var d = _data ?? throw new InvalidOperationException("tensor released twice");
        _data = null;
        Arena.Return(this, d);
    }

    public override string ToString() => $"Tensor[{string.Join(",", Shape)}] {Category} {Bytes} B";

    /// <summary>Number of elements of a shape (1 for a scalar), checked against overflow.</summary>
    public static int SizeOf(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return checked((int)n);
    }
}
