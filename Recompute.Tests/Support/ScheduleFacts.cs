using Recompute.Planner.Scheduling;

namespace Recompute.Tests.Support;

/// <summary>Facts about a schedule that tests read off its steps.</summary>
public static class ScheduleFacts
{
    /// <summary>The tasks whose buffers are live when the first backward step starts (the end of the forward pass).</summary>
    public static HashSet<int> LiveAtFirstBackward(Schedule schedule)
    {
        var live = new HashSet<int>();
        foreach (var s in schedule.Steps)
        {
            if (s.Kind == StepKind.Backward) return live;
            if (s.Allocates) live.Add(s.Task);
            else if (s.Frees) live.Remove(s.Task);
        }
        return live;
    }
}
