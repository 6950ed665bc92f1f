using System.Collections.Immutable;
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
}

/// <summary>One step of a schedule, over a task of the <see cref="TrainingGraph"/>.</summary>
public readonly record struct Step(StepKind Kind, int Task)
{
    public bool Allocates => Kind is StepKind.Compute or StepKind.Recompute or StepKind.Backward;
    public bool Frees => Kind is StepKind.FreeValue or StepKind.FreeGrad;

    public static string KindName(StepKind k) => k switch
    {
        StepKind.Compute => "compute",
        StepKind.Recompute => "recompute",
        StepKind.Backward => "backward",
        StepKind.FreeValue => "free-value",
        StepKind.FreeGrad => "free-grad",
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
            default: kind = default; return false;
        }
    }
}

/// <summary>An explicit, linear training schedule over the tasks of a <see cref="TrainingGraph"/>.</summary>
/// <param name="Solver">Name of the solver that produced it (or "file" for a schedule read from elsewhere).</param>
/// <param name="BudgetBytes">The budget the schedule was planned for, or null when none was stated.</param>
public sealed record Schedule(TrainingGraph Training, ImmutableArray<Step> Steps, string Solver, long? BudgetBytes)
{
    /// <summary>Forward tensors (graph node ids) that the schedule recomputes at least once, in node order.</summary>
    public ImmutableArray<int> RecomputedNodes => Steps.Where(s => s.Kind == StepKind.Recompute)
        .Select(s => Training.Tasks[s.Task].Node).Distinct().Order().ToImmutableArray();
}
