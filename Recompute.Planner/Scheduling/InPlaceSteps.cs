using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>
/// Which steps of a schedule run in place (ReLU in place): the one rule the simulator, the runtime's executor and the
/// planners' own accounting share. A compute, recompute or backward step of a task with an in-place source
/// (<see cref="TrainingGraph.InPlaceSource"/>) runs in place when the source is live, is freed in the run of free
/// steps right after this step (so nothing reads it later), and has no transfer in flight (no offload or prefetch
/// not yet waited on). Such a step adds no bytes: the source's buffer becomes the task's, and the source's free that
/// follows frees nothing.
/// </summary>
public static class InPlaceSteps
{
    /// <summary>Per step of <paramref name="schedule"/>, the task whose buffer it takes over, or -1.</summary>
    public static int[] Of(Schedule schedule) => Of(schedule.Training, schedule.Steps);

    /// <summary>Per step, the task whose buffer it takes over, or -1 (steps over <paramref name="training"/>'s tasks).</summary>
    public static int[] Of(TrainingGraph training, IReadOnlyList<Step> steps)
    {
        var result = new int[steps.Count];
        Array.Fill(result, -1);
        if (!training.HasInPlace) return result;
        int n = training.Count;
        var live = new bool[n];
        var inFlight = new bool[n];
        for (int i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            if ((uint)step.Task >= (uint)n) continue; // the simulator names the bad step
            switch (step.Kind)
            {
                case StepKind.Compute or StepKind.Recompute or StepKind.Backward:
                    int source = training.InPlaceSource(step.Task);
                    if (source >= 0 && live[source] && !inFlight[source] && FreedRightAfter(steps, i, source)) result[i] = source;
                    live[step.Task] = true;
                    break;
                case StepKind.FreeValue or StepKind.FreeGrad:
                    live[step.Task] = false;
                    break;
                case StepKind.Offload:
                    inFlight[step.Task] = true;
                    break;
                case StepKind.Prefetch:
                    live[step.Task] = true;
                    inFlight[step.Task] = true;
                    break;
                case StepKind.Wait:
                    inFlight[step.Task] = false;
                    break;
            }
        }
        return result;
    }

    /// <summary>Whether the run of free steps right after step <paramref name="at"/> frees <paramref name="task"/>.</summary>
    private static bool FreedRightAfter(IReadOnlyList<Step> steps, int at, int task)
    {
        for (int j = at + 1; j < steps.Count && steps[j].Frees; j++)
            if (steps[j].Task == task) return true;
        return false;
    }
}
