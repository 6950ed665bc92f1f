using System.Diagnostics;
using System.Runtime.InteropServices;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>
/// The wall-clock stop of a command (<see cref="Solvers.SolverOptions.Stop"/>): it fires at a moment of the wall
/// clock, once the thread that made it (the command's, which runs auto's members) has also had a given processor
/// time. On an idle machine, or at a load of 2 on 2 cores, that thread runs the whole time, so it fires at that
/// moment; on a machine far busier (a test suite beside other builds, load 25 on 2 cores) a command that got little
/// of the processor is not cut before its counted work has had that time, so its plan stays the one the same input
/// gives anywhere. Time the thread spends waiting for CP-SAT's own search threads counts as theirs
/// (<see cref="SolverWaits"/>). Where the thread's clock cannot be read, the process's processor time stands in.
/// </summary>
internal sealed class CommandStop : IDisposable
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How far past <c>--time-limit</c> <c>plan</c> sets auto's stop: half of the second by which a whole command may
    /// exceed the limit on an idle machine. Auto's counted shares fit the limit on the shipped graphs; on some larger
    /// graphs (DenseNet-121, Swin-T) greedy's guide and the bound together take a few tenths of a second more, and a
    /// stop at the limit itself would cut their bound short on an idle machine.
    /// </summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(0.5);

    /// <summary>
    /// Whether the process runs nothing but this command (the <c>recompute</c> executable, a benchmark's child), so
    /// that its processor time is the command's: the stop then also fires once the process has had the processor time
    /// it waits for, capped at the wall time since the stop was made. Work the command hands to other threads (the
    /// DPs' parallel loops, CP-SAT's workers) then counts even where the command's thread waits for it; a test host,
    /// whose other tests run in the same process, leaves it false.
    /// </summary>
    public static bool ProcessIsCommand { get; set; }

    private readonly CancellationTokenSource _source = new();
    private readonly Timer _timer;
    private readonly object _gate = new();
    private bool _disposed;
    // The command's thread: its processor clock (null where it cannot be read), the CP-SAT waits credited to it, and
    // the processor time at which the stop fires.
    private readonly int? _clock;
    private readonly SolverWaits _waits;
    private readonly TimeSpan _cpu;
    // The whole process (where ProcessIsCommand): its processor time at the start, the time it waits for, and the
    // wall clock that caps it.
    private readonly bool _wholeProcess;
    private readonly TimeSpan _processAtStart;
    private readonly TimeSpan _processCpu;
    private readonly Stopwatch _started;

    /// <param name="wall">From now, when it fires at the earliest.</param>
    /// <param name="cpu">The processor time, from now, it waits for beyond that.</param>
    public CommandStop(TimeSpan wall, TimeSpan cpu)
    {
        _clock = ThreadClock();
        _waits = SolverWaits.Attach();
        _cpu = Used() + cpu; // a thread that ran other commands before (a pool's) counts from here
        _processCpu = cpu;
        _processAtStart = Environment.CpuUsage.TotalTime;
        _started = Stopwatch.StartNew();
        _wholeProcess = ProcessIsCommand;
        _timer = new Timer(_ => Check(), null, wall > TimeSpan.Zero ? wall : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Auto's stop under <c>plan</c> with <c>--time-limit</c> <paramref name="limit"/>: at the limit and
    /// <see cref="Grace"/>, less what the command has taken so far and <see cref="OutputReserve"/>, once the command's
    /// thread has had that processor time (counted from <paramref name="threadAtStart"/>, its time when the command began)
    /// or, where <see cref="ProcessIsCommand"/>, once the process has had it since the stop was made.
    /// </summary>
    public static CommandStop ForAuto(TimeSpan limit, TimeSpan elapsed, TimeSpan threadAtStart, int tasks)
    {
        var reserve = OutputReserve(tasks);
        return new CommandStop(limit + Grace - elapsed - reserve, limit + Grace - reserve - (ThreadTime() - threadAtStart));
    }

    /// <summary>
    /// Time kept from auto's stop for writing the schedule and the answer: a quarter second, and a microsecond a task
    /// (the 2,000,000-task chain's schedule is 300 MB of JSON).
    /// </summary>
    public static TimeSpan OutputReserve(int tasks) => TimeSpan.FromSeconds(0.25 + tasks * 1e-6);

    public CancellationToken Token => _source.Token;

    private void Check()
    {
        lock (_gate)
        {
            if (_disposed) return;
            if (Used() >= _cpu || _wholeProcess && ProcessUsed() >= _processCpu) _source.Cancel();
            else _timer.Change(Poll, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The process's processor time since the stop was made, at most the wall time since then.</summary>
    private TimeSpan ProcessUsed()
    {
        var used = Environment.CpuUsage.TotalTime - _processAtStart;
        return used < _started.Elapsed ? used : _started.Elapsed;
    }

    /// <summary>Processor time of the thread that made the stop and of the searches it waited for, or of the process.</summary>
    private TimeSpan Used() => Read(_clock) + (_clock is null ? TimeSpan.Zero : _waits.Owed());

    /// <summary>Processor time of the calling thread so far (of the process where it cannot be read).</summary>
    public static TimeSpan ThreadTime() => Read(ThreadClock());

    private static TimeSpan Read(int? clock)
    {
        if (clock is int id && OperatingSystem.IsLinux() && ClockGetTime(id, out var ts) == 0)
            return TimeSpan.FromTicks(ts.Seconds * TimeSpan.TicksPerSecond + ts.Nanoseconds / 100);
        return Environment.CpuUsage.TotalTime;
    }

    private static int? ThreadClock()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try { return PthreadGetCpuClockId(PthreadSelf(), out int id) == 0 ? id : null; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "pthread_self")]
    private static extern nint PthreadSelf();

    [DllImport("libc", EntryPoint = "pthread_getcpuclockid")]
    private static extern int PthreadGetCpuClockId(nint thread, out int clockId);

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clockId, out TimeSpec time);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _timer.Dispose();
            _waits.Detach();
        }
        _source.Dispose();
    }
}
