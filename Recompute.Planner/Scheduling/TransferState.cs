using System.Collections.Immutable;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>
/// The simulator's bookkeeping for offload, prefetch and wait steps, and the clock of the compute stream.
/// Rules (each broken one is an <see cref="InvalidScheduleException"/> at its step):
/// <list type="bullet">
/// <item>only a forward value that owns its buffer (not a view) is offloaded, while it is live on the device, once per
/// host copy, and not while its prefetch is in flight;</item>
/// <item>its device copy is freed only after a wait on the offload;</item>
/// <item>a prefetch needs a host copy whose offload was waited on, and the value not live on the device; it allocates
/// the device buffer at once;</item>
/// <item>nothing reads a prefetched value, and nothing frees it, before the wait on the prefetch; that wait frees
/// the host copy;</item>
/// <item>a wait names a tensor with a transfer in flight;</item>
/// <item>at the end no transfer is in flight and no host copy is left; host memory stays within the stated host budget.</item>
/// </list>
/// Time: compute steps run one after another on the compute stream; each direction of the link runs its transfers in
/// the order they are started, each from the later of its start step and the end of the previous one, taking latency
/// plus bytes over bandwidth; a wait moves the compute stream to the end of the transfer when that is later.
/// </summary>
internal sealed class TransferState
{
    private readonly Schedule _schedule;
    private readonly HostLink _link;
    private readonly long? _hostBudget;
    private readonly bool[] _hostCopy;
    private readonly bool[] _offloading;
    private readonly bool[] _prefetching;
    private readonly double[] _finish;
    private double _now, _toHostFree, _toDeviceFree;
    private long _host;
    private readonly ImmutableArray<long>.Builder _hostTrace;

    public TransferState(Schedule schedule)
    {
        _schedule = schedule;
        int n = schedule.Training.Count;
        int first = schedule.Steps.IndexOf(schedule.Steps.First(s => s.IsTransfer));
        _link = schedule.Link ?? throw new InvalidScheduleException(first,
            $"'{Scheduling.Step.KindName(schedule.Steps[first].Kind)}' needs a device–host link, and the schedule names none (give --offload BANDWIDTH)");
        if (schedule.Training.Graph.TimeUnit != "s")
            throw new InvalidScheduleException(first,
                $"transfers are timed in seconds, and the graph's times are {Units.TimeUnits.Describe(schedule.Training.Graph.TimeUnit)} (plan with --device)");
        _hostBudget = schedule.HostBudgetBytes;
        _hostCopy = new bool[n];
        _offloading = new bool[n];
        _prefetching = new bool[n];
        _finish = new double[n];
        _hostTrace = ImmutableArray.CreateBuilder<long>(schedule.Steps.Length);
    }

    public long HostPeak { get; private set; }
    public long OffloadBytes { get; private set; }
    public double TransferSeconds { get; private set; }
    public double StallSeconds { get; private set; }
    public ImmutableArray<long> HostTrace => _hostTrace.ToImmutable();

    private string Name(int task) => _schedule.Training.Tasks[task].Name;

    /// <summary>A compute, recompute or backward step: its inputs must not be in flight; the compute stream runs it.</summary>
    public void Run(int index, TrainingTask task)
    {
        foreach (int p in task.Inputs)
            if (_prefetching[p])
                throw new InvalidScheduleException(index, $"'{task.Name}' reads '{Name(p)}' before the wait on its prefetch");
        _now += task.Time;
    }

    /// <summary>A free-value or free-grad step.</summary>
    public void Free(int index, TrainingTask task)
    {
        if (_offloading[task.Id])
            throw new InvalidScheduleException(index, $"frees '{task.Name}' while its offload is in flight (wait for it first)");
        if (_prefetching[task.Id])
            throw new InvalidScheduleException(index, $"frees '{task.Name}' while its prefetch is in flight");
    }

    /// <summary>An offload, prefetch or wait step; <paramref name="live"/>: the value is live on the device.</summary>
    public void Step(int index, StepKind kind, TrainingTask task, bool live)
    {
        string what = Verb(kind);
        if (kind != StepKind.Wait && task.Kind != TaskKind.Forward)
            throw new InvalidScheduleException(index, $"{what} '{task.Name}', which is a gradient (only forward values move to the host)");
        switch (kind)
        {
            case StepKind.Offload:
                if (_schedule.Training.ViewOf(task.Node) is not null)
                    throw new InvalidScheduleException(index, $"offloads '{task.Name}', a view that owns no buffer (offload its base)");
                if (!live) throw new InvalidScheduleException(index, $"offloads '{task.Name}', which is not live on the device");
                if (_prefetching[task.Id]) throw new InvalidScheduleException(index, $"offloads '{task.Name}' while its prefetch is in flight");
                if (_hostCopy[task.Id]) throw new InvalidScheduleException(index, $"offloads '{task.Name}' a second time: its host copy exists");
                _hostCopy[task.Id] = _offloading[task.Id] = true;
                _finish[task.Id] = _toHostFree = Transfer(_toHostFree, task.Bytes);
                OffloadBytes += task.Bytes;
                _host += task.Bytes;
                if (_host > HostPeak) HostPeak = _host;
                if (_hostBudget is { } h && _host > h)
                    throw new InvalidScheduleException(index, $"host memory {_host} bytes exceeds the stated host budget of {h} bytes");
                break;
            case StepKind.Prefetch:
                if (!_hostCopy[task.Id]) throw new InvalidScheduleException(index, $"prefetches '{task.Name}', which has no host copy (it was never offloaded, or was brought back already)");
                if (_offloading[task.Id]) throw new InvalidScheduleException(index, $"prefetches '{task.Name}' before the wait on its offload");
                _prefetching[task.Id] = true;
                _finish[task.Id] = _toDeviceFree = Transfer(_toDeviceFree, task.Bytes);
                break;
            case StepKind.Wait:
                if (!_offloading[task.Id] && !_prefetching[task.Id])
                    throw new InvalidScheduleException(index, $"waits on '{task.Name}', which has no transfer in flight");
                if (_finish[task.Id] > _now) { StallSeconds += _finish[task.Id] - _now; _now = _finish[task.Id]; }
                if (_prefetching[task.Id]) { _prefetching[task.Id] = false; _hostCopy[task.Id] = false; _host -= task.Bytes; }
                else _offloading[task.Id] = false;
                break;
        }
    }

    private static string Verb(StepKind kind) => kind switch { StepKind.Offload => "offloads", StepKind.Prefetch => "prefetches", _ => "waits on" };

    /// <summary>Starts a transfer on a direction of the link that is free from <paramref name="free"/>; returns its end.</summary>
    private double Transfer(double free, long bytes)
    {
        double seconds = _link.LatencySeconds + bytes / _link.BytesPerSecond;
        TransferSeconds += seconds;
        if (_link.Blocking)
        {
            // The copy runs on the compute stream: the step waits for all of it, and it is done when the step goes on.
            _now += seconds;
            StallSeconds += seconds;
            return _now;
        }
        return Math.Max(_now, free) + seconds;
    }

    public void Trace() => _hostTrace.Add(_host);

    /// <summary>End of the schedule: nothing in flight, nothing left on the host.</summary>
    public void End(int end)
    {
        for (int t = 0; t < _hostCopy.Length; t++)
        {
            if (_offloading[t] || _prefetching[t]) throw new InvalidScheduleException(end, $"the transfer of '{Name(t)}' is never waited on");
            if (_hostCopy[t]) throw new InvalidScheduleException(end, $"the host copy of '{Name(t)}' is never brought back (prefetched)");
        }
    }
}
