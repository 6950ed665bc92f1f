using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>
/// A block cost model that follows the schedule the lowering will emit, instead of the paper's bound. For a
/// transition L → L' (block V' = L' \ L) it replays the block's backward exactly as <see cref="Scheduling.Lowering"/>
/// orders it — gradient tasks of V' by descending position, each forward value a task reads recomputed just before
/// if it is not alive, every buffer freed after its last reader in the block — starting from what is alive when
/// the block begins (the gradients of the successors of L', the forward values outside L' that those gradients'
/// tasks read, and the checkpoints ∂(L') ∩ V'), and returns the block's peak above the cached checkpoints of
/// earlier blocks. The paper's 2·M(V') + M(A') + M(B') assumes every value and gradient of the block is alive at
/// once, far above what the schedule holds on chains of large tensors.
/// </summary>
internal sealed class LivenessBlockCost
{
    private readonly ForwardDag _dag;
    private readonly LowerSetFamily _f;
    private readonly long[] _gradBytes;
    /// <summary>Forward values (dense) the gradient task of each dense node reads.</summary>
    private readonly int[][] _readsValues;
    /// <summary>Gradients (dense nodes) the gradient task of each dense node reads.</summary>
    private readonly int[][] _readsGrads;
    /// <summary>Dense nodes whose gradient tasks read each value / each gradient.</summary>
    private readonly int[][] _valueReaders;
    private readonly int[][] _gradReaders;
    private readonly long[] _initial;
    /// <summary>Per dense node: the dense node whose value (forward) or gradient (backward) a run of its task takes over
    /// in place (<see cref="TrainingGraph.InPlaceSource"/>), or -1.</summary>
    private readonly int[] _valueInPlace;
    private readonly int[] _gradInPlace;

    public LivenessBlockCost(ForwardDag dag, TrainingGraph training, LowerSetFamily family)
    {
        _dag = dag;
        _f = family;
        int n = dag.Count;
        _gradBytes = new long[n];
        var rv = new List<int>[n];
        var rg = new List<int>[n];
        var vr = new List<int>[n];
        var gr = new List<int>[n];
        for (int i = 0; i < n; i++) { rv[i] = []; rg[i] = []; vr[i] = []; gr[i] = []; }
        for (int i = 0; i < n; i++)
        {
            int gt = training.GradTaskOf(dag.NodeOf[i]);
            if (gt < 0) continue;
            _gradBytes[i] = training.Tasks[gt].Bytes;
            foreach (int p in training.Tasks[gt].Inputs)
            {
                var task = training.Tasks[p];
                int d = dag.IndexOf[task.Node];
                if (d < 0) continue;
                if (task.Kind == TaskKind.Forward) { rv[i].Add(d); vr[d].Add(i); }
                else { rg[i].Add(d); gr[d].Add(i); }
            }
        }
        _valueInPlace = new int[n];
        _gradInPlace = new int[n];
        for (int i = 0; i < n; i++)
        {
            int ft = training.ForwardTaskOf(dag.NodeOf[i]), gt = training.GradTaskOf(dag.NodeOf[i]);
            _valueInPlace[i] = ft >= 0 && training.InPlaceSource(ft) is >= 0 and var fs ? dag.IndexOf[training.Tasks[fs].Node] : -1;
            _gradInPlace[i] = gt >= 0 && training.InPlaceSource(gt) is >= 0 and var gs ? dag.IndexOf[training.Tasks[gs].Node] : -1;
        }
        _readsValues = rv.Select(l => l.ToArray()).ToArray();
        _readsGrads = rg.Select(l => l.ToArray()).ToArray();
        _valueReaders = vr.Select(l => l.ToArray()).ToArray();
        _gradReaders = gr.Select(l => l.ToArray()).ToArray();

        // Alive from later blocks when the backward of a set L' begins: gradients of its successors and the
        // values outside L' that gradient tasks of nodes in L' read.
        _initial = new long[family.Count];
        var seenG = new int[n];
        var seenV = new int[n];
        for (int k = 0; k < family.Count; k++)
        {
            int stamp = k + 1;
            long bytes = 0;
            var set = family.Set(k);
            foreach (int v in ForwardDag.Members(set.ToArray()))
            {
                foreach (int s in _readsGrads[v])
                    if (!ForwardDag.Contains(set, s) && seenG[s] != stamp) { seenG[s] = stamp; bytes += _gradBytes[s]; }
                foreach (int w in _readsValues[v])
                    if (!ForwardDag.Contains(set, w) && seenV[w] != stamp) { seenV[w] = stamp; bytes += dag.Bytes[w]; }
            }
            _initial[k] = bytes;
        }
    }

    /// <summary>Scratch for one thread.</summary>
    public sealed class Scratch(int n)
    {
        public readonly bool[] Alive = new bool[n];
        public readonly int[] LastUse = new int[n];
        public readonly int[] GradLastUse = new int[n];
        public readonly List<(int Node, bool Grad)> Steps = [];
        public readonly List<int> Touched = [];
        public readonly Stack<(int, bool)> Stack = new();
        public readonly List<int> Block = [];
    }

    public Scratch NewScratch() => new(_dag.Count);

    /// <summary>A cheap lower bound of <see cref="Peak"/> for transitions into set b: what is alive when its block's backward begins.</summary>
    public long InitialBytes(int b) => _initial[b];

    /// <summary>Peak of the block's forward and backward above the earlier blocks' checkpoints.</summary>
    public long Peak(int a, int b, Scratch s)
    {
        var la = _f.Set(a);
        var lb = _f.Set(b);
        var bd = _f.BoundaryOf(b);
        var block = s.Block;
        block.Clear();
        _f.Difference(b, a, block);
        long blockValues = 0;
        foreach (int v in block) blockValues += _dag.Bytes[v];

        // Values alive at the start of the block's backward: checkpoints of the block (earlier checkpoints are in m).
        long live = _initial[b];
        foreach (int v in block)
            if (ForwardDag.Contains(bd, v)) { live += _dag.Bytes[v]; s.Alive[v] = true; s.Touched.Add(v); }

        // Emit the block's backward: gradients by descending position, recomputing values lazily.
        s.Steps.Clear();
        for (int i = block.Count - 1; i >= 0; i--)
        {
            int v = block[i];
            if (_gradBytes[v] == 0 && _readsGrads[v].Length == 0) continue;
            foreach (int w in _readsValues[v])
                if (ForwardDag.Contains(lb, w) && !ForwardDag.Contains(la, w) && !s.Alive[w]) Recompute(w, la, s);
            s.Steps.Add((v, true));
        }

        // Last use of each buffer inside the block; buffers read by earlier blocks stay alive past it.
        for (int i = 0; i < s.Steps.Count; i++)
        {
            var (v, grad) = s.Steps[i];
            if (grad)
            {
                foreach (int w in _readsValues[v]) s.LastUse[w] = i;
                foreach (int t in _readsGrads[v]) s.GradLastUse[t] = i;
                s.GradLastUse[v] = i;
            }
            else
            {
                foreach (int p in _dag.Pred[v]) s.LastUse[p] = i;
                s.LastUse[v] = i;
            }
        }
        long peak = blockValues;
        for (int i = 0; i < s.Steps.Count; i++)
        {
            var (v, grad) = s.Steps[i];
            live += grad ? _gradBytes[v] : _dag.Bytes[v];
            // A step in place (its source freed right after it, below) holds its output in the source's buffer.
            long atStep = live;
            if (grad && _gradInPlace[v] is >= 0 and var gs && s.GradLastUse[gs] == i && !ReadBefore(_gradReaders[gs], la)) atStep -= _gradBytes[gs];
            else if (!grad && _valueInPlace[v] is >= 0 and var ps && s.LastUse[ps] == i && ForwardDag.Contains(lb, ps) && !ForwardDag.Contains(la, ps)
                && !ReadBefore(_valueReaders[ps], la)) atStep -= _dag.Bytes[ps];
            if (atStep > peak) peak = atStep;
            // Frees after this step: what this step read (and made) whose last use is here and that no earlier block reads.
            if (grad)
            {
                foreach (int w in _readsValues[v])
                    if (s.LastUse[w] == i && !ReadBefore(_valueReaders[w], la)) live -= FreeValue(w, la);
                foreach (int t in _readsGrads[v])
                    if (s.GradLastUse[t] == i && !ReadBefore(_gradReaders[t], la)) { live -= _gradBytes[t]; s.GradLastUse[t] = -2; }
                if (s.GradLastUse[v] == i && !ReadBefore(_gradReaders[v], la)) { live -= _gradBytes[v]; s.GradLastUse[v] = -2; }
            }
            else
            {
                foreach (int p in _dag.Pred[v])
                    if (s.LastUse[p] == i && ForwardDag.Contains(lb, p) && !ForwardDag.Contains(la, p) && !ReadBefore(_valueReaders[p],
                        la)) live -= FreeValue(p, la);
                if (s.LastUse[v] == i && !ReadBefore(_valueReaders[v], la)) live -= FreeValue(v, la);
            }
        }
        foreach (int v in s.Touched) { s.Alive[v] = false; s.LastUse[v] = 0; }
        s.Touched.Clear();
        foreach (var (v,
            _) in s.Steps) { s.LastUse[v] = 0; s.GradLastUse[v] = 0; foreach (int w in _readsValues[v]) s.LastUse[w] = 0; foreach (int t in _readsGrads[v]) s.GradLastUse[t] = 0; }
        return peak;
    }

    /// <summary>Bytes released by freeing a value; checkpoints of earlier blocks are counted in the cached memory, not here.</summary>
    private long FreeValue(int w, ReadOnlySpan<ulong> la) => ForwardDag.Contains(la, w) ? 0 : _dag.Bytes[w];

    private static bool ReadBefore(int[] readers, ReadOnlySpan<ulong> la)
    {
        foreach (int r in readers) if (ForwardDag.Contains(la, r)) return true;
        return false;
    }

    private void Recompute(int w, ReadOnlySpan<ulong> la, Scratch s)
    {
        // Post-order over missing inputs inside the block (inputs in L are checkpoints, alive).
        s.Stack.Clear();
        s.Stack.Push((w, false));
        while (s.Stack.Count > 0)
        {
            var (v, expanded) = s.Stack.Pop();
            if (s.Alive[v]) continue;
            if (expanded)
            {
                s.Alive[v] = true;
                s.Touched.Add(v);
                s.Steps.Add((v, false));
                continue;
            }
            s.Stack.Push((v, true));
            var pred = _dag.Pred[v];
            for (int i = pred.Length - 1; i >= 0; i--)
                if (!ForwardDag.Contains(la, pred[i]) && !s.Alive[pred[i]]) s.Stack.Push((pred[i], false));
        }
    }
}
