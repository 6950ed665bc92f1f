using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>Eviction: the queue of live buffers scored lazily, the score, and the recomputation cost it weighs.</summary>
internal sealed partial class GreedyRematerializer
{
    /// <summary>Evicts unpinned live buffers until <paramref name="bytes"/> more fit the budget.</summary>
    /// <remarks>
    /// The victim is the first dead buffer by id, else the least <see cref="Score"/> (the larger buffer on ties, then
    /// the earlier task), taken from a queue of live buffers keyed by a score that is never above the current one
    /// (<see cref="Requeue"/>): the top is scored again, and is the victim when its key was current. Scores only rise
    /// as stages pass and buffers go; the events that can lower one (a run, a next use passed) queue the buffers
    /// they touch again with the lowest key. A scan of every task per eviction, as before, made one pass quadratic.
    /// </remarks>
    private bool Reserve(long bytes)
    {
        bool ok = true;
        while (_current + bytes > _budget)
        {
            _cancellation.ThrowIfCancellationRequested();
            // Counted as the scan over every task it replaces, so that counted work (and so every plan) is as before.
            if (_meter is not null) _meter.Visits += _live.Length;
            var (victim, dead) = PopVictim();
            if (SelfCheck) CheckVictim(victim);
            if (victim < 0) { ok = false; break; }
            // An offloaded victim comes back without its inputs: its eviction adds no later use of them.
            Free(victim, changesNeeds: !dead && !OffloadsInstead(victim));
        }
        foreach (int t in _setAside) if (_live[t] && !_inQueue[t]) Enqueue(t, _setAsideKeys[t]);
        _setAside.Clear();
        return ok;
    }

    /// <summary>A queue key: dead buffers first by id, then (score, larger buffer, id).</summary>
    private readonly record struct Key(bool Alive, double Score, long NegativeBytes, int Task) : IComparable<Key>
    {
        public int CompareTo(Key other)
        {
            int c = Alive.CompareTo(other.Alive);
            if (c != 0) return c;
            c = Score.CompareTo(other.Score);
            if (c != 0) return c;
            c = NegativeBytes.CompareTo(other.NegativeBytes);
            return c != 0 ? c : Task.CompareTo(other.Task);
        }
    }

    /// <summary>The least key a buffer can have (its key when dead): "score me again".</summary>
    private static Key Floor(int t) => new(false, 0, 0, t);

    /// <summary>The buffer's key now, computing its need.</summary>
    private Key CurrentKey(int t)
    {
        int next = NeededAt(t);
        return next == int.MaxValue ? Floor(t) : new Key(true, Score(t, next), -_training.Tasks[t].Bytes, t);
    }

    /// <summary>
    /// Pops the victim (-1 when no buffer can go) and whether it is dead. Pinned buffers are set aside until the
    /// reservation ends; live never-recompute ones leave the queue until an event makes them dead.
    /// </summary>
    private (int Victim, bool Dead) PopVictim()
    {
        while (_queue.TryPeek(out var entry, out var key))
        {
            int t = key.Task;
            _queue.Dequeue();
            if (entry != _entryStamp[t] || !_inQueue[t]) continue; // replaced by a later entry, or left the queue
            _inQueue[t] = false;
            if (!_live[t]) continue;
            if (_pins[t] > 0) { _setAside.Add(t); _setAsideKeys[t] = key; continue; }
            var now = CurrentKey(t);
            if (now.Alive && _neverRecompute[t]) continue;
            if (now.CompareTo(key) == 0) return (t, !now.Alive);
            Enqueue(t, now);
        }
        return (-1, false);
    }

    private void Enqueue(int t, Key key)
    {
        _entryStamp[t]++;
        _inQueue[t] = true;
        _queue.Enqueue(_entryStamp[t], key);
        // Stale entries are skipped when popped; rebuild when they outnumber the live ones.
        if (_queue.Count > 4 * _live.Length + 1024) Compact();
    }

    private void Compact()
    {
        var current = new List<(int, Key)>();
        foreach (var (entry, key) in _queue.UnorderedItems)
            if (_inQueue[key.Task] && entry == _entryStamp[key.Task]) current.Add((entry, key));
        _queue.Clear();
        _queue.EnqueueRange(current);
    }

    /// <summary>Queues a live buffer with the least key, so that it is scored again before any eviction.</summary>
    private void Requeue(int t)
    {
        if (_live[t] && _training.Tasks[t].Bytes > 0) Enqueue(t, Floor(t));
    }

    /// <summary>
    /// What a run can lower: the task's own key (it is new), its inputs' (the run unregisters it, so their need may
    /// move later), and the key of every live buffer whose recompute cost counted the task (found down its readers
    /// through buffers that are gone).
    /// </summary>
    private void RequeueAfterRun(int k)
    {
        Requeue(k);
        foreach (int p in _training.Tasks[k].Inputs) Requeue(p);
        _visitStamp++;
        if (_depth is null)
        {
            _stack.Clear();
            _stack.Push(k);
            while (_stack.Count > 0)
            {
                int r = _stack.Pop();
                foreach (int q in _training.Readers(r))
                {
                    if (_visited[q] == _visitStamp || !_ran[q]) continue;
                    _visited[q] = _visitStamp;
                    if (_live[q]) Requeue(q);
                    else _stack.Push(q);
                }
            }
            return;
        }
        // The bounded count: breadth first, so each buffer is met at its least depth, as the cost's own walk meets it.
        _levels.Clear();
        _levels.Enqueue(k);
        _depth[k] = 0;
        _visited[k] = _visitStamp;
        while (_levels.Count > 0)
        {
            int r = _levels.Dequeue();
            foreach (int q in _training.Readers(r))
            {
                if (_visited[q] == _visitStamp || !_ran[q]) continue;
                _visited[q] = _visitStamp;
                _depth[q] = _depth[r] + 1;
                if (_live[q]) Requeue(q);
                else if (_depth[q] < _costDepth) _levels.Enqueue(q);
            }
        }
    }

    private readonly PriorityQueue<int, Key> _queue = new();
    private readonly int[] _entryStamp;
    private readonly bool[] _inQueue;
    private readonly List<int> _setAside = [];
    private readonly Dictionary<int, Key> _setAsideKeys = [];

    private double Score(int t, int next)
    {
        var task = _training.Tasks[t];
        double bytes = task.Bytes;
        double distance = next - _stage;
        switch (_score)
        {
            case EvictionScore.FarthestNextUse:
                return -distance;
            case EvictionScore.CostPerByte:
                return RecomputeCost(task) / bytes;
            default:
                return RecomputeCost(task) / (bytes * distance);
        }
    }

    /// <summary>
    /// Time to bring a buffer back: its own run plus the runs of the ancestors that are gone too and would be
    /// recomputed with it (DTR's evicted neighbourhood), each counted once.
    /// </summary>
    private double RecomputeCost(TrainingTask task)
    {
        // A small constant keeps zero-time tasks (Moccasin's source node) from being free to evict when they are
        // not: bringing them back still takes a step.
        double cost = task.Time + 1e-9;
        _visitStamp++;
        if (_depth is not null) return cost + BoundedAncestorTime(task);
        _stack.Clear();
        foreach (int p in task.Inputs) _stack.Push(p);
        while (_stack.Count > 0)
        {
            int p = _stack.Pop();
            if (_live[p] || _visited[p] == _visitStamp) continue;
            _visited[p] = _visitStamp;
            cost += _training.Tasks[p].Time;
            foreach (int q in _training.Tasks[p].Inputs) _stack.Push(q);
        }
        return cost;
    }

    /// <summary>
    /// Large DAGs: the time of the gone ancestors within <see cref="GreedyOptions.LargeGraphCostDepth"/> runs of the task (breadth
    /// first). Counting them all walked the whole gone part of a 100,000-tensor chain for every gradient scored, and
    /// made a run's effect on other buffers' costs (<see cref="RequeueAfterRun"/>) reach as far.
    /// </summary>
    private double BoundedAncestorTime(TrainingTask task)
    {
        double time = 0;
        _levels.Clear();
        _visited[task.Id] = _visitStamp;
        _depth![task.Id] = 0;
        _levels.Enqueue(task.Id);
        while (_levels.Count > 0)
        {
            int r = _levels.Dequeue();
            foreach (int p in _training.Tasks[r].Inputs)
            {
                if (_live[p] || _visited[p] == _visitStamp) continue;
                _visited[p] = _visitStamp;
                _depth[p] = _depth[r] + 1;
                time += _training.Tasks[p].Time;
                if (_depth[p] < _costDepth) _levels.Enqueue(p);
            }
        }
        return time;
    }

    private readonly Stack<int> _stack = new();
    private int[] _visited = [];
    private int _visitStamp;
}
