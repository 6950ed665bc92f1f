using Google.OrTools.Sat;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A relaxation of <see cref="StageModel"/> that CP-SAT can load and bound on graphs where the exact stage model is
/// too large to search: the same R[t,i] (i run again in stage t) and S[t,i] (i live when stage t begins) variables
/// and the same availability logic (a run needs its inputs kept or run earlier in the stage; a buffer is kept only
/// if it was live in the previous stage), but memory is checked only at each stage's own run, with an
/// under-estimate, and there are no free or per-run memory variables.
/// </summary>
/// <remarks>
/// Why its optimum (and any bound CP-SAT proves on it) bounds the stage model's recomputation from below: take any
/// plan of the stage model. Its R and S values satisfy every constraint here (they are a subset of the stage
/// model's). At the run of t, the last run of stage t, the simulator holds t's output, t's inputs, and every
/// buffer that is live when stage t+1 begins (frees happen only after runs, so a buffer live after the run was live
/// during it); those are distinct buffers, so their bytes are at most the plan's peak, at most the budget. The
/// objective is the same sum of recompute times (rounded down the same way). So every plan of the stage model is
/// a feasible point of this model with the same cost, and the least cost here is at most the least cost there.
/// Dropped: the memory at recomputations inside a stage, frees before the stage's own run, and the rule that a
/// buffer is kept only while something reads it later (which only removes plans' wasteful keeps).
/// </remarks>
public sealed class StageRelaxation
{
    private readonly BoolVar?[][] _r;
    private readonly BoolVar?[][] _s;
    private readonly long _timeDivisor;
    private readonly double _timeScale;

    /// <param name="order">Stage order (first runs).</param>
    /// <param name="budgetBytes">Budget.</param>
    /// <param name="neverRecompute">Positions that are never run again.</param>
    /// <param name="neverKeepAcrossGap">Positions whose buffer must not be live when the first backward stage begins.</param>
    public StageRelaxation(StageOrder order, long budgetBytes, ISet<int> neverRecompute, ISet<int> neverKeepAcrossGap)
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
        int gap = Enumerable.Range(0, n).FirstOrDefault(p => tasks[order.TaskAt[p]].Kind == Graph.TaskKind.Backward, -1);

        _r = new BoolVar?[n][];
        _s = new BoolVar?[n][];
        for (int t = 0; t < n; t++)
        {
            _r[t] = new BoolVar?[t];
            _s[t] = new BoolVar?[t];
            for (int i = 0; i < t; i++)
            {
                if (t > order.LastDescendant[i]) continue;
                if (!neverRecompute.Contains(i)) _r[t][i] = Model.NewBoolVar($"R{t}_{i}");
                bool previous = t - 1 == i || _r[t - 1][i] is not null || _s[t - 1][i] is not null;
                bool pinned = t == gap && neverKeepAcrossGap.Contains(i);
                if (previous && !pinned) _s[t][i] = Model.NewBoolVar($"S{t}_{i}");
            }
        }

        var objective = LinearExpr.NewBuilder();
        for (int t = 0; t < n; t++)
        {
            // A run needs every input live: kept into the stage or run earlier in it.
            for (int k = 0; k <= t; k++)
            {
                if (k < t && _r[t][k] is null) continue;
                foreach (int i in order.Inputs[k])
                {
                    var clause = new List<ILiteral>();
                    if (_r[t][i] is { } ri) clause.Add(ri);
                    if (_s[t][i] is { } si) clause.Add(si);
                    if (k < t) clause.Add(_r[t][k]!.Not());
                    Model.AddBoolOr(clause);
                }
            }
            for (int i = 0; i < t; i++)
            {
                if (_s[t][i] is { } s && t - 1 > i)
                {
                    var clause = new List<ILiteral> { s.Not() };
                    if (_r[t - 1][i] is { } rp) clause.Add(rp);
                    if (_s[t - 1][i] is { } sp) clause.Add(sp);
                    Model.AddBoolOr(clause);
                }
                if (_r[t][i] is { } r && _s[t][i] is { } s2) Model.AddBoolOr([r.Not(), s2.Not()]);
                if (_r[t][i] is { } rc && cost[i] > 0) objective.AddTerm(rc, cost[i]);
            }

            // Memory at the run of t: its output, its inputs, and what is live when stage t+1 begins.
            long fixedBytes = bytes[t] + order.Inputs[t].Sum(i => bytes[i]);
            if (fixedBytes > cap) { Model.AddBoolOr([]); continue; }
            if (t + 1 >= n) continue;
            var inputs = order.Inputs[t].ToHashSet();
            var kept = LinearExpr.NewBuilder();
            int terms = 0;
            for (int i = 0; i < t; i++)
                if (!inputs.Contains(i) && _s[t + 1][i] is { } sn && bytes[i] > 0) { kept.AddTerm(sn, bytes[i]); terms++; }
            if (terms > 0) Model.Add(kept <= cap - fixedBytes);
        }
        Model.Minimize(objective);
    }

    /// <summary>The CP-SAT model.</summary>
    public CpModel Model { get; }

    /// <summary>Number of Boolean decisions (R and S).</summary>
    public int DecisionCount => _r.Sum(a => a.Count(v => v is not null)) + _s.Sum(a => a.Count(v => v is not null));

    /// <summary>Hints the R and S variables with a plan's values (a feasible point of the relaxation).</summary>
    public void Hint(StagePlan plan)
    {
        var trace = StageTrace.Of(plan);
        for (int t = 0; t < _r.Length; t++)
        {
            var ran = plan.Recomputed[t].ToHashSet();
            for (int i = 0; i < t; i++)
            {
                if (_r[t][i] is { } r) Model.AddHint(r, ran.Contains(i));
                if (_s[t][i] is { } s) Model.AddHint(s, trace.LiveAtStart[t].Contains(i));
            }
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
