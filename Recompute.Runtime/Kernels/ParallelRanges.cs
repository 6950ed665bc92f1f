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
    public static void For(int count, long work, Action<int, int> body)
    {
        int degree = Math.Min(KernelOptions.MaxDegreeOfParallelism, count);
        if (degree <= 1 || work < MinParallelWork)
        {
            body(0, count);
            return;
        }
        WorkerPool.For(degree, degree, chunk =>
            body((int)((long)count * chunk / degree), (int)((long)count * (chunk + 1) / degree)));
    }
}
