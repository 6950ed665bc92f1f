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
}
