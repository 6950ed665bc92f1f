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
    private readonly int _offset;
    private readonly bool _isView;
    private readonly int[]? _strides;

    internal Tensor(Arena arena, float[] data, int[] shape, int length, int elementBytes, MemoryCategory category)
    {
        Arena = arena; _data = data; Shape = shape; Length = length; ElementBytes = elementBytes; Category = category;
        Bytes = (long)length * elementBytes;
    }

    private Tensor(Tensor source, int[] shape, int offset, int length, int[]? strides = null)
    {
        Arena = source.Arena; _data = source._data; Shape = shape; Length = length; ElementBytes = source.ElementBytes;
        Category = source.Category; _offset = source._offset + offset; _isView = true; _strides = strides;
    }

    /// <summary>
    /// A strided view of this tensor's elements in place (a Transpose read as a view): element (i_0, ..) of the view is
    /// <see cref="Span"/>[Σ i_d·strides[d]]. Its <see cref="Span"/> is this tensor's, in this tensor's order, so only
    /// kernels that read <see cref="Strides"/> may read it; it owns no bytes, as <see cref="View"/>.
    /// </summary>
    internal Tensor Strided(int[] shape, int[] strides)
    {
        if (shape.Length != strides.Length || Tensor.SizeOf(shape) != Length) throw new ArgumentException("a strided view covers all of its base's elements", nameof(shape));
        return new Tensor(this, (int[])shape.Clone(), 0, Length, (int[])strides.Clone());
    }

    /// <summary>Element strides of a strided view (<see cref="Strided"/>); null for a row-major tensor.</summary>
    internal int[]? Strides => _strides;

    /// <summary>The elements in row-major order of <see cref="Shape"/>: this tensor's own for a row-major tensor, a copy
    /// for a strided view.</summary>
    internal float[] ToRowMajorArray()
    {
        var span = Span;
        if (_strides is null) return span.ToArray();
        var result = new float[Length];
        var index = new int[Rank];
        for (int i = 0; i < result.Length; i++)
        {
            long at = 0;
            for (int d = 0; d < Rank; d++) at += (long)index[d] * _strides[d];
            result[i] = span[(int)at];
            for (int d = Rank - 1; d >= 0 && ++index[d] == Shape[d]; d--) index[d] = 0;
        }
        return result;
    }

    /// <summary>
    /// A view: <paramref name="length"/> elements of this tensor's buffer from <paramref name="offset"/> on, under
    /// another shape, in place (no copy). It owns no bytes (<see cref="Bytes"/> is 0, the arena counts nothing for
    /// it) and is valid only while this tensor is live; disposing it releases nothing.
    /// </summary>
    public Tensor View(int[] shape, int offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length) throw new ArgumentOutOfRangeException(nameof(offset),
            $"a view of [{offset}, {offset + length}) does not fit in {Length} elements");
        if (Tensor.SizeOf(shape) != length) throw new ArgumentException("the view's shape does not hold its length", nameof(shape));
        return new Tensor(this, (int[])shape.Clone(), offset, length);
    }

    /// <summary>
    /// Passes this tensor's buffer to a new tensor of the same length under <paramref name="shape"/> (an op run in
    /// place: its output takes over its input's buffer). The arena's counts do not change: the bytes move from this
    /// tensor, which is released without returning anything, to the new one. A new object, not this one, so that
    /// whatever is matched to the old tensor (BatchNormalization's cached statistics) does not match its successor.
    /// </summary>
    internal Tensor PassOn(int[] shape)
    {
        if (_isView) throw new InvalidOperationException("a view owns no buffer to pass on");
        var d = _data ?? throw new ObjectDisposedException(nameof(Tensor), "the tensor's buffer was returned to the arena");
        if (Tensor.SizeOf(shape) != Length) throw new ArgumentException($"a buffer of {Length} elements passed on to a tensor of {Tensor.SizeOf(shape)}", nameof(shape));
        _data = null;
        return new Tensor(Arena, d, shape, Length, ElementBytes, Category);
    }

    /// <summary>True for a view of another tensor's buffer (<see cref="View"/>).</summary>
    public bool IsView => _isView;

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
    public Span<float> Span => (_data ?? throw new ObjectDisposedException(nameof(Tensor),
        "the tensor's buffer was returned to the arena")).AsSpan(_offset, Length);

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
        if (!_isView) Arena.Return(this, d);
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
