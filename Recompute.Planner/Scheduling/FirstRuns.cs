using System.Collections.Immutable;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>
/// First runs moved to where they are needed. A <c>compute</c> step is a forward task's first run wherever it comes
/// (<see cref="Simulator"/>), so a buffer that a schedule computes and frees before anything reads it, and runs again
/// later for its readers, pays its time twice for nothing: a Dropout mask or a LayerNormalization statistic, which only
/// the backward pass reads, computed in the forward pass and dropped there. The cut relaxation's bound counts such a
/// first run where the backward pass needs it (its F variables), so a plan that does not is above the bound by them.
/// </summary>
internal static class FirstRuns
{
    /// <summary>
    /// <paramref name="steps"/> with every first run that is freed before any step reads it (and before any transfer
    /// of it) removed with that free, and the task's next <c>recompute</c> made its first run. Each such move lowers the
    /// recompute time by the task's time and never raises the live memory of any step (the buffer is live at fewer
    /// steps; every other step reads and holds what it did, and the moved run reads the same live inputs).
    /// </summary>
    /// <param name="moved">How many first runs were moved.</param>
    public static ImmutableArray<Step> Defer(TrainingGraph training, ImmutableArray<Step> steps, out int moved)
    {
        var tasks = training.Tasks;
        var list = steps.ToList();
        moved = 0;
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Kind != StepKind.Compute) continue;
            int t = list[i].Task;
            int free = -1;
            for (int j = i + 1; j < list.Count; j++)
            {
                var s = list[j];
                if (s.Kind == StepKind.FreeValue && s.Task == t) { free = j; break; }
                if ((s.Allocates && tasks[s.Task].Inputs.IndexOf(t) >= 0) || (s.IsTransfer && s.Task == t)) break;
            }
            if (free < 0) continue;
            int again = -1;
            for (int j = free + 1; j < list.Count && again < 0; j++)
                if (list[j].Task == t && list[j].Kind == StepKind.Recompute) again = j;
            if (again < 0) continue;
            list[again] = new Step(StepKind.Compute, t);
            list.RemoveAt(free);
            list.RemoveAt(i);
            moved++;
            i--;
        }
        return [.. list];
    }
}
