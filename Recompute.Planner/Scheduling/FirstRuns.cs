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
        int n = steps.Length;
        // Per task, in step order: where a step reads it, frees it, moves it to or from the host, runs it again. A
        // move never changes these for another task (it drops a run of this one and its free, and makes a later run of
        // this one its first), so one pass over the steps decides every move, in linear time.
        var reads = new List<int>?[tasks.Length];
        var frees = new List<int>?[tasks.Length];
        var transfers = new List<int>?[tasks.Length];
        var reruns = new List<int>?[tasks.Length];
        static void Note(List<int>?[] at, int task, int position) => (at[task] ??= []).Add(position);
        for (int p = 0; p < n; p++)
        {
            var step = steps[p];
            if (step.Allocates)
                foreach (int u in tasks[step.Task].Inputs) Note(reads, u, p);
            if (step.Kind == StepKind.FreeValue) Note(frees, step.Task, p);
            else if (step.IsTransfer) Note(transfers, step.Task, p);
            else if (step.Kind == StepKind.Recompute) Note(reruns, step.Task, p);
        }
        var removed = new bool[n];
        var madeFirst = new bool[n];
        moved = 0;
        for (int p = 0; p < n; p++)
        {
            if (steps[p].Kind != StepKind.Compute && !madeFirst[p]) continue;
            int t = steps[p].Task;
            int free = After(frees[t], p);
            if (free < 0) continue;
            int read = After(reads[t], p), transfer = After(transfers[t], p);
            if ((read >= 0 && read < free) || (transfer >= 0 && transfer < free)) continue;
            int again = After(reruns[t], free);
            if (again < 0) continue;
            removed[p] = removed[free] = true;
            madeFirst[again] = true;
            moved++;
        }
        if (moved == 0) return steps;
        var result = ImmutableArray.CreateBuilder<Step>(n - 2 * moved);
        for (int p = 0; p < n; p++)
            if (!removed[p]) result.Add(madeFirst[p] ? new Step(StepKind.Compute, steps[p].Task) : steps[p]);
        return result.MoveToImmutable();
    }

    /// <summary>The first of <paramref name="positions"/> (ascending) after <paramref name="position"/>, or -1.</summary>
    private static int After(List<int>? positions, int position)
    {
        if (positions is null) return -1;
        int i = positions.BinarySearch(position + 1);
        if (i < 0) i = ~i;
        return i < positions.Count ? positions[i] : -1;
    }
}
