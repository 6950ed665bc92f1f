using System.Collections.Immutable;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>
/// Whether a schedule honours the pins of <c>--keep</c> and <c>--recompute</c>, read from its steps (every solver's
/// schedule is checked by the planner, so no solver can ignore a pin silently).
/// </summary>
/// <remarks>
/// <para><c>--keep t</c>: t is never recomputed (no recompute step of its forward task, and no backward task of it
/// run twice).</para>
/// <para><c>--recompute t</c>: t's value is not live at the end of the forward pass, that is when the first step
/// that allocates after the last first computation of a forward tensor runs (the frees that follow the forward pass
/// come first). A schedule that runs a gradient before the forward pass has ended (a loss's gradient reads nothing,
/// so an order may start with it) is judged by the same point: the first backward step alone would let t be kept
/// through a backward pass that starts before it is even computed.</para>
/// </remarks>
internal static class PinCheck
{
    /// <summary>The first pin the schedule breaks, as a phrase (<c>recomputes 'h', pinned by --keep</c>), or null.</summary>
    public static string? Violation(Schedule schedule, ImmutableHashSet<int> keep, ImmutableHashSet<int> forceRecompute)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var tasks = schedule.Training.Tasks;
        var steps = schedule.Steps;
        if (!keep.IsEmpty)
        {
            var ranBackward = new HashSet<int>();
            foreach (var s in steps)
            {
                var t = tasks[s.Task];
                if (!keep.Contains(t.Node)) continue;
                if (s.Kind == StepKind.Recompute || (s.Kind == StepKind.Backward && !ranBackward.Add(s.Task)))
                    return $"recomputes '{schedule.Training.Graph[t.Node].Name}', pinned by --keep";
            }
        }
        if (forceRecompute.IsEmpty || !steps.Any(s => s.Kind == StepKind.Backward)) return null;
        int lastCompute = -1;
        for (int i = 0; i < steps.Length; i++) if (steps[i].Kind == StepKind.Compute) lastCompute = i;
        int end = lastCompute + 1;
        while (end < steps.Length && !steps[end].Allocates) end++;
        var live = new bool[tasks.Length];
        for (int i = 0; i < end; i++) live[steps[i].Task] = steps[i].Allocates;
        for (int k = 0; k < tasks.Length; k++)
            if (live[k] && tasks[k].Kind == TaskKind.Forward && forceRecompute.Contains(tasks[k].Node))
                return $"keeps '{schedule.Training.Graph[tasks[k].Node].Name}' from the forward pass into the backward pass, pinned by --recompute";
        return null;
    }
}
