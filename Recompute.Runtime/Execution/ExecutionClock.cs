using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Recompute.Runtime.Execution;

/// <summary>What the executor's per-step times measure.</summary>
public enum ExecutionClock
{
    /// <summary>Wall-clock time (<see cref="Stopwatch"/>): what a user waits for, including time the thread was not running.</summary>
    WallClock,
    /// <summary>
    /// CPU time of the executing thread (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>): unaffected by other processes taking
    /// the cores, so that timings on a loaded machine stay comparable. It counts only the calling thread, so use it
    /// with single-threaded kernels (<see cref="Kernels.KernelOptions.MaxDegreeOfParallelism"/> = 1).
    /// </summary>
    ThreadCpu,
}

/// <summary>Reads the clocks of <see cref="ExecutionClock"/> in nanoseconds.</summary>
internal static partial class ClockSource
{
    private const int ClockThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>True when <see cref="ExecutionClock.ThreadCpu"/> can be read on this platform.</summary>
    public static bool ThreadCpuSupported => OperatingSystem.IsLinux();

    public static long Now(ExecutionClock clock)
    {
        if (clock == ExecutionClock.WallClock) return (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
        if (!ThreadCpuSupported) throw new PlatformNotSupportedException("the thread CPU clock is read with clock_gettime(CLOCK_THREAD_CPUTIME_ID), available on Linux");
        if (ClockGetTime(ClockThreadCpuTimeId, out var t) != 0) throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        return t.Seconds * 1_000_000_000L + t.Nanoseconds;
    }
}
