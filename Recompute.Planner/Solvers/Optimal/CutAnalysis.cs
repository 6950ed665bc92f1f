using System.Runtime.CompilerServices;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// What <see cref="CutRelaxation"/> needs to know of a training DAG at a budget: every task's ancestors and
/// descendants, the bytes its run holds by itself (output and inputs), its excess (how far those and every earlier
/// buffer that one of its descendants reads exceed the budget together: only tasks with an excess can force
/// recomputation), and the <see cref="Path"/> of greatest total excess, from which cuts are chosen. What does not
/// depend on the budget (the quadratic part) is computed once per training DAG and shared by every budget and caller
/// (greedy's guide and the bound plan the same DAG at the same budget; a sweep plans it at many).
/// </summary>
internal sealed class CutAnalysis
{
    private readonly long _timeDivisor;
    private readonly double _timeScale;

    /// <param name="cancellation">Checked once per task while the budget-free part is first computed (it is quadratic).</param>
    public CutAnalysis(TrainingGraph training, long budgetBytes, CancellationToken cancellation = default)
    {
        Training = training;
        BudgetBytes = budgetBytes;
        var tasks = training.Tasks;
        int n = tasks.Length;
        var times = tasks.Select(t => t.Time).ToArray();
        _timeDivisor = StageModel.IntegerTimeDivisor(times);
        _timeScale = _timeDivisor > 0 ? 1.0 / _timeDivisor : times.DefaultIfEmpty(0).Max() is > 0 and var max ? 1e6 / max : 1;
        Cost = times.Select(x => _timeDivisor > 0 ? (long)x / _timeDivisor : (long)Math.Floor(x * _timeScale)).ToArray();

        var shape = Shape.Of(training, cancellation);
        Ancestors = shape.Ancestors;
        Descendants = shape.Descendants;
        FixedBytes = shape.FixedBytes;
        Pending = shape.Pending;
        Excess = new long[n];
        for (int x = 0; x < n; x++)
        {
            if (FixedBytes[x] > budgetBytes) Infeasible = true;
            Excess[x] = Math.Max(0, shape.Pressure[x] - budgetBytes);
        }

        // The path of greatest total excess (excess is never negative, so extending a chain never lowers its total).
        var best = new long[n];
        var previous = new int[n];
        for (int t = 0; t < n; t++)
        {
            previous[t] = -1;
            long from = 0;
            foreach (int i in tasks[t].Inputs)
                if (best[i] > from) { from = best[i]; previous[t] = i; }
            best[t] = Excess[t] + from;
        }
        var path = new List<int>();
        if (n > 0)
        {
            int end = Enumerable.Range(0, n).MaxBy(t => (best[t], -t));
            for (int t = end; t >= 0; t = previous[t]) if (Excess[t] > 0) path.Add(t);
        }
        path.Reverse();
        Path = path;
    }

    /// <summary>The part of the analysis that does not depend on the budget, computed once per training DAG.</summary>
    private sealed class Shape
    {
        private static readonly ConditionalWeakTable<TrainingGraph, Shape> Computed = new();

        /// <summary>The shape of the DAG, computed on first use (a cancelled computation stores nothing).</summary>
        public static Shape Of(TrainingGraph training, CancellationToken cancellation) =>
            Computed.GetValue(training, t => new Shape(t, cancellation));

        public TaskSet[] Ancestors { get; }
        public TaskSet[] Descendants { get; }
        public long[] FixedBytes { get; }
        public int[] Pending { get; }
        /// <summary>A task's output and inputs plus every earlier buffer a descendant reads.</summary>
        public long[] Pressure { get; }

        private Shape(TrainingGraph training, CancellationToken cancellation)
        {
            var tasks = training.Tasks;
            int n = tasks.Length;
            var bytes = tasks.Select(t => t.Bytes).ToArray();
            Ancestors = new TaskSet[n];
            for (int t = 0; t < n; t++)
            {
                Ancestors[t] = new TaskSet(n);
                foreach (int i in tasks[t].Inputs) { Ancestors[t].UnionWith(Ancestors[i]); Ancestors[t].Add(i); }
            }
            Descendants = new TaskSet[n];
            for (int t = n - 1; t >= 0; t--)
            {
                Descendants[t] = new TaskSet(n);
                foreach (int r in training.Readers(t)) { Descendants[t].UnionWith(Descendants[r]); Descendants[t].Add(r); }
            }
            FixedBytes = new long[n];
            Pending = new int[n];
            Pressure = new long[n];
            // readByBelow[x]: the buffers some descendant of x reads (the inputs of its readers, and what their
            // descendants read), built from the last task up as one union per edge. An ancestor is pending at x when
            // it is in that set. Testing every reader of every ancestor against x's descendants, as before, was W³ on a
            // W-wide fan-out whose backward reads every branch (minutes at W = 5,000).
            var readByBelow = new TaskSet[n]; // each task's set, with its own inputs added once its readers are done
            for (int x = n - 1; x >= 0; x--)
            {
                cancellation.ThrowIfCancellationRequested();
                var below = new TaskSet(n);
                foreach (int r in training.Readers(x)) below.UnionWith(readByBelow[r]);
                long fix = bytes[x] - training.InPlaceSaving(x); // a run in place holds its output in its source's buffer
                foreach (int i in tasks[x].Inputs) fix = checked(fix + bytes[i]);
                FixedBytes[x] = fix;
                long pressure = fix;
                foreach (int a in Ancestors[x].MembersAlsoIn(below))
                {
                    Pending[x]++;
                    if (tasks[x].Inputs.IndexOf(a) < 0) pressure = checked(pressure + bytes[a]);
                }
                Pressure[x] = pressure;
                foreach (int i in tasks[x].Inputs) below.Add(i);
                readByBelow[x] = below;
            }
        }
    }

    public TrainingGraph Training { get; }
    public long BudgetBytes { get; }
    /// <summary>Task times in the model's integer units (exact for integer times, rounded down otherwise).</summary>
    public long[] Cost { get; }
    public TaskSet[] Ancestors { get; }
    public TaskSet[] Descendants { get; }
    /// <summary>Bytes of a task's output and inputs, less what running in place saves (<see cref="TrainingGraph.InPlaceSaving"/>).</summary>
    public long[] FixedBytes { get; }
    /// <summary>How far a task's run, with every earlier buffer a descendant reads, exceeds the budget (0 if not).</summary>
    public long[] Excess { get; }
    /// <summary>Earlier buffers a descendant of the task reads (an estimate of a cut's decisions).</summary>
    public int[] Pending { get; }
    /// <summary>True when some task's output and inputs alone exceed the budget: no schedule fits.</summary>
    public bool Infeasible { get; }
    /// <summary>The tasks with an excess on the path of greatest total excess, in order (a chain).</summary>
    public IReadOnlyList<int> Path { get; }

    /// <summary>Converts an objective value (or bound) in <see cref="Cost"/> units back to time units.</summary>
    public double ToTime(double objective) => _timeDivisor > 0 ? objective * _timeDivisor : objective / _timeScale;

    /// <summary>The ancestors of <paramref name="x"/> that a descendant of it reads (the buffers pending at its first
    /// run, <see cref="Pending"/> of them), ascending.</summary>
    public IEnumerable<int> PendingAt(int x)
    {
        foreach (int a in Ancestors[x].Members())
            foreach (int r in Training.ReadersArray(a))
                if (Descendants[x].Contains(r)) { yield return a; break; }
    }
}

/// <summary>A fixed-size set of task ids (a bit set).</summary>
internal sealed class TaskSet(int size)
{
    private readonly ulong[] _words = new ulong[(size + 63) / 64];
    public void Add(int i) => _words[i >> 6] |= 1UL << (i & 63);
    public bool Contains(int i) => (_words[i >> 6] & (1UL << (i & 63))) != 0;
    public void UnionWith(TaskSet other)
    {
        for (int w = 0; w < _words.Length; w++) _words[w] |= other._words[w];
    }

    /// <summary>The members, ascending.</summary>
    public IEnumerable<int> Members()
    {
        for (int w = 0; w < _words.Length; w++)
            for (ulong bits = _words[w]; bits != 0; bits &= bits - 1)
                yield return (w << 6) + System.Numerics.BitOperations.TrailingZeroCount(bits);
    }

    /// <summary>The members that are also in <paramref name="other"/> (a set of the same size), ascending.</summary>
    public IEnumerable<int> MembersAlsoIn(TaskSet other)
    {
        for (int w = 0; w < _words.Length; w++)
            for (ulong bits = _words[w] & other._words[w]; bits != 0; bits &= bits - 1)
                yield return (w << 6) + System.Numerics.BitOperations.TrailingZeroCount(bits);
    }
}
