using Recompute.Runtime.Kernels;

namespace Recompute.Tests.Runtime.Kernels;

public class WorkerPoolTests
{
    [Theory]
    [InlineData(1, 4)]
    [InlineData(7, 2)]
    [InlineData(1000, 4)]
    public void EveryIndexRunsExactlyOnce(int count, int degree)
    {
        var hits = new int[count];
        for (int repeat = 0; repeat < 50; repeat++)
            WorkerPool.For(count, degree, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(50, h));
    }

    [Fact]
    public void AnExceptionInAnyIndexReachesTheCaller_AndThePoolStaysUsable()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            WorkerPool.For(100, 2, i => { if (i == 63) throw new InvalidOperationException("index 63"); }));
        Assert.Equal("index 63", error.Message);
        int sum = 0;
        WorkerPool.For(100, 2, i => Interlocked.Add(ref sum, i));
        Assert.Equal(4950, sum);
    }

    [Fact]
    public async Task NestedAndConcurrentCalls_RunEveryIndex()
    {
        var hits = new int[16 * 16];
        var callers = Enumerable.Range(0, 4).Select(c => Task.Run(() =>
            WorkerPool.For(16, 2, i => WorkerPool.For(16, 2, j => Interlocked.Increment(ref hits[i * 16 + j]))))).ToArray();
        await Task.WhenAll(callers);
        Assert.All(hits, h => Assert.Equal(4, h));
    }
}
