using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Recompute.Planner.Solvers;

/// <summary>
/// The processor time a command's thread is owed while it waits for a native solver's own threads (CP-SAT's search
/// workers). <see cref="Planning.CommandStop"/> waits for the command's thread to have had a given processor time; a thread
/// blocked on CP-SAT gets none, so without this the stop fired late by every second spent in such searches (on an
/// idle machine, whole commands at 6.1–6.6 s under a 5 s limit).
/// </summary>
/// <remarks>
/// A wait is owed the processor time of the threads that did not exist when it began (CP-SAT starts its workers for
/// each search and joins them before it returns), at most the wait's wall time: on an idle 2-core machine a search
/// for one wall second is owed one second, as the command's thread would have had, even where its workers keep the
/// processor only part of the time (CP-SAT's interleaved workers wait for each other between batches, and load and
/// presolve a model on one thread: on Swin-T's guide, 1.2 processors on average); on a machine so busy that its
/// workers together got less than the wall time, what they got. That time is the process's processor time over the
/// wait less what the threads that were there at its start spent, so the other tests of a test host, which run in the
/// same process, are not counted. Where threads' times cannot be read (not Linux), the process's time stands in.
/// </remarks>
internal sealed class SolverWaits
{
    [ThreadStatic] private static SolverWaits? t_current;

    private readonly object _gate = new();
    private readonly SolverWaits? _previous;
    private TimeSpan _settled;
    private Wait? _open;

    private SolverWaits(SolverWaits? previous) => _previous = previous;

    /// <summary>Starts counting the calling thread's waits (until <see cref="Detach"/>).</summary>
    public static SolverWaits Attach() => t_current = new SolverWaits(t_current);

    /// <summary>Stops counting; the calling thread's earlier ledger, if any, counts again.</summary>
    public void Detach()
    {
        if (t_current == this) t_current = _previous;
    }

    /// <summary>Processor time owed so far, the wait in progress included.</summary>
    public TimeSpan Owed()
    {
        lock (_gate) return _settled + (_open is { } open ? open.Owed() : TimeSpan.Zero);
    }

    /// <summary>
    /// Marks the calling thread as waiting for a search on <paramref name="threads"/> threads of its own, until the
    /// result is disposed. Nothing is counted for a search on one thread (CP-SAT runs it on the calling thread, whose
    /// own clock counts it) or on a thread no stop watches.
    /// </summary>
    public static Scope Enter(int threads)
    {
        if (threads <= 1 || t_current is not { } ledger) return default;
        var wait = Wait.Begin();
        lock (ledger._gate)
        {
            if (ledger._open is not null) return default; // a search inside a search: the outer one already counts
            ledger._open = wait;
        }
        return new Scope(ledger, wait);
    }

    private void Close(Wait wait)
    {
        lock (_gate)
        {
            if (_open != wait) return;
            _settled += wait.Owed();
            _open = null;
        }
    }

    /// <summary>The span of one wait (<see cref="Enter"/>).</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly SolverWaits? _ledger;
        private readonly Wait? _wait;

        internal Scope(SolverWaits ledger, Wait wait) => (_ledger, _wait) = (ledger, wait);

        public void Dispose()
        {
            if (_ledger is not null && _wait is not null) _ledger.Close(_wait);
        }
    }

    internal sealed class Wait
    {
        private readonly long _startedAt;
        private readonly TimeSpan _processAtStart;
        private readonly Dictionary<int, long>? _ticksAtStart;

        private Wait(long startedAt, TimeSpan processAtStart, Dictionary<int, long>? ticksAtStart) =>
            (_startedAt, _processAtStart, _ticksAtStart) = (startedAt, processAtStart, ticksAtStart);

        public static Wait Begin()
        {
            var ticks = ThreadTicks();
            return new Wait(Stopwatch.GetTimestamp(), Environment.CpuUsage.TotalTime, ticks);
        }

        public TimeSpan Owed()
        {
            var process = Environment.CpuUsage.TotalTime - _processAtStart;
            var wall = Stopwatch.GetElapsedTime(_startedAt);
            TimeSpan created;
            if (_ticksAtStart is not null && ThreadTicks() is { } now)
            {
                long others = 0;
                foreach (var (id, before) in _ticksAtStart)
                    if (now.TryGetValue(id, out long after) && after > before) others += after - before;
                created = process - TimeSpan.FromTicks(others * TicksPerClockTick);
            }
            else created = process;
            return created <= TimeSpan.Zero ? TimeSpan.Zero : created < wall ? created : wall;
        }
    }

    /// <summary>The clock ticks (user and system) of each of the process's threads, or null where they cannot be read.</summary>
    private static Dictionary<int, long>? ThreadTicks()
    {
        if (!OperatingSystem.IsLinux() || ClockTicksPerSecond <= 0) return null;
        try
        {
            var ticks = new Dictionary<int, long>();
            foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
            {
                if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int id)) continue;
                string stat;
                try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
                catch (IOException) { continue; } // the thread ended while the directory was read
                // The command name, in parentheses, may hold spaces; the fields after it are split safely. utime and
                // stime are the 14th and 15th fields, the 12th and 13th after the name.
                int close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                if (fields.Length > 12 && long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out long user)
                    && long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out long system))
                    ticks[id] = user + system;
            }
            return ticks;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static readonly long ClockTicksPerSecond = OperatingSystem.IsLinux() ? ReadClockTicks() : 0;

    private static long TicksPerClockTick => TimeSpan.TicksPerSecond / ClockTicksPerSecond;

    private static long ReadClockTicks()
    {
        try { return SysConf(ScClkTck); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return 0; }
    }

    private const int ScClkTck = 2;

    [DllImport("libc", EntryPoint = "sysconf")]
    private static extern long SysConf(int name);
}
