using Google.OrTools.Sat;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A relaxation of <see cref="StageModel"/> that CP-SAT can load and bound on graphs where the exact stage model is
/// too large to search. Memory is checked only at the runs of a chosen set of stages B = b₀ &lt; b₁ &lt; … (the stages
/// where keeping every buffer that a later first run reads would exceed the budget, most exceeding first, as many as
/// <see cref="DecisionTarget"/> allows), with an under-estimate, and time is cut into the intervals between them:
/// K[m,i] says i is live right after the run of b_m; R[m,i] says i runs again somewhere in interval m (the stages
/// b_{m−1}+1 … b_m, and after the last b the rest). A first run or a re-run in interval m needs each input that was
/// first run before the interval to be kept at b_{m−1} or re-run in the interval; a buffer kept at b_m was kept at
/// b_{m−1}, re-run in the interval, or first run in it. Memory at b_m: its output, its inputs and the other buffers
/// kept at b_m. Objective: Σ time_i R[m,i].
/// </summary>
/// <remarks>
/// Why its optimum (and any bound CP-SAT proves on it) bounds the stage model's recomputation from below: take any
/// plan of the stage model (or any schedule whose first runs follow the order) and set K[m,i] = i live after the
/// run of b_m, R[m,i] = i re-run at least once in interval m. Each constraint holds: an input is live when read, so
/// it was live at the previous boundary and kept since, or (re)computed after it; at the run of b_m the simulator
/// holds b_m's output, its inputs and every buffer still live after the run (frees happen only after runs), distinct
/// buffers whose bytes are at most the budget. The objective counts at most the plan's re-runs (one per buffer and
/// interval), with times rounded down as in the stage model. So every plan maps to a feasible point of no greater
/// cost. With B = every stage it is the stage model without frees inside a stage and without memory at re-runs.
/// Pins: Keep positions have no R (a valid restriction of the plans too); ForceRecompute is not modelled (dropping a
/// constraint keeps the bound valid).
/// </remarks>
internal sealed class StageRelaxation
{
    /// <summary>Decisions the relaxation aims at (binding stages are dropped, least exceeding first, to stay under it).</summary>
    public const int DecisionTarget = 40_000;

    private readonly int[] _boundaries;
    private readonly BoolVar?[][] _r;
    private readonly BoolVar?[][] _k;
    private readonly long _timeDivisor;
    private readonly double _timeScale;

    /// <param name="order">Stage order (first runs).</param>
    /// <param name="budgetBytes">Budget.</param>
    /// <param name="neverRecompute">Positions that are never run again.</param>
    /// <param name="decisionTarget">Largest number of decisions (estimated) before binding stages are dropped.</param>
    public StageRelaxation(StageOrder order, long budgetBytes, ISet<int> neverRecompute, int decisionTarget = DecisionTarget)
    {
        int n = order.Count;
        var tasks = order.Training.Tasks;
        Model = new CpModel();
        long unit = tasks.Select(t => t.Bytes).Where(b => b > 0).Aggregate(0L, Gcd);
        if (unit == 0) unit = 1;
        var bytes = order.TaskAt.Select(t => tasks[t].Bytes / unit).ToArray();
        var times = order.TaskAt.Select(t => tasks[t].Time).ToArray();
        _timeDivisor = StageModel.IntegerTimeDivisor(times);
        _timeScale = _timeDivisor > 0 ? 1.0 / _timeDivisor : times.DefaultIfEmpty(0).Max() is > 0 and var max ? 1e6 / max : 1;
        var cost = times.Select(x => _timeDivisor > 0 ? (long)x / _timeDivisor : (long)Math.Floor(x * _timeScale)).ToArray();
        long cap = budgetBytes / unit;

        // Binding stages: keeping every buffer that a later first run reads would exceed the budget.
        var fixedBytes = new long[n];
        var excess = new List<(long Excess, int Stage, int Pending)>();
        for (int t = 0; t < n; t++)
        {
            // A run in place holds its output in its source's buffer (the unit divides every task's bytes).
            fixedBytes[t] = bytes[t] + order.Inputs[t].Sum(i => bytes[i]) - order.Training.InPlaceSaving(order.TaskAt[t]) / unit;
            long potential = fixedBytes[t];
            int pending = 0;
            var inputs = order.Inputs[t];
            for (int i = 0; i < t; i++)
            {
                if (order.LastDescendant[i] > t) pending++;
                // A buffer that a later first run reads is kept or run again: it is what makes a stage bind.
                if (order.Readers[i].Length > 0 && order.Readers[i][^1] > t && Array.BinarySearch(inputs, i) < 0) potential += bytes[i];
            }
            if (fixedBytes[t] > cap) { Model.AddBoolOr([]); Infeasible = true; }
            if (potential > cap) excess.Add((potential - cap, t, pending));
        }
        var chosen = new List<int>();
        long estimate = 0;
        foreach (var (_, stage, pending) in excess.OrderByDescending(e => e.Excess).ThenBy(e => e.Stage))
        {
            if (estimate + 2L * pending > decisionTarget && chosen.Count > 0) break;
            estimate += 2L * pending;
            chosen.Add(stage);
        }
        chosen.Sort();
        _boundaries = chosen.ToArray();
        int intervals = _boundaries.Length + 1;
        int Start(int m) => m == 0 ? 0 : _boundaries[m - 1] + 1;
        int End(int m) => m < _boundaries.Length ? _boundaries[m] : n - 1;

        // Variables: R[m,i] for i first run before interval m that can still serve something in it; K[m,i] for i
        // first run at or before b_m that can serve something after it.
        _r = new BoolVar?[intervals][];
        _k = new BoolVar?[_boundaries.Length][];
        for (int m = 0; m < intervals; m++)
        {
            _r[m] = new BoolVar?[n];
            for (int i = 0; i < Start(m); i++)
                if (!neverRecompute.Contains(i) && order.LastDescendant[i] >= Start(m) && Start(m) <= End(m))
                    _r[m][i] = Model.NewBoolVar($"R{m}_{i}");
        }
        for (int m = 0; m < _boundaries.Length; m++)
        {
            _k[m] = new BoolVar?[n];
            for (int i = 0; i <= _boundaries[m]; i++)
                if (order.LastDescendant[i] > _boundaries[m]) _k[m][i] = Model.NewBoolVar($"K{m}_{i}");
        }

        ILiteral? Kept(int m, int i) => m >= 0 && m < _k.Length ? _k[m][i] : null;
        var objective = LinearExpr.NewBuilder();
        for (int m = 0; m < intervals; m++)
        {
            int start = Start(m);
            void NeedsInputs(int k, ILiteral? condition)
            {
                foreach (int i in order.Inputs[k])
                {
                    if (i >= start) continue; // first run inside the interval
                    var clause = new List<ILiteral>();
                    if (condition is not null) clause.Add(condition.Not());
                    if (Kept(m - 1, i) is { } kept) clause.Add(kept);
                    if (_r[m][i] is { } rerun) clause.Add(rerun);
                    Model.AddBoolOr(clause);
                }
            }
            for (int k = start; k <= End(m); k++) NeedsInputs(k, null);
            for (int i = 0; i < start; i++)
                if (_r[m][i] is { } r)
                {
                    NeedsInputs(i, r);
                    if (cost[i] > 0) objective.AddTerm(r, cost[i]);
                }
            if (m < _boundaries.Length)
            {
                int b = _boundaries[m];
                var kept = LinearExpr.NewBuilder();
                int terms = 0;
                for (int i = 0; i <= b; i++)
                {
                    if (_k[m][i] is not { } k) continue;
                    if (i < start)
                    {
                        var clause = new List<ILiteral> { k.Not() };
                        if (Kept(m - 1, i) is { } before) clause.Add(before);
                        if (_r[m][i] is { } rerun) clause.Add(rerun);
                        Model.AddBoolOr(clause);
                    }
                    if (i < b && Array.BinarySearch(order.Inputs[b], i) < 0 && bytes[i] > 0) { kept.AddTerm(k, bytes[i]); terms++; }
                }
                if (terms > 0) Model.Add(kept <= Math.Max(0, cap - fixedBytes[b]));
            }
        }
        Model.Minimize(objective);
    }

    /// <summary>The CP-SAT model.</summary>
    public CpModel Model { get; }

    /// <summary>True when some task's inputs and output alone exceed the budget (the model is then infeasible).</summary>
    public bool Infeasible { get; }

    /// <summary>Stages whose runs the memory constraints cover.</summary>
    public IReadOnlyList<int> Boundaries => _boundaries;

    /// <summary>Number of Boolean decisions (R and K).</summary>
    public int DecisionCount => _r.Sum(a => a.Count(v => v is not null)) + _k.Sum(a => a.Count(v => v is not null));

    /// <summary>Hints the variables with a plan's values (a feasible point of the relaxation).</summary>
    public void Hint(StagePlan plan)
    {
        var trace = StageTrace.Of(plan);
        int n = plan.Recomputed.Length;
        for (int m = 0; m < _r.Length; m++)
        {
            int start = m == 0 ? 0 : _boundaries[m - 1] + 1, end = m < _boundaries.Length ? _boundaries[m] : n - 1;
            var ran = new HashSet<int>();
            for (int t = start; t <= end; t++) ran.UnionWith(plan.Recomputed[t]);
            for (int i = 0; i < n; i++)
                if (_r[m][i] is { } r) Model.AddHint(r, ran.Contains(i));
        }
        for (int m = 0; m < _k.Length; m++)
        {
            int b = _boundaries[m];
            var live = b + 1 < n ? trace.LiveAtStart[b + 1] : [];
            for (int i = 0; i < n; i++)
                if (_k[m][i] is { } k) Model.AddHint(k, live.Contains(i));
        }
    }
    /// <summary>Converts an objective value (or bound) back to time units.</summary>
    public double ToTime(double objective) => _timeDivisor > 0 ? objective * _timeDivisor : objective / _timeScale;

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
