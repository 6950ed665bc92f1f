using System.Collections.Immutable;
using Google.OrTools.Sat;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>What the stage model minimises.</summary>
internal enum StageObjective
{
    /// <summary>Recompute time under the budget.</summary>
    RecomputeTime,
    /// <summary>Peak live bytes (no budget): the smallest budget any plan in the model needs.</summary>
    PeakBytes,
}

/// <summary>
/// Checkmate's rematerialization formulation with exact frees, as a CP-SAT model over a <see cref="StageOrder"/>.
/// Stage t runs some earlier tasks again (R[t,i]) and then task t for the first time; S[t,i] says that i's buffer
/// is live when stage t begins. Memory is counted at every run inside a stage, in position order: the buffers kept
/// into the stage, plus the runs so far, minus the buffers freed so far. FREE[t,i,k] holds exactly when the run of
/// k in stage t is the last reader of i's buffer (no later run of a reader in the stage, and i not kept into t+1),
/// which is where <see cref="Scheduling.Liveness"/> frees it; and a buffer is only kept or run when something
/// reads it later, so the model's memory equals the simulator's at every run. A run in place (<see
/// cref="Scheduling.InPlaceSteps"/>) counts its source's bytes off when FREE says the source is freed after it.
/// </summary>
/// <remarks>
/// Variables exist only where they can matter: i is run again or kept in stage t only when i &lt; t ≤ the last
/// position of i's descendants; tasks pinned by <c>Keep</c> have no R; tasks pinned by <c>ForceRecompute</c> have
/// no S at the first backward stage. Bytes are divided by their greatest common divisor (exact); times are scaled
/// to integers (exact for integer times, otherwise rounded down so that the bound stays a valid bound).
/// </remarks>
internal sealed class StageModel
{
    private readonly StageOrder _order;
    private readonly StageWindow? _window;
    private readonly BoolVar?[][] _r;
    private readonly BoolVar?[][] _s;
    private readonly List<(int K, IntVar U)>[] _memory;
    private readonly Dictionary<(int T, int I, int K), BoolVar> _free = [];
    private readonly long[] _bytes;
    private readonly long[] _cost;
    private readonly IntVar? _peak;
    private readonly long _timeDivisor;
    /// <summary>Per offloadable position, the stage it is back for and its decision.</summary>
    private readonly Dictionary<int, (int Return, BoolVar Var)> _offloads = [];

    /// <param name="order">Stage order (first runs).</param>
    /// <param name="budgetBytes">Budget (ignored when minimising the peak).</param>
    /// <param name="objective">What to minimise.</param>
    /// <param name="neverRecompute">Positions that are never run again.</param>
    /// <param name="neverKeepAcrossGap">Positions whose buffer must not be live when the first backward stage begins.</param>
    /// <param name="offloadSeconds">Per position, the price in seconds of offloading that value (<see cref="AddOffloads"/>),
    /// or a negative number where it may not be offloaded; null: no value is offloaded (the keep-or-recompute model).</param>
    /// <param name="window">Stages re-optimised around a fixed plan (<see cref="StageWindow"/>); null: every stage.</param>
    public StageModel(StageOrder order, long budgetBytes, StageObjective objective, ISet<int> neverRecompute, ISet<int> neverKeepAcrossGap,
        double[]? offloadSeconds = null, StageWindow? window = null)
    {
        if (window is not null && (offloadSeconds is not null || objective != StageObjective.RecomputeTime))
            throw new ArgumentException("a window re-optimises recomputation only, without offloads", nameof(window));
        _order = order;
        _window = window;
        int n = order.Count;
        // Stages with decisions, and the stage after them whose live set a window fixes (when there is one).
        int first = window?.First ?? 0, last = window?.Last ?? n - 1;
        if (first < 0 || last >= n || first > last) throw new ArgumentOutOfRangeException(nameof(window), "the window's stages lie outside the order");
        int end = Math.Min(n - 1, last + 1);
        var tasks = order.Training.Tasks;
        Model = new CpModel();

        ByteUnit = tasks.Select(t => t.Bytes).Where(b => b > 0).Aggregate(0L, Gcd);
        if (ByteUnit == 0) ByteUnit = 1;
        _bytes = order.TaskAt.Select(t => tasks[t].Bytes / ByteUnit).ToArray();
        var times = order.TaskAt.Select(t => tasks[t].Time).ToArray();
        _timeDivisor = IntegerTimeDivisor(times);
        TimeScale = _timeDivisor > 0 ? 1.0 / _timeDivisor : times.DefaultIfEmpty(0).Max() is > 0 and var max ? 1e6 / max : 1;
        // Exact division for integer times; rounding down otherwise (so the bound stays a bound).
        _cost = times.Select(x => _timeDivisor > 0 ? (long)x / _timeDivisor : (long)Math.Floor(x * TimeScale)).ToArray();
        long total = _bytes.Aggregate(0L, (a, b) => checked(a + b));
        long cap = objective == StageObjective.PeakBytes ? total : Math.Min(total, budgetBytes / ByteUnit);
        if (objective == StageObjective.PeakBytes) _peak = Model.NewIntVar(0, total, "peak");

        int gap = Enumerable.Range(0, n).FirstOrDefault(p => tasks[order.TaskAt[p]].Kind == Graph.TaskKind.Backward, -1);

        // Variables.
        _r = new BoolVar?[n][];
        _s = new BoolVar?[n][];
        for (int t = 0; t < n; t++)
        {
            bool inside = t >= first && t <= end;
            _r[t] = inside ? new BoolVar?[t] : [];
            _s[t] = inside ? new BoolVar?[t] : [];
            if (!inside) continue;
            // A window's edges keep the plan's live sets: S is fixed there (true where the plan keeps the buffer).
            bool edge = window is not null && (t == first || t == last + 1);
            for (int i = 0; i < t; i++)
            {
                if (t > order.LastDescendant[i]) continue;
                if (t <= last && !neverRecompute.Contains(i)) _r[t][i] = Model.NewBoolVar($"R{t}_{i}");
                if (edge)
                {
                    if (!window!.Trace.LiveAtStart[t].Contains(i)) continue;
                    var fixedKeep = Model.NewBoolVar($"S{t}_{i}");
                    Model.AddBoolOr([fixedKeep]);
                    _s[t][i] = fixedKeep;
                    continue;
                }
                bool previous = t - 1 == i || _r[t - 1][i] is not null || _s[t - 1][i] is not null;
                bool pinned = t == gap && neverKeepAcrossGap.Contains(i);
                if (previous && !pinned) _s[t][i] = Model.NewBoolVar($"S{t}_{i}");
            }
        }

        var objectiveTerms = LinearExpr.NewBuilder();
        if (offloadSeconds is not null) AddOffloads(offloadSeconds, gap, objectiveTerms);
        _memory = new List<(int, IntVar)>[n];
        // Kept into stage t only if live before: computed or kept in the previous stage (or back from the host).
        void KeptOnlyIfLiveBefore(int t, int i)
        {
            if (_s[t][i] is not { } s || t - 1 <= i) return;
            var clause = new List<ILiteral> { s.Not() };
            if (_offloads.TryGetValue(i, out var back) && back.Return == t) clause.Add(back.Var);
            if (_r[t - 1][i] is { } rp) clause.Add(rp);
            if (_s[t - 1][i] is { } sp) clause.Add(sp);
            Model.AddBoolOr(clause);
        }
        for (int t = first; t <= last; t++)
        {
            var candidates = Candidates(t);
            // A run needs every input live: kept into the stage or run earlier in it.
            foreach (int k in candidates)
                foreach (int i in order.Inputs[k])
                {
                    var clause = new List<ILiteral>();
                    if (_r[t][i] is { } ri) clause.Add(ri);
                    if (_s[t][i] is { } si) clause.Add(si);
                    if (k < t) clause.Add(_r[t][k]!.Not());
                    Model.AddBoolOr(clause);
                }
            for (int i = 0; i < t; i++)
            {
                // A window's first live set is the plan's, which was live before.
                if (window is null || t > first) KeptOnlyIfLiveBefore(t, i);
                if (_r[t][i] is { } r && _s[t][i] is { } s2) Model.AddBoolOr([r.Not(), s2.Not()]);
                // Run or kept only when read later (so no buffer outlives its last reader).
                foreach (var x in new[] { _r[t][i], _s[t][i] })
                {
                    if (x is null || order.Inputs[t].Contains(i)) continue;
                    var clause = new List<ILiteral> { x.Not() };
                    if (t + 1 < n && _s[t + 1][i] is { } sn) clause.Add(sn);
                    foreach (int k in order.Readers[i])
                        if (k < t && _r[t][k] is { } rk) clause.Add(rk);
                    Model.AddBoolOr(clause);
                }
                if (_r[t][i] is { } rc && _cost[i] > 0) objectiveTerms.AddTerm(rc, _cost[i]);
            }

            // Memory at every run of the stage, with frees after each run.
            var carried = LinearExpr.NewBuilder();
            for (int i = 0; i < t; i++)
                if (_s[t][i] is { } s) carried.AddTerm(s, _bytes[i]);
            LinearExpr before = carried;
            _memory[t] = [];
            foreach (int k in candidates)
            {
                var u = Model.NewIntVar(0, cap, $"U{t}_{k}");
                var atRun = LinearExpr.NewBuilder().Add(before);
                if (k < t) atRun.AddTerm(_r[t][k]!, _bytes[k]); else atRun.Add(_bytes[k]);
                // A run in place (its source freed right after it) holds its output in the source's buffer: the
                // source's bytes come off at the run, as the simulator counts them. Its constraint on u waits for the
                // source's free literal below.
                int source = InPlaceSourcePosition(k);
                if (source < 0)
                {
                    Model.Add(u == atRun);
                    if (_peak is not null) Model.Add(u <= _peak);
                }
                _memory[t].Add((k, u));

                // In place, u is below the memory before the frees by the source's bytes when the source is freed here.
                var after = LinearExpr.NewBuilder().Add(source < 0 ? u : atRun);
                var inPlace = source < 0 ? null : LinearExpr.NewBuilder().Add(atRun);
                foreach (int i in order.Inputs[k].Append(k))
                {
                    var conditions = FreeConditions(t, i, k, candidates);
                    if (conditions is null) continue;
                    if (conditions.Count == 0)
                    {
                        after.Add(-_bytes[i]);
                        if (i == source) inPlace!.Add(-_bytes[i]);
                        continue;
                    }
                    var f = Model.NewBoolVar($"F{t}_{i}_{k}");
                    foreach (var c in conditions) Model.AddImplication(f, c);
                    Model.AddBoolOr(conditions.Select(c => c.Not()).Append(f));
                    _free[(t, i, k)] = f;
                    after.AddTerm(f, -_bytes[i]);
                    if (i == source) inPlace!.AddTerm(f, -_bytes[i]);
                }
                if (inPlace is not null)
                {
                    Model.Add(u == inPlace);
                    if (_peak is not null) Model.Add(u <= _peak);
                }
                before = after;
            }
        }
        // The plan's live set after a window must be left by the window's stages.
        if (window is not null && last + 1 < n)
            for (int i = 0; i <= last; i++) KeptOnlyIfLiveBefore(last + 1, i);
        if (_peak is not null) Model.Minimize(_peak);
        else Model.Minimize(objectiveTerms);
    }

    /// <summary>
    /// The values that may be offloaded (Checkmate's model with a third state): offloading position i frees its buffer
    /// after its last forward reader and brings it back, as kept, when the first backward stage that reads it begins;
    /// it is neither kept nor run again in between (nor recomputed in forward), so the memory counted is that of the
    /// eager placement (the copy out waited for right after the last forward read, the copy back just before it is
    /// needed). Each offload costs its price, both transfers in full: no placement stalls longer on a value's copies
    /// than the link takes to make them, so the objective bounds the eager schedule's recomputation plus stalls from
    /// above (it is no lower bound on the step: transfers may hide behind compute).
    /// </summary>
    private void AddOffloads(double[] offloadSeconds, int gap, LinearExprBuilder objective)
    {
        if (gap < 0) return;
        for (int i = 0; i < gap; i++)
        {
            if (offloadSeconds[i] < 0) continue;
            int lastForward = i, firstBackward = -1;
            bool source = false;
            foreach (int k in _order.Readers[i])
            {
                if (k < gap) lastForward = Math.Max(lastForward, k);
                else if (firstBackward < 0 || k < firstBackward) firstBackward = k;
                source |= k < gap && InPlaceSourcePosition(k) == i;
            }
            // A run does not take over a buffer whose copy out is in flight (InPlaceSteps), and the model counts in
            // place whenever the source dies at the run: a value some forward run may take over is not offloaded.
            if (source) continue;
            // Back for the stage that reads it first; nothing to save unless some stage lies between.
            if (firstBackward <= lastForward + 1 || _s[firstBackward][i] is not { } back) continue;
            var h = Model.NewBoolVar($"H{i}");
            _offloads[i] = (firstBackward, h);
            Model.AddImplication(h, back);
            for (int t = i + 1; t <= firstBackward; t++)
            {
                if (_r[t][i] is { } r) Model.AddImplication(h, r.Not());
                if (t < firstBackward && t > lastForward && _s[t][i] is { } kept) Model.AddImplication(h, kept.Not());
            }
            long price = (long)Math.Ceiling(offloadSeconds[i] * TimeScale);
            if (price > 0) objective.AddTerm(h, price);
        }
    }

    /// <summary>The positions a solution offloads, each with the stage it is back for, by position.</summary>
    public List<(int Position, int Return)> Offloaded(CpSolver solver) =>
        [.. _offloads.Where(o => solver.BooleanValue(o.Value.Var)).Select(o => (o.Key, o.Value.Return)).Order()];

    /// <summary>The CP-SAT model.</summary>
    public CpModel Model { get; }
    /// <summary>Bytes per memory unit of the model (greatest common divisor of the task sizes).</summary>
    public long ByteUnit { get; }
    /// <summary>Objective units per time unit.</summary>
    public double TimeScale { get; }
    /// <summary>Number of Boolean decisions (R and S).</summary>
    public int DecisionCount => _r.Sum(a => a.Count(v => v is not null)) + _s.Sum(a => a.Count(v => v is not null));

    /// <summary>The stage-order position of the in-place source of the task at position k when it is one of its inputs, else -1.</summary>
    private int InPlaceSourcePosition(int k)
    {
        int source = _order.Training.InPlaceSource(_order.TaskAt[k]);
        if (source < 0) return -1;
        int p = _order.PositionOf[source];
        return _order.Inputs[k].Contains(p) ? p : -1;
    }

    /// <summary>Positions that may run in stage t, ascending (the stage's own task last).</summary>
    private List<int> Candidates(int t)
    {
        var list = new List<int>();
        for (int k = 0; k < t; k++) if (_r[t][k] is not null) list.Add(k);
        list.Add(t);
        return list;
    }

    /// <summary>
    /// Literals whose conjunction says "i's buffer is freed right after the run of k in stage t", an empty list
    /// when that always holds, or null when it never does (or i cannot be live in the stage).
    /// </summary>
    private List<ILiteral>? FreeConditions(int t, int i, int k, List<int> candidates)
    {
        if (i != t && _r[t][i] is null && _s[t][i] is null) return null;
        var lits = new List<ILiteral>();
        if (k < t) lits.Add(_r[t][k]!);
        if (t + 1 < _order.Count && i < t + 1 && _s[t + 1][i] is { } keep) lits.Add(keep.Not());
        foreach (int j in _order.Readers[i])
        {
            if (j <= k || j > t) continue;
            if (j == t) return null;
            if (_r[t][j] is { } rj) lits.Add(rj.Not());
        }
        return lits;
    }

    /// <summary>Hints every variable with the values of a plan (a complete hint when the plan fits the model; a window's
    /// model is hinted with its own plan).</summary>
    public void Hint(StagePlan plan)
    {
        var trace = ReferenceEquals(plan, _window?.Plan) ? _window.Trace : StageTrace.Of(plan);
        foreach (int t in Stages)
        {
            if (_offloads.TryGetValue(t, out var offload)) Model.AddHint(offload.Var, false);
            var ran = plan.Recomputed[t].ToHashSet();
            for (int i = 0; i < t; i++)
            {
                if (_r[t][i] is { } r) Model.AddHint(r, ran.Contains(i));
                if (_s[t][i] is { } s) Model.AddHint(s, trace.LiveAtStart[t].Contains(i));
            }
            var runs = trace.Runs[t].ToDictionary(x => x.Position);
            long current = trace.LiveAtStart[t].Sum(i => _bytes[i]);
            foreach (var (k, u) in _memory[t])
            {
                runs.TryGetValue(k, out var run);
                if (run is not null)
                {
                    Model.AddHint(u, run.LiveBytes / ByteUnit);
                    current = (run.LiveBytes + run.InPlaceBytes) / ByteUnit - run.FreedAfter.Sum(f => _bytes[f]);
                }
                else Model.AddHint(u, current);
                foreach (int i in _order.Inputs[k].Append(k))
                    if (_free.TryGetValue((t, i, k), out var f))
                        Model.AddHint(f, run is not null && run.FreedAfter.Contains(i));
            }
        }
    }

    /// <summary>The stages the model decides (a window's, else all).</summary>
    private IEnumerable<int> Stages => _window is { } w ? Enumerable.Range(w.First, w.Last - w.First + 1) : Enumerable.Range(0, _order.Count);

    /// <summary>The plan of a solution (outside a window, the window's plan).</summary>
    public StagePlan Extract(CpSolver solver)
    {
        var recomputed = ImmutableArray.CreateBuilder<ImmutableArray<int>>(_order.Count);
        for (int t = 0; t < _order.Count; t++)
        {
            if (_window is not null && (t < _window.First || t > _window.Last))
            {
                recomputed.Add(_window.Plan.Recomputed[t]);
                continue;
            }
            var list = ImmutableArray.CreateBuilder<int>();
            for (int i = 0; i < t; i++)
                if (_r[t][i] is { } r && solver.BooleanValue(r)) list.Add(i);
            recomputed.Add(list.ToImmutable());
        }
        return new StagePlan(_order, recomputed.MoveToImmutable());
    }

    /// <summary>The model's peak of a solution in bytes: its largest memory at a run that happens (in a window's stages).</summary>
    public long ModelPeakBytes(CpSolver solver)
    {
        long peak = 0;
        foreach (int t in Stages)
            foreach (var (k, u) in _memory[t])
                if (k == t || solver.BooleanValue(_r[t][k]!))
                    peak = Math.Max(peak, solver.Value(u) * ByteUnit);
        return peak;
    }

    /// <summary>Converts an objective value (or bound) back to time units.</summary>
    public double ToTime(double objective) => _timeDivisor > 0 ? objective * _timeDivisor : objective / TimeScale;

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    /// <summary>
    /// For integer times, their greatest common divisor (exact, and small coefficients keep the linear relaxation
    /// fast); 0 when some time is not an integer or the sums could overflow (times are then scaled to about a
    /// million units for the largest).
    /// </summary>
    internal static long IntegerTimeDivisor(double[] times)
    {
        if (!times.All(x => x == Math.Floor(x) && x < 1e15)) return 0;
        long g = times.Select(x => (long)x).Where(x => x > 0).Aggregate(0L, Gcd);
        if (g == 0) return 1;
        return times.Sum() / g * times.Length < 1e15 ? g : 0;
    }
}

/// <summary>
/// Consecutive stages [<paramref name="First"/>, <paramref name="Last"/>] of a plan, re-optimised by a <see
/// cref="StageModel"/> while everything else stays the plan's: the buffers live when stage First begins and when stage
/// Last + 1 begins are exactly the plan's, so the stages outside run, keep and free as the plan does, and the model's
/// objective is the window's recomputation (<see cref="StageLocalSearch"/>).
/// </summary>
/// <param name="Trace">The plan's trace (<see cref="StageTrace.Of"/>).</param>
internal sealed record StageWindow(int First, int Last, StagePlan Plan, StageTrace Trace);
