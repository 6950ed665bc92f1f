using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A topological order of the training tasks in which the stage model runs each task for the first time, with
/// the DAG renumbered by position: inputs and readers as positions, and for each position the last position of
/// any of its descendants (after that stage, neither keeping nor recomputing the task can serve anything).
/// </summary>
internal sealed class StageOrder
{
    private StageOrder(TrainingGraph training, int[] taskAt)
    {
        Training = training;
        TaskAt = taskAt;
        Count = taskAt.Length;
        PositionOf = new int[Count];
        for (int p = 0; p < Count; p++) PositionOf[taskAt[p]] = p;
        Inputs = new int[Count][];
        var readers = new List<int>[Count];
        for (int p = 0; p < Count; p++) readers[p] = [];
        for (int p = 0; p < Count; p++)
        {
            Inputs[p] = training.Tasks[taskAt[p]].Inputs.Select(i => PositionOf[i]).Order().ToArray();
            foreach (int i in Inputs[p])
            {
                if (i >= p) throw new ArgumentException($"the stage order runs '{training.Tasks[taskAt[p]].Name}' before its input '{training.Tasks[taskAt[i]].Name}'");
                readers[i].Add(p);
            }
        }
        Readers = readers.Select(r => r.ToArray()).ToArray();
        LastDescendant = new int[Count];
        for (int p = Count - 1; p >= 0; p--)
        {
            int last = p;
            foreach (int r in Readers[p]) last = Math.Max(last, LastDescendant[r]);
            LastDescendant[p] = last;
        }
    }

    public TrainingGraph Training { get; }
    public int Count { get; }
    /// <summary>Task id at each position.</summary>
    public int[] TaskAt { get; }
    /// <summary>Position of each task id.</summary>
    public int[] PositionOf { get; }
    /// <summary>Input positions of the task at each position (sorted).</summary>
    public int[][] Inputs { get; }
    /// <summary>Reader positions of the task at each position (sorted).</summary>
    public int[][] Readers { get; }
    /// <summary>Largest position among a position's descendants (itself included).</summary>
    public int[] LastDescendant { get; }

    /// <summary>Upper bound on the stage model's Boolean decisions (R and S) over this order.</summary>
    public long DecisionBound => Enumerable.Range(0, Count).Sum(p => 2L * (LastDescendant[p] - p));

    /// <summary>The training DAG's own task order.</summary>
    public static StageOrder Natural(TrainingGraph training) => new(training, Enumerable.Range(0, training.Count).ToArray());

    /// <summary>The order in which a schedule runs each task for the first time.</summary>
    public static StageOrder FirstRuns(Schedule schedule)
    {
        var seen = new bool[schedule.Training.Count];
        var order = new List<int>(schedule.Training.Count);
        foreach (var s in schedule.Steps)
            if (s.Allocates && !seen[s.Task]) { seen[s.Task] = true; order.Add(s.Task); }
        if (order.Count != schedule.Training.Count) throw new ArgumentException("the schedule does not run every task");
        return new StageOrder(schedule.Training, order.ToArray());
    }

    /// <summary>Display of the order for messages: first few task names.</summary>
    public string Describe(int max = 4)
    {
        var names = TaskAt.Take(max).Select(t => Training.Tasks[t].Name);
        return string.Join(", ", names) + (Count > max ? ", ..." : "");
    }
}
