namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// Cancels a source after a delay from a dedicated thread. <c>CancelAfter</c> relies on a thread-pool timer callback,
/// which can wait for many seconds when the pool is busy (seen under the test host while the DP's parallel loops ran):
/// the exact DP's share of the time limit must hold however busy the pool is. A zero delay cancels at once.
/// </summary>
internal sealed class Deadline : IDisposable
{
    private readonly ManualResetEventSlim _done = new();
    private readonly Thread? _thread;

    private Deadline(CancellationTokenSource source, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero) { source.Cancel(); return; }
        if (delay >= TimeSpan.FromDays(20)) return;
        _thread = new Thread(() =>
        {
            if (!_done.Wait(delay)) source.Cancel();
        }) { IsBackground = true, Name = "recompute deadline" };
        _thread.Start();
    }

    public static Deadline Start(CancellationTokenSource source, TimeSpan delay) => new(source, delay);

    /// <summary>Stops the thread before the source is disposed (so it never cancels a disposed source).</summary>
    public void Dispose()
    {
        _done.Set();
        _thread?.Join();
        _done.Dispose();
    }
}
