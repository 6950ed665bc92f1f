using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>
/// Greedy with a device–host link: when memory runs out and the victim is a forward value computed once, it may be
/// offloaded instead of dropped, when the stall its copies would add is less than the time of recomputing it (with
/// its inputs that are gone too). An offloaded value comes back by a prefetch, which needs none of its inputs; each
/// value moves at most once, and is recomputed like any other if evicted again.
/// </summary>
internal sealed partial class GreedyRematerializer
{
    private HostLink? _link;
    /// <summary>Values evicted by offloading whose host copy has not been brought back yet.</summary>
    private bool[]? _onHost;
    /// <summary>Values that have moved once (offloaded, or brought back).</summary>
    private bool[]? _moved;
    /// <summary>Values run more than once so far (only a first computation is offloaded: its copy starts after it).</summary>
    private bool[]? _ranAgain;
    /// <summary>Per value: the index in <see cref="_steps"/> of its first computation.</summary>
    private int[]? _computedAt;
    /// <summary>Compute seconds before each step of <see cref="_steps"/> seen so far (prefetches take none).</summary>
    private readonly List<double> _clock = [0];

    private bool OnHost(int t) => _onHost is not null && _onHost[t];

    /// <summary>A run of <paramref name="k"/> is its prefetch when its copy is on the host (the copy is then used up).</summary>
    private bool BackFromHost(int k)
    {
        if (!OnHost(k)) return false;
        _onHost![k] = false;
        return true;
    }

    /// <summary>Brings the clock and the per-value records up to the steps emitted so far.</summary>
    private void CatchUp()
    {
        for (int i = _clock.Count - 1; i < _steps.Count; i++)
        {
            var s = _steps[i];
            _clock.Add(_clock[i] + (s.Kind == StepKind.Prefetch ? 0 : _training.Tasks[s.Task].Time));
            if (s.Kind == StepKind.Compute && _computedAt![s.Task] < 0) _computedAt[s.Task] = i;
            else if (s.Kind == StepKind.Recompute) _ranAgain![s.Task] = true;
        }
    }

    /// <summary>
    /// Whether the victim goes to the host rather than away: a forward value that owns a buffer, computed once, read
    /// by backward, not moved before, whose copies cost less stall than its recomputation. The stall is priced as the
    /// copy out not yet hidden by the compute since the value was made, plus the copy back in full (it starts when the
    /// value is needed); the simulator times the schedule.
    /// </summary>
    private bool OffloadsInstead(int victim)
    {
        if (_link is null) return false;
        var task = _training.Tasks[victim];
        if (task.Kind != TaskKind.Forward || task.Bytes == 0 || _neverRecompute[victim] || _moved![victim]
            || _training.ViewOf(task.Node) is not null) return false;
        CatchUp();
        if (_ranAgain![victim] || _computedAt![victim] < 0) return false;
        bool readByBackward = false;
        foreach (int r in _training.Readers(victim)) if (_training.Tasks[r].Kind == TaskKind.Backward) { readByBackward = true; break; }
        if (!readByBackward) return false;
        double copy = _link.LatencySeconds + task.Bytes / _link.BytesPerSecond;
        double hidden = _clock[^1] - _clock[_computedAt[victim] + 1];
        double stall = Math.Max(0, copy - hidden) + copy;
        if (stall >= RecomputeCost(task)) return false;
        _onHost![victim] = true;
        _moved[victim] = true;
        return true;
    }

    /// <summary>
    /// The greedy pass with offloading over <paramref name="link"/>: its steps, where a <see cref="StepKind.Prefetch"/>
    /// marks the value brought back from the host at that point (<see cref="OffloadLowering.LowerMarked"/> places the
    /// copies, waits and frees), or null when it does not fit.
    /// </summary>
    public static List<Step>? PlanWithOffload(TrainingGraph training, IReadOnlyList<int> order, long budget, EvictionScore score,
        bool[] neverRecompute, HostLink link, out string? failure, CancellationToken cancellation = default)
    {
        int n = training.Count;
        var g = new GreedyRematerializer(training, order.ToArray(), budget, score, neverRecompute, cancellation)
        {
            _link = link, _onHost = new bool[n], _moved = new bool[n], _ranAgain = new bool[n], _computedAt = new int[n],
        };
        Array.Fill(g._computedAt, -1);
        bool ok = g.Run(null);
        failure = g._failure;
        return ok ? g._steps : null;
    }
}
