using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>
/// Counts the work of greedy passes, as buffers visited by their eviction scans (each scan visits every task): what
/// one pass costs grows with the DAG's width (0.05 ms on U-Net, 0.5 s on a 5,000-wide fan-out), so a search that
/// repeats passes (<c>GreedySolver.PinSearch</c>) is bounded by this count, the same on any machine, not by a number
/// of passes.
/// </summary>
internal sealed class WorkMeter
{
    public long Visits { get; set; }
}

/// <summary>How <see cref="GreedyRematerializer"/> picks the live buffer to evict when memory runs out.</summary>
public enum EvictionScore
{
    /// <summary>
    /// Least (recompute cost) / (bytes × distance to next use) first, DTR-like (Kirisame et al. 2021) but with the
    /// known future instead of staleness: cheap, large buffers read late go first. The cost counts the buffer's
    /// own time plus that of its inputs that are no longer live (they would be recomputed with it).
    /// </summary>
    CostPerByteDistance,
    /// <summary>Farthest next use first (Belady's rule), larger buffer on ties; cost is ignored.</summary>
    FarthestNextUse,
    /// <summary>Least recompute cost per byte first, nearest use ignored.</summary>
    CostPerByte,
}

/// <summary>
/// A fast rematerialization heuristic for any DAG of tasks: run every task for the first time in a given
/// topological order; before a run, recompute (recursively) the inputs that are not live; when a run would exceed
/// the budget, evict live buffers by an <see cref="EvictionScore"/> until it fits; free a buffer as soon as no
/// later first run reads it (or, for a buffer recomputed for the current task, when the task has run). A run that
/// takes more than 8n + 1000 steps gives up (recursive recomputation on a dense DAG). Deterministic (ties go to the
/// earlier task). The schedule's frees are then placed by
/// <see cref="Liveness.InsertFrees"/>, which frees each buffer no later than the heuristic did, and the simulator
/// confirms the peak.
/// </summary>
/// <remarks>
/// The victim of each eviction comes from a queue of live buffers scored lazily (<see cref="Reserve"/>), and next uses
/// from walks over evicted readers only, so a pass is near-linear on long chains: about a second on a
/// 100,000-tensor chain, where scanning every task per eviction took minutes. It can fail where a plan exists (it
/// never reorders first runs and evicts greedily);
/// callers try several scores and orders and keep the cheapest schedule that fits.
/// </remarks>
internal sealed partial class GreedyRematerializer
{
    private readonly TrainingGraph _training;
    private readonly int[] _order;
    private readonly int[] _position;
    private readonly int[][] _readerPositions; // per task: positions of its readers' first runs, ascending
    private readonly int[] _nextReader; // per task: index into _readerPositions of the first reader not yet run
    private readonly bool[] _live;
    private readonly bool[] _ran;
    private readonly int[] _pins;
    private readonly bool[] _neverRecompute;
    private readonly int[] _runStage; // per task: the stage of its latest run
    private readonly long _stepLimit;
    private readonly List<Step> _steps = [];
    private readonly long _budget;
    private readonly EvictionScore _score;
    private readonly CancellationToken _cancellation;
    private long _current;
    private int _stage;
    private string? _failure;

    private GreedyRematerializer(TrainingGraph training, int[] order, long budget, EvictionScore score, bool[] neverRecompute, CancellationToken cancellation)
    {
        _cancellation = cancellation;
        _training = training;
        _order = order;
        _budget = budget;
        _score = score;
        _neverRecompute = neverRecompute;
        int n = training.Count;
        _position = new int[n];
        for (int p = 0; p < n; p++) _position[order[p]] = p;
        _readerPositions = new int[n][];
        // Tasks that share one readers array (TrainingGraph interns them) share its positions too: W² on a W-wide
        // Concat whose backward reads every operand otherwise.
        var shared = new Dictionary<int[], int[]>(ReferenceEqualityComparer.Instance);
        for (int t = 0; t < n; t++)
        {
            var array = training.ReadersArray(t);
            if (!shared.TryGetValue(array, out var readers))
            {
                readers = new int[array.Length];
                for (int i = 0; i < array.Length; i++) readers[i] = _position[array[i]];
                Array.Sort(readers);
                shared[array] = readers;
            }
            _readerPositions[t] = readers;
        }
        _nextReader = new int[n];
        _live = new bool[n];
        _ran = new bool[n];
        _pins = new int[n];
        _runStage = new int[n];
        _stepLimit = 8L * n + 1000;
        _visited = new int[n];
        _need = new int[n];
        _needVisited = new int[n];
        _registered = new bool[n];
        _evictedReaders = new List<int>?[n];
        _needAt = new long[n];
        _entryStamp = new int[n];
        _inQueue = new bool[n];
        Array.Fill(_needAt, -1);
        _costDepth = n <= ExactCostTasks ? int.MaxValue : GreedyOptions.Default.LargeGraphCostDepth;
        if (_costDepth != int.MaxValue) _depth = new int[n];
    }

    /// <summary>
    /// DAGs of at most this many tasks count every gone ancestor in a recompute cost, as always; larger ones only those
    /// within <see cref="GreedyOptions.LargeGraphCostDepth"/> runs (see <see cref="RecomputeCost"/>). Tests lower it to check the
    /// bounded count on small DAGs, for the calling flow only.
    /// </summary>
    internal static int ExactCostTasks { get => ExactCostTasksFlow.Value ?? 8_000; set => ExactCostTasksFlow.Value = value; }

    private static readonly AsyncLocal<int?> ExactCostTasksFlow = new();

    private readonly int _costDepth;
    private readonly int[]? _depth;
    private readonly Queue<int> _levels = new();

    private static int[] ReverseTopological(TrainingGraph training)
    {
        int n = training.Count;
        var missing = new int[n];
        for (int t = 0; t < n; t++) missing[t] = training.Tasks[t].Inputs.Length;
        var order = new List<int>(n);
        var ready = new Stack<int>(Enumerable.Range(0, n).Where(t => missing[t] == 0).Reverse());
        while (ready.Count > 0)
        {
            int t = ready.Pop();
            order.Add(t);
            foreach (int r in training.Readers(t)) if (--missing[r] == 0) ready.Push(r);
        }
        order.Reverse();
        return [.. order];
    }

    /// <summary>
    /// Plans the DAG under <paramref name="budget"/> with first runs in <paramref name="order"/> (a topological
    /// order of task ids). Returns the allocation steps (no frees), or null when the heuristic could not fit.
    /// </summary>
    /// <param name="neverRecompute">Tasks that must never run twice (pinned by <c>--keep</c>).</param>
    /// <param name="evictAtGap">Tasks whose buffers are evicted when the first backward task is reached (<c>--recompute</c>).</param>
    /// <param name="cancellation">Checked at every stage and eviction: a run is stopped by it, never half-returned.</param>
    public static List<Step>? Plan(TrainingGraph training, IReadOnlyList<int> order, long budget, EvictionScore score,
        ISet<int>? neverRecompute = null, ISet<int>? evictAtGap = null, CancellationToken cancellation = default)
    {
        return Plan(training, order, budget, score, Mask(training.Count, neverRecompute), evictAtGap, out _, cancellation);
    }

    /// <summary>As the other overload (pins as a per-task array), with why it failed.</summary>
    /// <param name="meter">Counts the pass's eviction scans (<see cref="WorkMeter"/>), when given.</param>
    public static List<Step>? Plan(TrainingGraph training, IReadOnlyList<int> order, long budget, EvictionScore score,
        bool[] neverRecompute, ISet<int>? evictAtGap, out string? failure, CancellationToken cancellation = default, WorkMeter? meter = null)
    {
        var g = new GreedyRematerializer(training, order.ToArray(), budget, score, neverRecompute, cancellation) { _meter = meter };
        bool ok = g.Run(evictAtGap);
        failure = g._failure;
        return ok ? g._steps : null;
    }

    /// <summary>
    /// As <see cref="Schedule"/>, but the buffers of <paramref name="dropAfterForward"/> are freed as soon as no
    /// forward first run reads them (they are recomputed for the backward pass when it needs them): a keep set chosen
    /// from outside (<see cref="Optimal.RelaxationGuide"/>) instead of by eviction scores. The order must run every
    /// forward task before every backward one (<see cref="GreedySolver.ForwardFirst"/>).
    /// </summary>
    public static Schedule? GuidedSchedule(TrainingGraph training, IReadOnlyList<int> order, long budget, EvictionScore score, string solver,
        IReadOnlySet<int> neverRecompute, IReadOnlySet<int> dropAfterForward, CancellationToken cancellation = default)
    {
        var g = new GreedyRematerializer(training, order.ToArray(), budget, score, Mask(training.Count, neverRecompute), cancellation)
        {
            _dropAfterForward = Mask(training.Count, dropAfterForward),
        };
        return g.Run(null) ? new Schedule(training, Liveness.InsertFrees(training, g._steps), solver, budget) : null;
    }

    /// <summary>A per-task flag array of a set of task ids (null: none).</summary>
    private static bool[] Mask(int tasks, IEnumerable<int>? ids)
    {
        var mask = new bool[tasks];
        if (ids is not null) foreach (int t in ids) mask[t] = true;
        return mask;
    }

    private bool[]? _dropAfterForward;

    private WorkMeter? _meter;

    /// <summary>Frees a buffer of <see cref="_dropAfterForward"/> once no forward first run reads it any more.</summary>
    private void DropIfForwardDone(int t)
    {
        if (_dropAfterForward is null || !_dropAfterForward[t] || !_live[t] || _pins[t] > 0) return;
        int next = NextUse(t);
        if (next == int.MaxValue || _training.Tasks[_order[next]].Kind == TaskKind.Backward) Free(t, changesNeeds: true);
    }

    /// <summary>The schedule of Plan with frees placed by liveness, or null.</summary>
    public static Schedule? Schedule(TrainingGraph training, IReadOnlyList<int> order, long budget, EvictionScore score, string solver,
        ISet<int>? neverRecompute = null, ISet<int>? evictAtGap = null, CancellationToken cancellation = default, WorkMeter? meter = null)
    {
        var steps = Plan(training, order, budget, score, Mask(training.Count, neverRecompute), evictAtGap, out _, cancellation, meter);
        return steps is null ? null : new Schedule(training, Liveness.InsertFrees(training, steps), solver, budget);
    }

    /// <summary>
    /// A topological order that keeps live memory low without recomputation: among the tasks whose inputs have
    /// run, the one that adds the fewest bytes (its output minus the inputs it is the last reader of) runs next,
    /// the earlier task on ties. Forward-only DAGs taken as given often fit a smaller budget in this order than in
    /// the file's, with nothing recomputed.
    /// </summary>
    /// <remarks>
    /// Each task's delta is kept up to date as tasks run (an input's bytes come off when its reader becomes its last
    /// unread one), and the ready tasks are ordered by (delta, id): O((tasks + edges) log tasks). Recomputing every
    /// ready task's delta at every step would be O(ready × inputs) per step: W³ on a W-wide Concat whose backward
    /// reads every operand.
    /// </remarks>
    /// <param name="cancellation">Checked every 1,024 steps.</param>
    public static int[] MemoryAwareOrder(TrainingGraph training, CancellationToken cancellation = default)
    {
        int n = training.Count;
        var missing = new int[n];
        var unreadBy = new int[n]; // readers of each task that have not run
        var delta = new long[n];
        var ran = new bool[n];
        for (int t = 0; t < n; t++) { missing[t] = training.Tasks[t].Inputs.Length; unreadBy[t] = training.Readers(t).Length; }
        for (int t = 0; t < n; t++)
        {
            var task = training.Tasks[t];
            delta[t] = training.Readers(t).Length == 0 ? 0 : task.Bytes;
            foreach (int p in task.Inputs) if (unreadBy[p] == 1) delta[t] -= training.Tasks[p].Bytes;
        }
        var ready = new SortedSet<(long Delta, int Task)>();
        for (int t = 0; t < n; t++) if (missing[t] == 0) ready.Add((delta[t], t));
        var order = new int[n];
        for (int step = 0; step < n; step++)
        {
            if ((step & 1023) == 0) cancellation.ThrowIfCancellationRequested();
            var (_, pick) = ready.Min;
            ready.Remove(ready.Min);
            order[step] = pick;
            ran[pick] = true;
            foreach (int p in training.Tasks[pick].Inputs)
            {
                if (--unreadBy[p] != 1) continue;
                // p's one unread reader now frees it when it runs.
                foreach (int r in training.Readers(p))
                {
                    if (ran[r]) continue;
                    bool isReady = missing[r] == 0;
                    if (isReady) ready.Remove((delta[r], r));
                    delta[r] -= training.Tasks[p].Bytes;
                    if (isReady) ready.Add((delta[r], r));
                    break;
                }
            }
            foreach (int r in training.Readers(pick)) if (--missing[r] == 0) ready.Add((delta[r], r));
        }
        return order;
    }

    private bool Run(ISet<int>? evictAtGap)
    {
        bool gapSeen = false;
        for (_stage = 0; _stage < _order.Length; _stage++)
        {
            _version++; // next uses are counted from the stage
            _cancellation.ThrowIfCancellationRequested(); // every stage: one stage's need pass is O(tasks + edges)
            int k = _order[_stage];
            var task = _training.Tasks[k];
            // This stage's task is the reader its inputs' next uses pointed at: their distances grow, scores fall.
            foreach (int p in task.Inputs) Requeue(p);
            if (!gapSeen && task.Kind == TaskKind.Backward)
            {
                gapSeen = true;
                if (evictAtGap is not null)
                    foreach (int t in evictAtGap.Order())
                        if (_live[t]) Free(t, changesNeeds: true);
            }
            if (!RunTask(k)) return false;
            // The readers at this position have run: advance their next-reader pointers.
            foreach (int p in task.Inputs)
                while (_nextReader[p] < _readerPositions[p].Length && _readerPositions[p][_nextReader[p]] <= _stage) _nextReader[p]++;
            if (!gapSeen && _dropAfterForward is not null)
            {
                DropIfForwardDone(k);
                foreach (int p in task.Inputs) DropIfForwardDone(p);
            }
            // Buffers nothing reads later, including those recomputed for this stage, go now. Only a run makes a
            // buffer dead (it passes a reader's position, or makes an evicted reader live), so the candidates are the
            // tasks run in this stage and their inputs; every other buffer was alive when the last stage ended and
            // evictions only add uses. Scanning every buffer with the all-task need pass, as before, was O(tasks +
            // edges) per stage: W³ in all on a W-wide fan-out whose backward reads every branch.
            foreach (int r in _ranThisStage)
            {
                FreeAtStageEnd(r);
                foreach (int p in _training.Tasks[r].Inputs) FreeAtStageEnd(p);
            }
            _ranThisStage.Clear();
        }
        return true;
    }

    /// <summary>
    /// Runs a task (first run or recomputation). Its missing ancestors (the inputs that are not live, their
    /// inputs that are not live, and so on) are recomputed first, each once, in position order (topological);
    /// every buffer the sub-run reads stays pinned until its last reader in the sub-run has run.
    /// </summary>
    private bool RunTask(int k)
    {
        var missing = MissingAncestors(k);
        foreach (int a in missing) foreach (int p in _training.Tasks[a].Inputs) _pins[p]++;
        foreach (int p in _training.Tasks[k].Inputs) _pins[p]++;
        bool ok = true;
        int done = 0;
        for (; done < missing.Count && ok; done++) ok = RunOne(missing[done]);
        // Unpin what the sub-run did not get to (on failure) and the task's own inputs.
        for (int i = done; i < missing.Count; i++) foreach (int p in _training.Tasks[missing[i]].Inputs) _pins[p]--;
        if (ok) ok = RunOne(k);
        else foreach (int p in _training.Tasks[k].Inputs) _pins[p]--;
        return ok;
    }

    /// <summary>Allocates and runs one task whose inputs are live, then unpins its inputs.</summary>
    private bool RunOne(int k)
    {
        var inputs = _training.Tasks[k].Inputs;
        bool ok = true;
        int inPlaceOf = -1;
        if (_ran[k] && _neverRecompute[k]) { ok = false; _failure = $"'{_training.Tasks[k].Name}' is pinned (never recompute) but must run again"; }
        else if (!ReserveFor(k, out inPlaceOf))
        {
            long pinned = 0;
            for (int t = 0; t < _live.Length; t++) if (_live[t] && (_pins[t] > 0 || _neverRecompute[t])) pinned += _training.Tasks[t].Bytes;
            ok = false;
            _failure = $"at the first run of '{_training.Tasks[_order[_stage]].Name}' (stage {_stage}), running '{_training.Tasks[k].Name}' needs {_training.Tasks[k].Bytes} bytes beside {pinned} bytes of buffers it or its pending recomputations read";
        }
        else if (_steps.Count >= _stepLimit) { ok = false; _failure = $"more than {_stepLimit} runs (recomputation cascades)"; }
        if (ok)
        {
            var kind = _training.Tasks[k].Kind == TaskKind.Backward ? StepKind.Backward : BackFromHost(k) ? StepKind.Prefetch : _ran[k] ? StepKind.Recompute : StepKind.Compute;
            _steps.Add(new Step(kind, k));
            _live[k] = true;
            _registered[k] = false;
            _ran[k] = true;
            _version++;
            _runStage[k] = _stage;
            _ranThisStage.Add(k);
            _current += _training.Tasks[k].Bytes;
            RequeueAfterRun(k);
        }
        foreach (int p in inputs) _pins[p]--;
        // A run in place took over its source, which nothing reads later: it goes now (liveness frees it right after).
        if (ok && inPlaceOf >= 0) Free(inPlaceOf, changesNeeds: false);
        if (ok) foreach (int p in inputs) FreeIfDead(p);
        return ok;
    }

    /// <summary>
    /// Makes room for a run of <paramref name="k"/>: its bytes, less its in-place source's when the run takes that
    /// buffer over (<see cref="InPlaceCandidate"/>), then <paramref name="inPlaceOf"/> is that source (or -1). An
    /// eviction that gives the source a later use makes the run allocate in full.
    /// </summary>
    private bool ReserveFor(int k, out int inPlaceOf)
    {
        long bytes = _training.Tasks[k].Bytes;
        inPlaceOf = InPlaceCandidate(k);
        if (inPlaceOf < 0) return Reserve(bytes);
        if (!Reserve(bytes - _training.Tasks[inPlaceOf].Bytes)) { inPlaceOf = -1; return false; }
        if (InPlaceCandidate(k) == inPlaceOf) return true;
        inPlaceOf = -1;
        return Reserve(bytes);
    }

    /// <summary>
    /// The source a run of <paramref name="k"/> takes over in place (<see cref="Scheduling.InPlaceSteps"/>), or -1: it
    /// is live, only this run pins it, nothing needs it later (so liveness frees it right after the run), and it has
    /// not moved to or from the host.
    /// </summary>
    private int InPlaceCandidate(int k)
    {
        int s = _training.InPlaceSource(k);
        if (s < 0 || OnHost(k) || !_live[s] || _pins[s] != 1 || (_moved is not null && _moved[s])) return -1;
        return IsDead(s, running: k) ? s : -1;
    }

    /// <summary>The ancestors of a task that must be recomputed before it runs, in position order.</summary>
    private List<int> MissingAncestors(int k)
    {
        _visitStamp++;
        var found = new List<int>();
        _stack.Clear();
        foreach (int p in _training.Tasks[k].Inputs) _stack.Push(p);
        while (_stack.Count > 0)
        {
            int p = _stack.Pop();
            if (_live[p] || _visited[p] == _visitStamp) continue;
            if (!_ran[p]) throw new InvalidOperationException($"the order runs '{_training.Tasks[k].Name}' before its ancestor '{_training.Tasks[p].Name}'");
            _visited[p] = _visitStamp;
            found.Add(p);
            if (OnHost(p)) continue; // a prefetch needs no inputs
            foreach (int q in _training.Tasks[p].Inputs) _stack.Push(q);
        }
        found.Sort((x, y) => _position[x].CompareTo(_position[y]));
        return found;
    }

    /// <summary>Next position (after the current stage) at which a first run reads the task, or int.MaxValue.</summary>
    private int NextUse(int t)
    {
        var readers = _readerPositions[t];
        int i = _nextReader[t];
        while (i < readers.Length && readers[i] <= _stage) i++;
        return i < readers.Length ? readers[i] : int.MaxValue;
    }

    /// <summary>
    /// Frees a buffer no later first run reads, unless it was run in this stage: buffers recomputed for this stage's
    /// task may serve another recomputation of the stage (freeing them at once makes recursive recomputation
    /// exponential on dense DAGs). They stay until the stage ends, or until memory is short (evicted first).
    /// </summary>
    /// <summary>
    /// When a buffer is next needed: by the first run of a reader, or by the recomputation of an evicted reader
    /// that is needed later (and so on through evicted readers). Counting only first runs would free the inputs
    /// of evicted buffers as dead, and bringing those back would then cascade to the start of the DAG.
    /// </summary>
    /// <remarks>
    /// need[t] = min(next first-run use of t, need[q] over the evicted readers q of t), computed for the buffers asked
    /// about only, by a walk over registered evicted readers (<see cref="Register"/>), and remembered until the state
    /// changes (a run, an eviction, a new stage). A buffer freed as dead has no later use, so it adds nothing to the
    /// minimum until an eviction below it registers it again. A pass over every task whenever the state changed would
    /// make one greedy pass quadratic in the chain's length.
    /// </remarks>
    private int NeededAt(int t)
    {
        if (_needAt[t] == _version) return _need[t];
        _needWalk.Clear();
        _needWalk.Push((t, false));
        while (_needWalk.Count > 0)
        {
            var (r, expanded) = _needWalk.Pop();
            if (_needAt[r] == _version) continue;
            var readers = _evictedReaders[r];
            if (!expanded)
            {
                _needWalk.Push((r, true));
                if (readers is not null)
                    foreach (int q in readers)
                        if (_registered[q] && _needAt[q] != _version) _needWalk.Push((q, false));
                continue;
            }
            int best = NextUse(r);
            if (readers is not null)
            {
                int kept = 0;
                for (int i = 0; i < readers.Count; i++)
                {
                    int q = readers[i];
                    if (!_registered[q]) continue; // ran again since: dropped here
                    readers[kept++] = q;
                    if (_need[q] < best) best = _need[q];
                }
                readers.RemoveRange(kept, readers.Count - kept);
            }
            _need[r] = best;
            _needAt[r] = _version;
        }
        return _need[t];
    }

    private readonly Stack<(int Task, bool Expanded)> _needWalk = new();

    /// <summary>
    /// The evicted buffers whose need the passes count, with every non-live input of each (recursively): a buffer
    /// outside it has no later use. Kept by <see cref="Register"/> on evictions and frees, cleared by a run.
    /// </summary>
    private readonly bool[] _registered;

    /// <summary>Per task: the registered readers (entries of readers that ran since are dropped lazily); null: none yet.</summary>
    private readonly List<int>?[] _evictedReaders;

    /// <summary>
    /// Registers a non-live buffer and its non-live inputs, recursively (their needs now count through it). A buffer
    /// already registered has its non-live inputs registered, so the walk stops there.
    /// </summary>
    private void Register(int t)
    {
        _registerStack.Clear();
        _registerStack.Push(t);
        while (_registerStack.Count > 0)
        {
            int q = _registerStack.Pop();
            if (_registered[q] || _live[q] || !_ran[q]) continue;
            _registered[q] = true;
            foreach (int p in _training.Tasks[q].Inputs)
            {
                (_evictedReaders[p] ??= []).Add(q);
                _registerStack.Push(p);
            }
        }
    }

    private readonly Stack<int> _registerStack = new();

    private readonly int[] _need;
    private readonly long[] _needAt; // per task: the state (_version) its _need was computed in, or -1
    private int[]? _reverseTopological; // for SelfCheck
    private long _version;

    private readonly Stack<int> _needStack = new();
    private readonly int[] _needVisited;
    private int _needStamp;

    /// <summary>
    /// Whether nothing will read the buffer again (<see cref="NeededAt"/> is int.MaxValue), without computing when:
    /// a later first-run reader answers at once, else a walk over its registered evicted readers stops at the first
    /// later use.
    /// </summary>
    /// <param name="running">A registered reader about to run (no longer evicted then), whose needs do not count; -1: none.</param>
    private bool IsDead(int t, int running = -1)
    {
        if (running < 0 && _needAt[t] == _version) return _need[t] == int.MaxValue;
        if (NextUse(t) != int.MaxValue) return false;
        _needStamp++;
        _needStack.Clear();
        _needStack.Push(t);
        while (_needStack.Count > 0)
        {
            int r = _needStack.Pop();
            if (_evictedReaders[r] is not { } readers) continue;
            foreach (int q in readers)
            {
                if (!_registered[q] || _needVisited[q] == _needStamp || q == running) continue;
                _needVisited[q] = _needStamp;
                if (NextUse(q) != int.MaxValue) return false;
                _needStack.Push(q);
            }
        }
        return true;
    }

    /// <summary>Tasks run (first runs and recomputations) in the current stage, in run order.</summary>
    private readonly List<int> _ranThisStage = [];

    private void FreeIfDead(int t)
    {
        if (_live[t] && _pins[t] == 0 && _runStage[t] != _stage && IsDead(t)) Free(t, changesNeeds: false);
    }

    private void FreeAtStageEnd(int t)
    {
        if (_live[t] && _pins[t] == 0 && IsDead(t)) Free(t, changesNeeds: false);
    }

    /// <param name="changesNeeds">False when nothing needs the buffer any more: its eviction then adds no later use
    /// to what its inputs are needed for, and the needs computed for this state stay valid.</param>
    private void Free(int t, bool changesNeeds)
    {
        _live[t] = false;
        _current -= _training.Tasks[t].Bytes;
        if (changesNeeds) { _version++; Register(t); }
        else
        {
            // A dead buffer read by a registered one is registered too (its need, infinite now, counts again when an
            // eviction below it gives that reader a later use). Registered readers are in its list of them.
            if (_evictedReaders[t] is { } readers)
                foreach (int q in readers)
                    if (_registered[q]) { Register(t); break; }
        }
    }
}
