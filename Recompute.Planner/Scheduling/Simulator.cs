using System.Collections.Immutable;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>The exact memory and time of a valid schedule.</summary>
/// <param name="PeakBytes">Largest number of live bytes at any step (inputs and output of a running task are all live, but for a step
/// that runs in place: its output is its source's buffer).</param>
/// <param name="PeakStep">Index of the first step at which the peak is reached.</param>
/// <param name="ForwardTime">Time of the first computation of every forward task.</param>
/// <param name="RecomputeTime">Time spent computing forward tasks again (and backward tasks again, for general schedules).</param>
/// <param name="BackwardTime">Time of the first run of every backward task.</param>
/// <param name="LiveBytes">Live bytes after each step (for timelines).</param>
public sealed record SimulationResult(long PeakBytes, int PeakStep, double ForwardTime, double RecomputeTime, double BackwardTime,
    ImmutableArray<long> LiveBytes)
{
    /// <summary>
    /// Whether the schedule fits <paramref name="budgetBytes"/>: its peak is at most that. The one test of "fits"
    /// that plans (<c>PlanResult.Feasible</c>), the solvers' candidates and the smallest-budget searches use.
    /// </summary>
    public bool Fits(long budgetBytes) => PeakBytes <= budgetBytes;

    /// <summary>Recompute time over forward time: the relative cost of the plan.</summary>
    public double Overhead => ForwardTime > 0 ? RecomputeTime / ForwardTime : 0;

    /// <summary>
    /// Recompute time over one training step without it (forward and backward): the share of the step that the plan
    /// adds, the headline overhead (for a graph without a backward pass, over the forward alone).
    /// </summary>
    /// With transfers, the stalls of waiting for them count as well: the step's length over its length without either.
    public double StepOverhead => ForwardTime + BackwardTime > 0 ? (RecomputeTime + StallSeconds) / (ForwardTime + BackwardTime) : 0;
    public double TotalTime => ForwardTime + RecomputeTime + BackwardTime;

    /// <summary>Largest number of bytes held in host memory by offloaded values (0 without transfers).</summary>
    public long HostPeakBytes { get; init; }
    /// <summary>Bytes copied to the host by offload steps.</summary>
    public long OffloadBytes { get; init; }
    /// <summary>Seconds the link spends on transfers, both directions together (latency included).</summary>
    public double TransferSeconds { get; init; }
    /// <summary>Seconds the compute stream waits for transfers.</summary>
    public double StallSeconds { get; init; }
    /// <summary>
    /// The step's length on the critical path: the compute time with the stalls of the waits (transfers run beside
    /// compute). Without transfers, <see cref="TotalTime"/>.
    /// </summary>
    public double StepSeconds => TotalTime + StallSeconds;
    /// <summary>Host bytes after each step (empty without transfers).</summary>
    public ImmutableArray<long> HostLiveBytes { get; init; } = [];
}

/// <summary>A schedule that breaks a rule; <see cref="StepIndex"/> is the first bad step (or the step count for end-of-schedule problems).</summary>
public sealed class InvalidScheduleException(int stepIndex, string reason)
    : Exception(stepIndex >= 0 ? $"step {stepIndex}: {reason}" : reason)
{
    public int StepIndex { get; } = stepIndex;
    public string Reason { get; } = reason;
}

/// <summary>
/// Replays a schedule, validates it and measures it. Rules: a task runs only when every input buffer is live
/// and its own buffer is not; <c>compute</c> is a forward task's first run, <c>recompute</c> a later one,
/// <c>backward</c> runs a backward task; a buffer is freed only while live, with the free kind matching the task;
/// at the end every task has run at least once, every buffer is freed, and the peak is within the stated budget.
/// A step adds its task's bytes, except a step that runs in place (<see cref="InPlaceSteps"/>): it takes over its
/// source's buffer, adds nothing, and the source's free right after it frees nothing.
/// Transfer steps follow the rules of <see cref="TransferState"/> (docs/offload.md).
/// </summary>
public static class Simulator
{
    /// <summary>Replays, validates and measures <paramref name="schedule"/>, and refuses it at the first step whose live
    /// memory exceeds its stated budget (<see cref="Schedule.BudgetBytes"/>).</summary>
    /// <exception cref="InvalidScheduleException">The schedule breaks a rule, or its stated budget.</exception>
    public static SimulationResult Simulate(Schedule schedule) => Replay(schedule, enforceBudget: true);

    /// <summary>
    /// Replays, validates and measures <paramref name="schedule"/> without holding it to its stated budget: a planner
    /// weighing a candidate asks <see cref="SimulationResult.Fits"/> of the result instead.
    /// </summary>
    /// <exception cref="InvalidScheduleException">The schedule breaks a rule.</exception>
    public static SimulationResult Measure(Schedule schedule) => Replay(schedule, enforceBudget: false);

    private static SimulationResult Replay(Schedule schedule, bool enforceBudget)
    {
        var tg = schedule.Training;
        var tasks = tg.Tasks;
        var live = new bool[tasks.Length];
        var ran = new bool[tasks.Length];
        long current = 0, peak = 0;
        int peakStep = -1;
        double fwd = 0, re = 0, bwd = 0;
        var trace = ImmutableArray.CreateBuilder<long>(schedule.Steps.Length);
        var transfers = schedule.HasTransfers ? new TransferState(schedule) : null;
        var inputsLive = new SharedInputs();
        // Steps that take over their source's buffer (ReLU in place): they add no bytes, and the source's free that
        // follows frees none.
        var inPlace = InPlaceSteps.Of(schedule);
        var passedOn = tg.HasInPlace ? new bool[tasks.Length] : null;
        for (int i = 0; i < schedule.Steps.Length; i++)
        {
            var step = schedule.Steps[i];
            if (step.Task < 0 || step.Task >= tasks.Length) throw new InvalidScheduleException(i, $"refers to task #{step.Task}, which does not exist");
            var t = tasks[step.Task];
            switch (step.Kind)
            {
                case StepKind.Compute or StepKind.Recompute or StepKind.Backward:
                    if (step.Kind == StepKind.Backward && t.Kind != TaskKind.Backward)
                        throw new InvalidScheduleException(i, $"'backward' of '{t.Name}', which is a forward tensor");
                    if (step.Kind != StepKind.Backward && t.Kind != TaskKind.Forward)
                        throw new InvalidScheduleException(i, $"'{Step.KindName(step.Kind)}' of '{t.Name}', which is a backward task");
                    if (step.Kind == StepKind.Compute && ran[t.Id])
                        throw new InvalidScheduleException(i, $"computes '{t.Name}' a second time; a second computation is a 'recompute'");
                    if (step.Kind == StepKind.Recompute && !ran[t.Id])
                        throw new InvalidScheduleException(i, $"recomputes '{t.Name}', which was never computed");
                    if (live[t.Id])
                        throw new InvalidScheduleException(i, $"computes '{t.Name}' while it is still live");
                    if (!inputsLive.AllLive(t.Inputs, live))
                        foreach (var p in t.Inputs)
                            if (!live[p])
                                throw new InvalidScheduleException(i, ran[p]
                                    ? $"'{t.Name}' reads '{tasks[p].Name}', which was freed"
                                    : $"'{t.Name}' reads '{tasks[p].Name}', which was never computed");
                    transfers?.Run(i, t);
                    if (t.Kind == TaskKind.Forward) { if (ran[t.Id]) re += t.Time; else fwd += t.Time; }
                    else { if (ran[t.Id]) re += t.Time; else bwd += t.Time; }
                    live[t.Id] = true; ran[t.Id] = true;
                    if (current > long.MaxValue - t.Bytes)
                        throw new GraphFormatException(tg.Graph.Source, $"simulating step {i} ('{t.Name}')", "the live memory overflows 64 bits");
                    current += t.Bytes;
                    if (inPlace[i] >= 0) { current -= tasks[inPlace[i]].Bytes; passedOn![inPlace[i]] = true; }
                    if (current > peak) { peak = current; peakStep = i; }
                    if (enforceBudget && schedule.BudgetBytes is { } b && current > b)
                        throw new InvalidScheduleException(i, $"live memory {current} bytes exceeds the stated budget of {b} bytes");
                    break;
                case StepKind.FreeValue or StepKind.FreeGrad:
                    if ((step.Kind == StepKind.FreeValue) != (t.Kind == TaskKind.Forward))
                        throw new InvalidScheduleException(i, $"'{Step.KindName(step.Kind)}' of '{t.Name}', which is a {(t.Kind == TaskKind.Forward ? "forward value" : "gradient")}");
                    if (!live[t.Id])
                        throw new InvalidScheduleException(i, ran[t.Id] ? $"frees '{t.Name}' twice" : $"frees '{t.Name}', which was never computed");
                    transfers?.Free(i, t);
                    live[t.Id] = false;
                    inputsLive.Freed(t.Id);
                    if (passedOn is not null && passedOn[t.Id]) passedOn[t.Id] = false;
                    else current -= t.Bytes;
                    break;
                case StepKind.Offload or StepKind.Wait:
                    transfers!.Step(i, step.Kind, t, live[t.Id]);
                    break;
                case StepKind.Prefetch:
                    if (live[t.Id]) throw new InvalidScheduleException(i, $"prefetches '{t.Name}', which is still live on the device");
                    transfers!.Step(i, step.Kind, t, false);
                    live[t.Id] = true;
                    current += t.Bytes;
                    if (current > peak) { peak = current; peakStep = i; }
                    if (enforceBudget && schedule.BudgetBytes is { } pb && current > pb)
                        throw new InvalidScheduleException(i, $"live memory {current} bytes exceeds the stated budget of {pb} bytes");
                    break;
                default:
                    throw new InvalidScheduleException(i, "unknown step kind");
            }
            trace.Add(current);
            transfers?.Trace();
        }
        transfers?.End(schedule.Steps.Length);
        int end = schedule.Steps.Length;
        for (int k = 0; k < tasks.Length; k++)
            if (!ran[k]) throw new InvalidScheduleException(end, $"the schedule never computes '{tasks[k].Name}'");
        for (int k = 0; k < tasks.Length; k++)
            if (live[k]) throw new InvalidScheduleException(end, $"the schedule never frees '{tasks[k].Name}'");
        // Times are sums of finite task times; a sum past double's range would print as Infinity and NaN%.
        if (!double.IsFinite(fwd + re + bwd))
            throw new GraphFormatException(tg.Graph.Source, "simulating the schedule", "the total time overflows (the tasks' times are too large)");
        var result = new SimulationResult(peak, peakStep, fwd, re, bwd, trace.MoveToImmutable());
        return transfers is null ? result : result with
        {
            HostPeakBytes = transfers.HostPeak, OffloadBytes = transfers.OffloadBytes, TransferSeconds = transfers.TransferSeconds,
            StallSeconds = transfers.StallSeconds, HostLiveBytes = transfers.HostTrace,
        };
    }

    /// <summary>
    /// Whether every input of a task is live, remembered for long inputs arrays (tasks that read the same buffers share
    /// one): an array found all live stays so until one of its members is freed, so a later task reading it checks only
    /// the frees since. W gradient tasks that each read W + 1 buffers (a W-wide Concat whose backward reads every
    /// operand) cost W² checks otherwise: 4·10⁸ at W = 20,000, seconds before any planning.
    /// </summary>
    private sealed class SharedInputs
    {
        private readonly List<int> _frees = [];
        private readonly Dictionary<int[], int> _checkedAt = new(ReferenceEqualityComparer.Instance);

        public void Freed(int task) => _frees.Add(task);

        public bool AllLive(ImmutableArray<int> inputs, bool[] live)
        {
            var array = System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsArray(inputs);
            if (array is null || array.Length < TrainingGraph.SharedInputsLength)
            {
                foreach (int p in inputs) if (!live[p]) return false;
                return true;
            }
            if (!_checkedAt.TryGetValue(array, out int at))
            {
                for (int k = 1; k < array.Length; k++)
                    if (array[k] <= array[k - 1]) { _checkedAt[array] = at = -1; break; } // not sorted: always checked in full
                if (at != -1) at = int.MinValue;
            }
            if (at == -1)
            {
                foreach (int p in array) if (!live[p]) return false;
                return true;
            }
            if (at >= 0 && _frees.Count - at < array.Length)
            {
                // Inputs arrays are sorted: a free since then concerns this array when it is a member.
                for (int f = at; f < _frees.Count; f++)
                    if (!live[_frees[f]] && Array.BinarySearch(array, _frees[f]) >= 0) return false;
            }
            else
                foreach (int p in array) if (!live[p]) return false;
            _checkedAt[array] = _frees.Count;
            return true;
        }
    }
}
