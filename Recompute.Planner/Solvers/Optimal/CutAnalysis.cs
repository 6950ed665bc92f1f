using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// What <see cref="CutRelaxation"/> needs to know of a training DAG at a budget, computed once: every task's
/// ancestors and descendants, the bytes its run holds by itself (output and inputs), its excess (how far those and
/// every earlier buffer that one of its descendants reads exceed the budget together: only tasks with an excess can
/// force recomputation), and the <see cref="Path"/> of greatest total excess, from which cuts are chosen.
/// </summary>
internal sealed class CutAnalysis
{
    private readonly long _timeDivisor;
    private readonly double _timeScale;

    /// <param name="cancellation">Checked once per task (the analysis is quadratic).</param>
    public CutAnalysis(TrainingGraph training, long budgetBytes, CancellationToken cancellation = default)
    {
        Training = training;
        BudgetBytes = budgetBytes;
        var tasks = training.Tasks;
        int n = tasks.Length;
        var bytes = tasks.Select(t => t.Bytes).ToArray();
        var times = tasks.Select(t => t.Time).ToArray();
        _timeDivisor = StageModel.IntegerTimeDivisor(times);
        _timeScale = _timeDivisor > 0 ? 1.0 / _timeDivisor : times.DefaultIfEmpty(0).Max() is > 0 and var max ? 1e6 / max : 1;
        Cost = times.Select(x => _timeDivisor > 0 ? (long)x / _timeDivisor : (long)Math.Floor(x * _timeScale)).ToArray();

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
        Excess = new long[n];
        Pending = new int[n];
        for (int x = 0; x < n; x++)
        {
            cancellation.ThrowIfCancellationRequested();
            long fix = bytes[x];
            foreach (int i in tasks[x].Inputs) fix = checked(fix + bytes[i]);
            FixedBytes[x] = fix;
            long pressure = fix;
            foreach (int a in Ancestors[x].Members())
            {
                bool readLater = false;
                foreach (int r in training.Readers(a)) if (Descendants[x].Contains(r)) { readLater = true; break; }
                if (!readLater) continue;
                Pending[x]++;
                if (tasks[x].Inputs.IndexOf(a) < 0) pressure = checked(pressure + bytes[a]);
            }
            if (fix > budgetBytes) Infeasible = true;
            Excess[x] = Math.Max(0, pressure - budgetBytes);
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

    public TrainingGraph Training { get; }
    public long BudgetBytes { get; }
    /// <summary>Task times in the model's integer units (exact for integer times, rounded down otherwise).</summary>
    public long[] Cost { get; }
    public TaskSet[] Ancestors { get; }
    public TaskSet[] Descendants { get; }
    /// <summary>Bytes of a task's output and inputs.</summary>
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
    public IEnumerable<int> Members()
    {
        for (int w = 0; w < _words.Length; w++)
            for (ulong bits = _words[w]; bits != 0; bits &= bits - 1)
                yield return (w << 6) + System.Numerics.BitOperations.TrailingZeroCount(bits);
    }
}
