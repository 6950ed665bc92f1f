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
        // The last descendant comes from the graph's own readers, which tasks that read the same buffers share, so a
        // graph with W² edges (a W-wide Concat whose backward reads every operand) is sized without copying them.
        LastDescendant = new int[Count];
        var ofReaders = new Dictionary<int[], (int First, int Most)>(ReferenceEqualityComparer.Instance);
        for (int p = Count - 1; p >= 0; p--)
        {
            int task = taskAt[p];
            int last = p;
            var readers = training.ReadersArray(task);
            if (readers.Length > 0)
            {
                // Every reader sits after p, so the descendants' figures are final when an array is first met.
                if (!ofReaders.TryGetValue(readers, out var seen))
                {
                    seen = (int.MaxValue, -1);
                    foreach (int r in readers) seen = (Math.Min(seen.First, PositionOf[r]), Math.Max(seen.Most, LastDescendant[PositionOf[r]]));
                    ofReaders[readers] = seen;
                }
                if (seen.First <= p)
                {
                    int early = readers.First(r => PositionOf[r] <= p);
                    throw new ArgumentException($"the stage order runs '{training.Tasks[early].Name}' before its input '{training.Tasks[task].Name}'");
                }
                last = Math.Max(last, seen.Most);
            }
            LastDescendant[p] = last;
        }
        _inputs = new Lazy<int[][]>(() => InputPositions(training, taskAt, PositionOf));
        _readers = new Lazy<int[][]>(() => ReaderPositions(Inputs, Count));
    }

    private readonly Lazy<int[][]> _inputs;
    private readonly Lazy<int[][]> _readers;

    private static int[][] InputPositions(TrainingGraph training, int[] taskAt, int[] positionOf)
    {
        var inputs = new int[taskAt.Length][];
        for (int p = 0; p < taskAt.Length; p++)
        {
            var own = training.Tasks[taskAt[p]].Inputs;
            var at = new int[own.Length];
            for (int i = 0; i < own.Length; i++) at[i] = positionOf[own[i]];
            Array.Sort(at);
            inputs[p] = at;
        }
        return inputs;
    }

    private static int[][] ReaderPositions(int[][] inputs, int count)
    {
        var readers = new List<int>[count];
        for (int p = 0; p < count; p++) readers[p] = [];
        for (int p = 0; p < count; p++)
            foreach (int i in inputs[p]) readers[i].Add(p);
        return readers.Select(r => r.ToArray()).ToArray();
    }

    public TrainingGraph Training { get; }
    public int Count { get; }
    /// <summary>Task id at each position.</summary>
    public int[] TaskAt { get; }
    /// <summary>Position of each task id.</summary>
    public int[] PositionOf { get; }
    /// <summary>Input positions of the task at each position (sorted), built when first asked for.</summary>
    public int[][] Inputs => _inputs.Value;
    /// <summary>Reader positions of the task at each position (sorted), built when first asked for.</summary>
    public int[][] Readers => _readers.Value;
    /// <summary>Largest position among a position's descendants (itself included).</summary>
    public int[] LastDescendant { get; }

    /// <summary>Upper bound on the stage model's Boolean decisions (R and S) over this order.</summary>
    public long DecisionBound => Enumerable.Range(0, Count).Sum(p => 2L * (LastDescendant[p] - p));

    /// <summary>The training DAG's own task order.</summary>
    public static StageOrder Natural(TrainingGraph training) => new(training, Enumerable.Range(0, training.Count).ToArray());

    /// <summary>The order in which a schedule runs each task for the first time.</summary>
    public static StageOrder FirstRuns(Schedule schedule) => new(schedule.Training, FirstRunOrder(schedule));

    /// <summary>The task ids in the order a schedule first runs them (<see cref="FirstRuns"/>'s <see cref="TaskAt"/>, without the rest).</summary>
    public static int[] FirstRunOrder(Schedule schedule)
    {
        var seen = new bool[schedule.Training.Count];
        var order = new List<int>(schedule.Training.Count);
        foreach (var s in schedule.Steps)
            if (s.Allocates && !seen[s.Task]) { seen[s.Task] = true; order.Add(s.Task); }
        if (order.Count != schedule.Training.Count) throw new ArgumentException("the schedule does not run every task");
        return order.ToArray();
    }

    /// <summary>Display of the order for messages: first few task names.</summary>
    public string Describe(int max = 4)
    {
        var names = TaskAt.Take(max).Select(t => Training.Tasks[t].Name);
        return string.Join(", ", names) + (Count > max ? ", ..." : "");
    }
}
