using System.Collections.Immutable;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>The kinds of step of a schedule.</summary>
public enum StepKind
{
    /// <summary>First computation of a forward tensor.</summary>
    Compute,
    /// <summary>Computation of a forward tensor that was computed and freed before.</summary>
    Recompute,
    /// <summary>A backward task: computes the gradient of a tensor (for explicit graphs: runs a backward node).</summary>
    Backward,
    /// <summary>Releases the value of a forward tensor.</summary>
    FreeValue,
    /// <summary>Releases a gradient (the buffer of a backward task).</summary>
    FreeGrad,
    /// <summary>
    /// Starts copying a live forward value to host memory over the device-to-host link (the host copy is allocated now).
    /// The device copy stays live until a <see cref="FreeValue"/>, which may come only after a <see cref="Wait"/> on it.
    /// </summary>
    Offload,
    /// <summary>
    /// Allocates the device buffer of an offloaded value that is not live and starts copying it back over the
    /// host-to-device link. Nothing may read it before a <see cref="Wait"/> on it; that wait frees the host copy.
    /// </summary>
    Prefetch,
    /// <summary>Stalls the compute stream until the transfer in flight of the tensor (offload or prefetch) has finished.</summary>
    Wait,
}

/// <summary>One step of a schedule, over a task of the <see cref="TrainingGraph"/>.</summary>
public readonly record struct Step(StepKind Kind, int Task)
{
    public bool Allocates => Kind is StepKind.Compute or StepKind.Recompute or StepKind.Backward;
    public bool Frees => Kind is StepKind.FreeValue or StepKind.FreeGrad;
    /// <summary>An offload, prefetch or wait: a step of a schedule that uses host memory (schedule file version 2).</summary>
    public bool IsTransfer => Kind is StepKind.Offload or StepKind.Prefetch or StepKind.Wait;

    public static string KindName(StepKind k) => k switch
    {
        StepKind.Compute => "compute",
        StepKind.Recompute => "recompute",
        StepKind.Backward => "backward",
        StepKind.FreeValue => "free-value",
        StepKind.FreeGrad => "free-grad",
        StepKind.Offload => "offload",
        StepKind.Prefetch => "prefetch",
        StepKind.Wait => "wait",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    public static bool TryParseKind(string s, out StepKind kind)
    {
        switch (s)
        {
            case "compute": kind = StepKind.Compute; return true;
            case "recompute": kind = StepKind.Recompute; return true;
            case "backward": kind = StepKind.Backward; return true;
            case "free-value": kind = StepKind.FreeValue; return true;
            case "free-grad": kind = StepKind.FreeGrad; return true;
            case "offload": kind = StepKind.Offload; return true;
            case "prefetch": kind = StepKind.Prefetch; return true;
            case "wait": kind = StepKind.Wait; return true;
            default: kind = default; return false;
        }
    }
}

/// <summary>An explicit, linear training schedule over the tasks of a <see cref="TrainingGraph"/>.</summary>
/// <param name="Solver">Name of the solver that produced it (or "file" for a schedule read from elsewhere).</param>
/// <param name="BudgetBytes">The budget the schedule was planned for, or null when none was stated.</param>
public sealed record Schedule(TrainingGraph Training, ImmutableArray<Step> Steps, string Solver, long? BudgetBytes)
{
    /// <summary>The device–host link the transfer steps run on (required when there are any; see <see cref="Simulator"/>).</summary>
    public HostLink? Link { get; init; }

    /// <summary>Host memory available for offloaded values, or null for no limit.</summary>
    public long? HostBudgetBytes { get; init; }

    /// <summary>True when the schedule has offload, prefetch or wait steps.</summary>
    public bool HasTransfers => Steps.Any(s => s.IsTransfer);

    /// <summary>Forward tensors (graph node ids) that the schedule offloads at least once, in node order.</summary>
    public ImmutableArray<int> OffloadedNodes => Steps.Where(s => s.Kind == StepKind.Offload)
        .Select(s => Training.Tasks[s.Task].Node).Distinct().Order().ToImmutableArray();

    /// <summary>Forward tensors (graph node ids) that the schedule recomputes at least once, in node order.</summary>
    public ImmutableArray<int> RecomputedNodes => Steps.Where(s => s.Kind == StepKind.Recompute)
        .Select(s => Training.Tasks[s.Task].Node).Distinct().Order().ToImmutableArray();
}
