using Google.OrTools.Sat;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// A lower bound on the recomputation of <em>every</em> schedule of a training DAG under a budget, whatever its order
/// of first runs: a relaxation that CP-SAT bounds, built only on what the partial order forces.
/// </summary>
/// <remarks>
/// <para>
/// Take a chain of cut tasks x₁, …, x_M, each a descendant of the one before (<see cref="Cuts"/>). In every schedule
/// the first run of x_m comes after the first run of every ancestor of x_m and before the first run of every
/// descendant, and the first runs of the cuts come in chain order. Interval m is the time after the first run of x_m
/// up to the first run of x_{m+1} (the last interval: the rest). Variables, for tasks a that are x_m or an ancestor
/// of it (written a ≤ x_m):
/// </para>
/// <list type="bullet">
/// <item>K[m,a]: a's buffer is live at the first run of x_m (for x_m and its inputs: always);</item>
/// <item>R[m,a]: a runs again at least once in interval m;</item>
/// <item>F[m,a], for tasks a that are no ancestor of x_m (a buffer that only the backward pass reads, such as a
/// Dropout mask, whose first run the partial order does not place before or after x_m): a runs, for the first time
/// or again, in interval m. F costs nothing.</item>
/// </list>
/// <para>Constraints, each true of every schedule under the simulator's memory model:</para>
/// <list type="number">
/// <item>Memory at x_m's run: bytes(x_m) + bytes(inputs of x_m) + Σ bytes_a K[m,a] over the other a ≤ budget (the
/// simulator holds the running task's output, its inputs and every live buffer, distinct buffers).</item>
/// <item>A task k whose first run is known to lie in interval m (x_m &lt; k ≤ x_{m+1}, or x_M &lt; k) reads each
/// input i ≤ x_m live: i was computed last before x_m's run and stayed live (K[m,i]) or was computed again after it
/// (R[m,i], since its first run was earlier).</item>
/// <item>A re-run of a in interval m reads each input u (u ≤ x_m) the same way: R[m,a] ⇒ K[m,u] ∨ R[m,u].</item>
/// <item>With a single cut (M = 1): where a task k after it reads an input i that is neither an ancestor nor a
/// descendant of the cut, i was
/// computed last before the cut's run and stayed live, or ran after it: K[1,i] ∨ F[1,i]; that run read its own
/// inputs u live, F[1,i] ⇒ K[1,u] ∨ R[1,u] (u an ancestor of the cut) or K[1,u] ∨ F[1,u] (otherwise). On chains the
/// same rows at every cut multiply the model (ViT-B/16's whole path: 146,000 decisions), so chains leave them out,
/// which keeps them relaxations.</item>
/// <item>A buffer live at x_m's run that was first computed by x_{m−1}'s run was live then or recomputed since:
/// K[m,a] ⇒ K[m−1,a] ∨ R[m−1,a].</item>
/// </list>
/// <para>
/// Objective: Σ time_a R[m,a] (times scaled and rounded down as in <see cref="StageModel"/>). Any schedule maps to
/// a feasible point (K = live at the cut, R = run again in the interval) whose objective is at most the schedule's
/// recompute time, so the optimum, and any bound CP-SAT proves on it, is a lower bound for every schedule. Only
/// variables that some constraint mentions exist (an absent K counts no bytes and an absent R is never needed, so
/// leaving them out keeps it a relaxation). Keep pins have no R (the plans that honour them never re-run them).
/// </para>
/// <para>
/// The cuts are chosen by the caller (<see cref="GeneralBound"/>) from <see cref="CutAnalysis.Path"/>: the path of the
/// DAG that maximises the total excess of its tasks, where a task's excess is how far its inputs, its output and
/// every buffer that one of its descendants reads would exceed the budget together (only such tasks can force
/// recomputation).
/// </para>
/// </remarks>
internal sealed class CutRelaxation
{
    private readonly Func<double, double> _toTime;
    private readonly Dictionary<(int Cut, int Task), BoolVar> _kept = [];
    private readonly Dictionary<(int Cut, int Task), BoolVar> _rerun = [];
    private readonly Dictionary<(int Cut, int Task), BoolVar> _late = [];
    private readonly int[] _before;
    private readonly TrainingGraph _training;
    private readonly TaskSet[] _descendants;

    /// <param name="analysis">The DAG's cut analysis at the budget (<see cref="CutAnalysis"/>).</param>
    /// <param name="cuts">Cut tasks: a chain of <paramref name="analysis"/>'s <see cref="CutAnalysis.Path"/>, in order.</param>
    /// <param name="neverRecompute">Tasks that are never run again (keep pins).</param>
    /// <param name="memoryBytes">The memory of constraint 1 when it is not the analysis's budget: a smaller one leaves
    /// room for what the relaxation does not count (<see cref="RelaxationGuide"/>; the optimum is then no bound).</param>
    /// <param name="backwardOnlyBuffers">Whether a single cut's relaxation has the rows for buffers that only the backward
    /// pass reads (the F variables): a bound is stronger with them, and CP-SAT takes longer to prove it (a guide, which
    /// only reads the solution's drops, goes without).</param>
    public CutRelaxation(CutAnalysis analysis, IReadOnlyList<int> cuts, IReadOnlySet<int> neverRecompute, long? memoryBytes = null,
        bool backwardOnlyBuffers = true)
    {
        var training = _training = analysis.Training;
        var tasks = training.Tasks;
        int n = tasks.Length;
        long budgetBytes = memoryBytes ?? analysis.BudgetBytes;
        var bytes = tasks.Select(t => t.Bytes).ToArray();
        var cost = analysis.Cost;
        var ancestors = analysis.Ancestors;
        var descendants = _descendants = analysis.Descendants;
        var fixedBytes = analysis.FixedBytes;
        _toTime = analysis.ToTime;
        Model = new CpModel();
        Infeasible = analysis.Infeasible;
        if (Infeasible) Model.AddBoolOr([]);
        Cuts = cuts;
        int m = cuts.Count;

        // Interval of each task's first run: after the cuts it descends from, at or before the first cut it precedes.
        var after = new int[n];
        var before = _before = new int[n];
        for (int t = 0; t < n; t++)
        {
            after[t] = 0;
            before[t] = m + 1;
            for (int c = 0; c < m; c++)
            {
                if (descendants[cuts[c]].Contains(t)) after[t] = c + 1;
                if (before[t] == m + 1 && (cuts[c] == t || ancestors[cuts[c]].Contains(t))) before[t] = c + 1;
            }
        }

        var kept = _kept;
        var rerun = _rerun;
        var work = new Queue<(bool IsRerun, int Cut, int Task)>();
        bool AlwaysLive(int c, int a) => cuts[c - 1] == a || tasks[cuts[c - 1]].Inputs.IndexOf(a) >= 0;
        // K[c,a] or R[c,a] as literals; null for K when it is always true, and nothing when neither may exist.
        ILiteral? K(int c, int a)
        {
            if (kept.TryGetValue((c, a), out var v)) return v;
            v = Model.NewBoolVar($"K{c}_{a}");
            kept[(c, a)] = v;
            work.Enqueue((false, c, a));
            return v;
        }
        ILiteral? R(int c, int a)
        {
            if (neverRecompute.Contains(a)) return null;
            if (rerun.TryGetValue((c, a), out var v)) return v;
            v = Model.NewBoolVar($"R{c}_{a}");
            rerun[(c, a)] = v;
            work.Enqueue((true, c, a));
            return v;
        }
        // F[c,a] for a task that is no ancestor of cut c (its first run may lie in interval c): a runs in interval c,
        // first or again, at no cost.
        var late = _late;
        ILiteral Late(int c, int a)
        {
            if (late.TryGetValue((c, a), out var v)) return v;
            v = Model.NewBoolVar($"F{c}_{a}");
            late[(c, a)] = v;
            work.Enqueue((true, c, a));
            return v;
        }
        // "a is live at a read in interval c": kept at cut c or run in interval c (again, or for a task that is no
        // ancestor of cut c, first or again), under a condition.
        void LiveInInterval(int c, int a, ILiteral? condition)
        {
            if (AlwaysLive(c, a)) return;
            var clause = new List<ILiteral>();
            if (condition is not null) clause.Add(condition.Not());
            clause.Add(K(c, a)!);
            if (before[a] > c) clause.Add(Late(c, a));
            else if (R(c, a) is { } r) clause.Add(r);
            Model.AddBoolOr(clause);
        }

        for (int t = 0; t < n; t++)
        {
            int c = after[t];
            if (c == 0 || before[t] != c + 1) continue;
            foreach (int i in tasks[t].Inputs)
                if (before[i] <= c || (backwardOnlyBuffers && m == 1 && after[i] < c)) LiveInInterval(c, i, null);
        }
        while (work.Count > 0)
        {
            var (isRun, c, a) = work.Dequeue();
            if (isRun)
            {
                var run = rerun.TryGetValue((c, a), out var r) ? r : late[(c, a)];
                foreach (int u in tasks[a].Inputs) LiveInInterval(c, u, run);
            }
            else if (c >= 2 && before[a] <= c - 1 && !AlwaysLive(c - 1, a))
            {
                var clause = new List<ILiteral> { kept[(c, a)].Not(), K(c - 1, a)! };
                if (R(c - 1, a) is { } r) clause.Add(r);
                Model.AddBoolOr(clause);
            }
        }

        for (int c = 1; c <= m; c++)
        {
            var sum = LinearExpr.NewBuilder();
            int terms = 0;
            foreach (var ((cut, a), v) in kept)
                if (cut == c && bytes[a] > 0) { sum.AddTerm(v, bytes[a]); terms++; }
            if (terms > 0) Model.Add(sum <= Math.Max(0, budgetBytes - fixedBytes[cuts[c - 1]]));
        }
        var objective = LinearExpr.NewBuilder();
        foreach (var ((_, a), v) in rerun)
            if (cost[a] > 0) objective.AddTerm(v, cost[a]);
        Model.Minimize(objective);
        DecisionCount = kept.Count + rerun.Count + late.Count;
    }

    /// <summary>
    /// The tasks a solution leaves out at cut <paramref name="cut"/> (0-based) although a later task reads them: what a
    /// schedule shaped like that solution recomputes after the cut. Only ancestors of the cut count: a buffer whose
    /// first run the partial order does not place before the cut (a mask or statistic that only the backward pass
    /// reads) is the lowering's to place. A buffer that only a re-run the solution does not make reads after the cut
    /// (its K is free) is not left out: no task after the cut reads it and the solution runs it at no cut again, so a
    /// schedule keeps it up to its last reader before the cut (ConvNeXt-T at 50 %: the last block's second
    /// point-wise MatMul output, 7.4·10⁹ to recompute, read after the forward pass only by its layer scale's
    /// gradient, long before the cut, and free to leave out of the cut's memory).
    /// </summary>
    public IReadOnlyList<int> DroppedAt(CpSolver solver, int cut) => Dropped(cut, v => solver.BooleanValue(v));

    /// <summary>
    /// As <see cref="DroppedAt(CpSolver, int)"/> for a point of the linear relaxation (<see cref="LinearRelaxation.Solve"/>),
    /// each variable rounded to the nearer of 0 and 1.
    /// </summary>
    public IReadOnlyList<int> DroppedAt(LinearSolution point, int cut) => Dropped(cut, v => point.Values[v.GetIndex()] >= 0.5);

    /// <summary>
    /// The buffers whose first run the chain places neither before nor after cut <paramref name="cut"/> (0-based; masks
    /// and statistics that only the backward pass reads) that a solution does not count live there: it runs them after the
    /// cut, where nothing is charged for a first run. A lowering of the solution drops them so that each is first run
    /// where the backward pass needs it (<see cref="Scheduling.FirstRuns"/>).
    /// </summary>
    public IReadOnlyList<int> LeftForLaterAt(CpSolver solver, int cut) => LeftForLater(cut, v => solver.BooleanValue(v));

    /// <summary>As <see cref="LeftForLaterAt(CpSolver, int)"/> for a point of the linear relaxation, rounded.</summary>
    public IReadOnlyList<int> LeftForLaterAt(LinearSolution point, int cut) => LeftForLater(cut, v => point.Values[v.GetIndex()] >= 0.5);

    private List<int> LeftForLater(int cut, Func<BoolVar, bool> isTrue) =>
        _kept.Where(e => e.Key.Cut == cut + 1 && _before[e.Key.Task] > cut + 1 && !_descendants[Cuts[cut]].Contains(e.Key.Task) && !isTrue(e.Value))
            .Select(e => e.Key.Task).Order().ToList();

    private List<int> Dropped(int cut, Func<BoolVar, bool> isTrue)
    {
        var after = _descendants[Cuts[cut]];
        bool ReadAfter(int a)
        {
            foreach (int r in _training.Readers(a))
                if (after.Contains(r)) return true;
            return false;
        }
        bool RunAgain(int a)
        {
            for (int c = 1; c <= Cuts.Count; c++)
                if (_rerun.TryGetValue((c, a), out var r) && isTrue(r)) return true;
            return false;
        }
        return _kept.Where(e => e.Key.Cut == cut + 1 && _before[e.Key.Task] <= cut + 1 && !isTrue(e.Value) && (ReadAfter(e.Key.Task) || RunAgain(e.Key.Task)))
            .Select(e => e.Key.Task).Order().ToList();
    }

    /// <summary>The tasks whose K variable a solution sets at cut <paramref name="cut"/> (0-based): buffers it counts live there.</summary>
    public IReadOnlyList<int> KeptAt(CpSolver solver, int cut) =>
        _kept.Where(e => e.Key.Cut == cut + 1 && solver.BooleanValue(e.Value)).Select(e => e.Key.Task).Order().ToList();

    /// <summary>The tasks a solution runs again in interval <paramref name="cut"/> (0-based: the time after that cut's first run).</summary>
    public IReadOnlyList<int> RerunIn(CpSolver solver, int cut) =>
        _rerun.Where(e => e.Key.Cut == cut + 1 && solver.BooleanValue(e.Value)).Select(e => e.Key.Task).Order().ToList();

    /// <summary>
    /// Whether a solution leaves <paramref name="task"/>'s buffer out at cut <paramref name="cut"/> (0-based): false
    /// where the model has no such decision (the cut task and its inputs, and buffers no constraint asks about).
    /// </summary>
    public bool Dropped(CpSolver solver, int cut, int task) =>
        _kept.TryGetValue((cut + 1, task), out var v) && !solver.BooleanValue(v);

    /// <summary>
    /// Hints CP-SAT with the point that <paramref name="schedule"/> maps to (K: live when the cut's first run starts;
    /// R: run again between that cut's first run and the next cut's; F: run in that interval, first or again): a
    /// solution whose objective is at most the schedule's recompute time, from which the search prunes at once. A hint
    /// is only a starting point, so the optimum and every bound proved stay those of the model; false when the schedule
    /// does not run every cut.
    /// </summary>
    public bool Hint(Scheduling.Schedule schedule)
    {
        var steps = schedule.Steps;
        int n = _training.Count;
        var seen = new bool[n];
        var live = new bool[n];
        // The live set at each cut's first run, and the tasks run (first or again) in each interval.
        var liveAt = new HashSet<int>[Cuts.Count];
        var runIn = new HashSet<int>[Cuts.Count];
        var againIn = new HashSet<int>[Cuts.Count];
        int next = 0;
        foreach (var step in steps)
        {
            if (step.Allocates)
            {
                int t = step.Task;
                if (next < Cuts.Count && t == Cuts[next] && !seen[t])
                {
                    liveAt[next] = [.. Enumerable.Range(0, n).Where(a => live[a])];
                    runIn[next] = [];
                    againIn[next] = [];
                    next++;
                }
                else if (next > 0)
                {
                    runIn[next - 1].Add(t);
                    if (seen[t]) againIn[next - 1].Add(t);
                }
                seen[t] = true;
                live[t] = true;
            }
            else if (step.Frees) live[step.Task] = false;
        }
        if (next < Cuts.Count) return false;
        Model.ClearHints();
        foreach (var ((c, a), v) in _kept) Model.AddHint(v, liveAt[c - 1].Contains(a));
        foreach (var ((c, a), v) in _rerun) Model.AddHint(v, againIn[c - 1].Contains(a));
        foreach (var ((c, a), v) in _late) Model.AddHint(v, runIn[c - 1].Contains(a));
        return true;
    }

    /// <summary>The CP-SAT model.</summary>
    public CpModel Model { get; }

    /// <summary>True when some task's inputs and output alone exceed the budget (no schedule fits).</summary>
    public bool Infeasible { get; }

    /// <summary>The cut tasks (a chain: each a descendant of the one before).</summary>
    public IReadOnlyList<int> Cuts { get; }

    /// <summary>Number of Boolean decisions (K and R).</summary>
    public int DecisionCount { get; }

    /// <summary>Converts an objective value (or bound) back to time units.</summary>
    public double ToTime(double objective) => _toTime(objective);
}
