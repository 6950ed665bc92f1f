using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Tensors;

public class ArenaTests
{
    [Fact]
    public void CountsLiveBytesAndPeakPerCategory_PlannedPeakOnlyFromActivationsAndGradients()
    {
        var arena = new Arena();
        // 3×4 float32 = 48 B activation, 12 int64 labels = 96 B counted as parameters/inputs, 5 floats scratch = 20 B.
        var a = arena.Allocate(MemoryCategory.Activation, [3, 4]);
        var labels = arena.Allocate(MemoryCategory.Parameter, [12], elementBytes: 8);
        var g = arena.Allocate(MemoryCategory.ActivationGradient, [3, 4]);
        using (arena.Scratch(5)) Assert.Equal(20, arena.LiveBytes(MemoryCategory.Scratch));
        Assert.Equal(96, labels.Bytes);
        Assert.Equal(96, arena.LiveBytes(MemoryCategory.Parameter));
        Assert.Equal(96, arena.PlannedLiveBytes);
        a.Dispose();
        Assert.Equal(48, arena.PlannedLiveBytes);
        Assert.Equal(96, arena.PlannedPeakBytes);
        Assert.Equal(20, arena.PeakBytes(MemoryCategory.Scratch));
        Assert.Equal(0, arena.LiveBytes(MemoryCategory.Scratch));
        arena.ResetPeaks();
        Assert.Equal(48, arena.PlannedPeakBytes);
        g.Dispose();
        Assert.Equal(0, arena.PlannedLiveBytes);
    }

    [Fact]
    public void ReusesBuffersZeroed_AndRejectsDoubleFree()
    {
        var arena = new Arena();
        var a = arena.Allocate(MemoryCategory.Activation, [8]);
        a.Span.Fill(3f);
        a.Dispose();
        Assert.Equal(32, arena.PooledBytes);
        var b = arena.Allocate(MemoryCategory.ActivationGradient, [2, 4]);
        Assert.Equal(0, arena.PooledBytes);
        Assert.All(b.Span.ToArray(), v => Assert.Equal(0f, v));
        Assert.Throws<ObjectDisposedException>(() => a.Span.Length);
        Assert.Throws<InvalidOperationException>(() => a.Dispose());
    }
}
