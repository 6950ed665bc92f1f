using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// Fork-join over threads that live as long as the process, for the kernels. A training step runs thousands of short
/// kernels one after another; <c>Parallel.For</c> allocates its replication machinery on every call and wakes pool
/// threads that have gone to sleep, which costs more than many of the kernels themselves. Here the helpers stay awake
/// for a millisecond after a job (spinning 50 µs, then yielding the core between checks), so the next kernel finds
/// them awake even after the executor's own work between two ops (waking a sleeping thread takes tens of
/// microseconds, more in a virtual machine), and a job allocates nothing of its own.
/// </summary>
/// <remarks>
/// One job runs at a time. A call made while another job runs (from a second session on another thread) or from inside
/// a job runs serially on its own thread: results never depend on which thread runs an index, so that changes only speed.
/// Indices are claimed one at a time from a shared counter, so uneven work balances itself.
/// </remarks>
internal static unsafe class WorkerPool
{
    private static readonly object Gate = new();
    private static readonly long SpinTicks = Stopwatch.Frequency / 1_000;
    private static readonly long HotSpinTicks = Stopwatch.Frequency / 20_000;
    private static Thread[] _threads = [];
    private static int _busy, _generation, _next, _count, _helpers, _pending;
    // The running job: its body (a struct on the forking thread's stack, which waits until every index is done)
    // and the instantiation of Invoke that calls it.
    private static void* _body;
    private static delegate*<void*, int, void> _invoke;
    private static Exception? _error;

    [ThreadStatic] private static bool t_inJob;

    /// <summary>Runs <paramref name="body"/>(i) for every i in [0, <paramref name="count"/>) on up to <paramref name="degree"/> threads.</summary>
    public static void For(int count, int degree, Action<int> body) => For(count, degree, new ActionBody(body));

    /// <summary>Runs <paramref name="body"/>.Run(i) for every i in [0, <paramref name="count"/>) on up to
    /// <paramref name="degree"/> threads. A struct body is called through a function pointer, so a fork allocates
    /// nothing (a lambda would allocate its closure and delegate on every call).</summary>
    public static void For<T>(int count, int degree, T body) where T : struct, IIndexBody
    {
        degree = Math.Min(degree, count);
        if (degree <= 1 || t_inJob || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) body.Run(i);
            return;
        }
        try
        {
            EnsureThreads(degree - 1);
            _body = Unsafe.AsPointer(ref body);
            _invoke = &Invoke<T>;
            _count = count;
            _next = 0;
            _error = null;
            _helpers = degree - 1;
            Volatile.Write(ref _pending, degree - 1);
            lock (Gate)
            {
                _generation++;
                Monitor.PulseAll(Gate);
            }
            Work();
            // Never Thread.Sleep(1) here (SpinWait's default after a few rounds): a kernel takes tens of microseconds.
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
        }
        finally
        {
            _body = null;
            _invoke = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    private static void Invoke<T>(void* body, int index) where T : struct, IIndexBody => Unsafe.AsRef<T>(body).Run(index);

    private static void Work()
    {
        void* body = _body;
        var invoke = _invoke;
        int count = _count;
        t_inJob = true;
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < count) invoke(body, i);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
            Volatile.Write(ref _next, count);
        }
        finally
        {
            t_inJob = false;
        }
    }

    private readonly struct ActionBody(Action<int> body) : IIndexBody
    {
        public void Run(int index) => body(index);
    }

    private static void EnsureThreads(int helpers)
    {
        if (_threads.Length >= helpers) return;
        lock (Gate)
        {
            var threads = _threads;
            if (threads.Length >= helpers) return;
            var grown = new Thread[helpers];
            threads.CopyTo(grown, 0);
            for (int index = threads.Length; index < helpers; index++)
            {
                int me = index, seen = _generation;
                grown[index] = new Thread(() => Helper(me, seen)) { IsBackground = true, Name = $"recompute-kernel-{index + 1}" };
                grown[index].Start();
            }
            _threads = grown;
        }
    }

    private static void Helper(int index, int seen)
    {
        while (true)
        {
            seen = AwaitJob(seen);
            if (index >= _helpers) continue;
            Work();
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>
    /// Waits for a generation after <paramref name="seen"/>: spinning for <see cref="HotSpinTicks"/>, then yielding the
    /// core between checks until <see cref="SpinTicks"/> (a thread that has work gets the core, and an idle core finds
    /// the next job within microseconds), then asleep on the gate.
    /// </summary>
    private static int AwaitJob(int seen)
    {
        long start = Stopwatch.GetTimestamp(), hot = start + HotSpinTicks, until = start + SpinTicks;
        int generation;
        while ((generation = Volatile.Read(ref _generation)) == seen)
        {
            long now = Stopwatch.GetTimestamp();
            if (now > until)
            {
                lock (Gate)
                {
                    while ((generation = _generation) == seen) Monitor.Wait(Gate);
                }
                break;
            }
            if (now < hot) Thread.SpinWait(20);
            else Thread.Yield();
        }
        return generation;
    }
}

/// <summary>The work of one index of a <see cref="WorkerPool"/> job.</summary>
internal interface IIndexBody
{
    void Run(int index);
}

/// <summary>The work of one chunk [start, end) of a <see cref="ParallelRanges"/> split.</summary>
internal interface IRangeBody
{
    void Run(int start, int end);
}
