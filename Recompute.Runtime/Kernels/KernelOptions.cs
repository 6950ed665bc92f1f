using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Recompute.Tests")]
[assembly: InternalsVisibleTo("Recompute.Benchmarks")]

namespace Recompute.Runtime.Kernels;

/// <summary>
/// Process-wide settings shared by the kernels. Results never depend on these settings: every kernel partitions
/// its work so that each output element is computed by one thread with a fixed summation order.
/// </summary>
public static class KernelOptions
{
    private static int maxDegreeOfParallelism = Environment.ProcessorCount;

    /// <summary>Upper bound on the threads a single kernel call uses (default: the processor count).</summary>
    public static int MaxDegreeOfParallelism
    {
        get => maxDegreeOfParallelism;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            maxDegreeOfParallelism = value;
        }
    }
}
