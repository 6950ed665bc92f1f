using Recompute.Planner.Graph;
using Recompute.Planner.Units;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A budget every schedule needs, whatever it recomputes: a task's inputs and its output are live together while
/// it runs, so no schedule peaks below the largest such sum. A task that may run in place
/// (<see cref="TrainingGraph.InPlaceSource"/>) counts its output in its source's buffer, so its sum leaves out the
/// source's bytes (<see cref="TrainingGraph.InPlaceSaving"/>), the least any of its steps can hold.
/// <see cref="Task"/> is the task that sets it.
/// </summary>
/// <param name="Task">The task whose inputs and output are largest together.</param>
/// <param name="Bytes">Its inputs' bytes plus its output's bytes, less its in-place saving.</param>
internal sealed record MemoryLowerBound(TrainingTask Task, long Bytes)
{
    public static MemoryLowerBound Of(TrainingGraph training)
    {
        if (training.Count == 0) throw new ArgumentException("the training graph has no tasks", nameof(training));
        TrainingTask best = training.Tasks[0];
        long bestBytes = -1;
        // Tasks that read the same buffers share one inputs array (a wide Concat's gradients): it is summed once.
        var sums = new Dictionary<int[], long>(ReferenceEqualityComparer.Instance);
        foreach (var t in training.Tasks)
        {
            var inputs = System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsArray(t.Inputs) ?? [];
            if (!sums.TryGetValue(inputs, out long read))
            {
                foreach (int p in inputs) read = checked(read + training.Tasks[p].Bytes);
                if (inputs.Length >= TrainingGraph.SharedInputsLength) sums[inputs] = read;
            }
            long sum = checked(t.Bytes + read) - training.InPlaceSaving(t.Id);
            if (sum > bestBytes) { best = t; bestBytes = sum; }
        }
        return new MemoryLowerBound(best, bestBytes);
    }

    /// <summary>The explanation in a user's terms, e.g. "task 'conv5_3' needs its 2 inputs and its output, 3.1 GiB, live at once"
    /// (for a task in place, "its input, its output in place of it").</summary>
    public string Explain(TrainingGraph training)
    {
        int inputs = Task.Inputs.Length;
        bool inPlace = training.InPlaceSource(Task.Id) >= 0;
        string what = (inputs, inPlace) switch
        {
            (0, _) => "its output",
            (1, false) => "its input and its output",
            (1, true) => "its input, its output in place of it",
            (_, false) => $"its {inputs} inputs and its output",
            (_, true) => $"its {inputs} inputs, its output in place of '{training.Tasks[training.InPlaceSource(Task.Id)].Name}'",
        };
        string kind = Task.Kind == TaskKind.Backward ? "backward task" : "node";
        string example = inputs > 0 ? $" (largest input '{training.Tasks[Task.Inputs.MaxBy(p => training.Tasks[p].Bytes)].Name}')" : "";
        return $"{kind} '{Task.Name}' needs {what}{example}, {ByteSize.Format(Bytes)} ({Bytes} bytes), live at once";
    }
}
