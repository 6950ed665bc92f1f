namespace Recompute.Runtime.Tensors;

/// <summary>
/// A pool of float32 buffers that counts the live bytes of every tensor it hands out, per
/// <see cref="MemoryCategory"/>, and their peaks. <see cref="PlannedLiveBytes"/> counts exactly the buffers the
/// planner controls (activations and activation gradients), so its peak is comparable with the simulated peak of a
/// schedule. Buffers are reused by exact length; a rented buffer is zeroed. Not thread-safe: one executor owns it.
/// </summary>
public sealed class Arena
{
    private const int Categories = 6;
    private readonly long[] _live = new long[Categories];
    private readonly long[] _peak = new long[Categories];
    private readonly Dictionary<int, Stack<float[]>> _free = [];
    private long _plannedLive, _plannedPeak;

    /// <summary>Live bytes of activations plus activation gradients.</summary>
    public long PlannedLiveBytes => _plannedLive;
    /// <summary>Largest <see cref="PlannedLiveBytes"/> since the last <see cref="ResetPeaks"/>.</summary>
    public long PlannedPeakBytes => _plannedPeak;
    /// <summary>Bytes held in the pool for reuse (not live).</summary>
    public long PooledBytes { get; private set; }

    public long LiveBytes(MemoryCategory category) => _live[(int)category];
    public long PeakBytes(MemoryCategory category) => _peak[(int)category];

    /// <summary>Rents a zeroed tensor.</summary>
    /// <param name="elementBytes">Bytes each element is counted at (the tensor's declared dtype size).</param>
    public Tensor Allocate(MemoryCategory category, int[] shape, int elementBytes = 4) =>
        Allocate(category, shape, elementBytes, shareShape: false);

    /// <summary>Rents a tensor; with <paramref name="shareShape"/> the tensor keeps <paramref name="shape"/> itself
    /// instead of a copy (the executor's shapes, which nobody changes: a step then allocates no shape arrays). Without
    /// <paramref name="zeroed"/> a reused buffer keeps old values: the caller zeroes it (the executor does so across
    /// the kernel threads, which this layer does not know).</summary>
    internal Tensor Allocate(MemoryCategory category, int[] shape, int elementBytes, bool shareShape, bool zeroed = true)
    {
        int length = Tensor.SizeOf(shape);
        float[] data;
        if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
        {
            data = stack.Pop();
            PooledBytes -= 4L * data.Length;
            if (zeroed) Array.Clear(data, 0, length);
        }
        else data = new float[Math.Max(length, 1)];
        var t = new Tensor(this, data, shareShape ? shape : (int[])shape.Clone(), length, elementBytes, category);
        int c = (int)category;
        _live[c] += t.Bytes;
        if (_live[c] > _peak[c]) _peak[c] = _live[c];
        if (category is MemoryCategory.Activation or MemoryCategory.ActivationGradient)
        {
            _plannedLive += t.Bytes;
            if (_plannedLive > _plannedPeak) _plannedPeak = _plannedLive;
        }
        return t;
    }

    /// <summary>Rents a zeroed float32 scratch buffer of <paramref name="length"/> elements.</summary>
    public Tensor Scratch(int length) => Allocate(MemoryCategory.Scratch, [length], 4, shareShape: true);

    internal void Return(Tensor t, float[] data)
    {
        int c = (int)t.Category;
        _live[c] -= t.Bytes;
        if (t.Category is MemoryCategory.Activation or MemoryCategory.ActivationGradient) _plannedLive -= t.Bytes;
        int length = t.Length;
        if (!_free.TryGetValue(length, out var stack)) _free[length] = stack = new Stack<float[]>();
        stack.Push(data);
        PooledBytes += 4L * data.Length;
    }

    /// <summary>Starts a new measurement: peaks become the current live bytes.</summary>
    public void ResetPeaks()
    {
        for (int c = 0; c < Categories; c++) _peak[c] = _live[c];
        _plannedPeak = _plannedLive;
    }

    /// <summary>Drops pooled buffers so the garbage collector can reclaim them.</summary>
    public void Trim()
    {
        _free.Clear();
        PooledBytes = 0;
    }
}
