namespace Recompute.Runtime.Kernels;

/// <summary>
/// Splits an index range into one contiguous chunk per thread for the memory-bound kernels (normalisation,
/// activations, pooling). Each index is handled by exactly one thread with the same arithmetic as in a serial run, so
/// results do not depend on the thread count.
/// </summary>
internal static class ParallelRanges
{
    /// <summary>Below this many elements touched, a kernel runs on the calling thread: waking a second thread costs more.</summary>
    public const long MinParallelWork = 1 << 15;

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, <paramref name="count"/>) in up to
    /// <see cref="KernelOptions.MaxDegreeOfParallelism"/> chunks; <paramref name="work"/> is the elements the whole range touches.</summary>
    public static void For(int count, long work, Action<int, int> body) => For(count, work, new ActionBody(body));

    /// <summary>As <see cref="For(int, long, Action{int, int})"/> with a struct body, which allocates nothing.</summary>
    public static void For<T>(int count, long work, T body) where T : struct, IRangeBody
    {
        int degree = Math.Min(KernelOptions.MaxDegreeOfParallelism, count);
        if (degree <= 1 || work < MinParallelWork)
        {
            body.Run(0, count);
            return;
        }
        WorkerPool.For(degree, degree, new Chunks<T>(body, count, degree));
    }

    /// <summary>Zeroes <paramref name="data"/>[0, <paramref name="length"/>) across the kernel threads.</summary>
    public static void Clear(float[] data, int length) => For(length, length, new ClearRange(data));

    private readonly struct ClearRange(float[] data) : IRangeBody
    {
        public void Run(int start, int end) => Array.Clear(data, start, end - start);
    }

    private readonly struct Chunks<T>(T body, int count, int degree) : IIndexBody where T : struct, IRangeBody
    {
        public void Run(int chunk) =>
            body.Run((int)((long)count * chunk / degree), (int)((long)count * (chunk + 1) / degree));
    }

    private readonly struct ActionBody(Action<int, int> body) : IRangeBody
    {
        public void Run(int start, int end) => body(start, end);
    }
}
