using System.Diagnostics;

namespace Recompute.Benchmarks;

/// <summary>Best-of-N wall-clock timing for quick tables (the minimum is the least disturbed by other load).</summary>
public static class QuickTimer
{
    /// <summary>Runs <paramref name="action"/> once to warm up, then repeatedly for about
    /// <paramref name="seconds"/> (at least 3 times) and returns the fastest run in seconds.</summary>
    public static double Best(Action action, double seconds)
    {
        action();
        var total = Stopwatch.StartNew();
        double best = double.MaxValue;
        int runs = 0;
        while (runs < 3 || total.Elapsed.TotalSeconds < seconds)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
            runs++;
        }
        return best;
    }

    /// <summary>Like <see cref="Best"/> but measures the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
    /// which excludes time spent descheduled on a loaded machine. Only meaningful for single-threaded work; returns
    /// NaN where the clock is unavailable.</summary>
    public static double BestCpu(Action action, double seconds)
    {
        if (!Recompute.Runtime.Execution.ClockSource.ThreadCpuSupported)
            return double.NaN;
        action();
        var total = Stopwatch.StartNew();
        double best = double.MaxValue;
        int runs = 0;
        while (runs < 3 || total.Elapsed.TotalSeconds < seconds)
        {
            double start = ThreadCpuSeconds();
            action();
            best = Math.Min(best, ThreadCpuSeconds() - start);
            runs++;
        }
        return best;
    }

    private static double ThreadCpuSeconds() =>
        Recompute.Runtime.Execution.ClockSource.Now(Recompute.Runtime.Execution.ExecutionClock.ThreadCpu) * 1e-9;
}
