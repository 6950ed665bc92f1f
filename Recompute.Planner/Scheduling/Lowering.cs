using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Scheduling;

/// <summary>
/// Lowers a canonical strategy to an explicit schedule over the training DAG.
/// Forward: blocks in order; a tensor stays alive after its block only when it is a checkpoint, i.e. on the
/// boundary ∂(L_i) (read by a later block). Backward: backward tasks by descending block, then descending
/// topological position (a linear extension of the backward DAG for derived graphs; enforced by a priority
/// topological sort for explicit ones). A forward value a backward task reads that is not alive is recomputed
/// just before, with its missing inputs first, so each tensor is recomputed at most once. A liveness pass then
/// frees every buffer right after its last reader.
/// </summary>
internal static class Lowering
{
    /// <summary>
    /// The store-all schedule: every forward tensor once, in block order, each kept until its last reader.
    /// Unlike lowering <see cref="CanonicalStrategy.EveryTensor"/>, a tensor no later forward tensor reads
    /// but backward does (a Dropout mask, a dead end such as an auxiliary output) is kept too, so nothing is recomputed.
    /// </summary>
    public static Schedule StoreAll(TrainingGraph training, ForwardDag dag, string solver, long? budgetBytes) =>
        Lower(training, dag, CanonicalStrategy.EveryTensor(dag), solver, budgetBytes, keepEverything: true);

    public static Schedule Lower(TrainingGraph training, ForwardDag dag, CanonicalStrategy strategy, string solver, long? budgetBytes) =>
        Lower(training, dag, strategy, solver, budgetBytes, keepEverything: false);

    private static Schedule Lower(TrainingGraph training, ForwardDag dag, CanonicalStrategy strategy, string solver, long? budgetBytes,
        bool keepEverything)
    {
        var g = training.Graph;
        var blockOf = Enumerable.Repeat(-1, g.Count).ToArray();
        for (int b = 0; b < strategy.Blocks.Length; b++)
            foreach (var n in strategy.Blocks[b]) blockOf[n] = b;

        // Dead ends (tensors no loss depends on) are made at the end of the block of their last input.
        var extras = new List<int>[strategy.Blocks.Length];
        for (int b = 0; b < extras.Length; b++) extras[b] = [];
        foreach (var d in dag.DeadEnds)
        {
            int block = 0;
            foreach (var p in g[d].Inputs) if (blockOf[p] > block) block = blockOf[p];
            blockOf[d] = block;
            if (extras.Length > 0) extras[block].Add(d);
        }

        var steps = new List<Step>(training.Count * 2);
        var available = new bool[training.Count];

        // Forward pass, block by block; non-checkpoints are dropped at the end of their block.
        for (int b = 0; b < strategy.Blocks.Length; b++)
        {
            foreach (var n in strategy.Blocks[b])
            {
                int t = training.ForwardTaskOf(n);
                steps.Add(new Step(StepKind.Compute, t));
                available[t] = true;
            }
            int before = steps.Count;
            foreach (var d in extras[b])
            {
                int t = training.ForwardTaskOf(d);
                foreach (int p in training.Tasks[t].Inputs)
                    if (!available[p]) Recompute(training, p, available, steps);
                steps.Add(new Step(StepKind.Compute, t));
                available[t] = true;
            }
            if (keepEverything) continue;
            // Inputs a dead end needed from an earlier block were recomputed for it; they are not checkpoints.
            for (int i = before; i < steps.Count; i++) available[steps[i].Task] = false;
            foreach (var n in strategy.Blocks[b])
            {
                bool checkpoint = dag.Succ[dag.IndexOf[n]].Any(s => blockOf[dag.NodeOf[s]] > b);
                if (!checkpoint) available[training.ForwardTaskOf(n)] = false;
            }
        }
        // Forward tasks the strategy does not mention (none for a valid strategy) would be a bug.
        for (int t = 0; t < training.Count; t++)
            if (training.Tasks[t].Kind == TaskKind.Forward && blockOf[training.Tasks[t].Node] < 0)
                throw new ArgumentException($"the strategy does not place forward tensor '{training.Tasks[t].Name}' in any block");

        // Values only become available from here on, so an inputs array that many gradient tasks share (a wide
        // Concat's) is walked once.
        var walked = new HashSet<int[]>(ReferenceEqualityComparer.Instance);
        foreach (int bt in BackwardOrder(training, blockOf))
        {
            var inputs = ImmutableCollectionsMarshal.AsArray(training.Tasks[bt].Inputs) ?? [];
            if (inputs.Length < TrainingGraph.SharedInputsLength || walked.Add(inputs))
                foreach (int p in inputs)
                    if (!available[p]) Recompute(training, p, available, steps);
            steps.Add(new Step(StepKind.Backward, bt));
            available[bt] = true;
        }
        return new Schedule(training, Liveness.InsertFrees(training, steps), solver, budgetBytes);
    }

    private static void Recompute(TrainingGraph training, int task, bool[] available, List<Step> steps)
    {
        // Iterative post-order over missing inputs (deep chains must not overflow the stack).
        var stack = new Stack<(int Task, bool Expanded)>();
        stack.Push((task, false));
        while (stack.Count > 0)
        {
            var (t, expanded) = stack.Pop();
            if (available[t]) continue;
            if (training.Tasks[t].Kind != TaskKind.Forward)
                throw new InvalidOperationException($"backward task '{training.Tasks[t].Name}' is needed before it was computed");
            if (expanded)
            {
                steps.Add(new Step(StepKind.Recompute, t));
                available[t] = true;
                continue;
            }
            stack.Push((t, true));
            var inputs = training.Tasks[t].Inputs;
            for (int i = inputs.Length - 1; i >= 0; i--)
                if (!available[inputs[i]]) stack.Push((inputs[i], false));
        }
    }

    /// <summary>Backward tasks ordered by descending (block, node), respecting the backward DAG's edges.</summary>
    private static List<int> BackwardOrder(TrainingGraph training, int[] blockOf)
    {
        var tasks = training.Tasks;
        var pending = new int[tasks.Length];
        var ready = new PriorityQueue<int, (int, int, int)>();
        var backwardInputs = new Dictionary<int[], int>(ReferenceEqualityComparer.Instance);
        (int, int, int) Key(int t)
        {
            int f = tasks[t].ForwardNode;
            int block = f >= 0 && blockOf[f] >= 0 ? blockOf[f] : int.MaxValue;
            return (-block, -(f >= 0 ? f : int.MaxValue), t);
        }
        foreach (var t in tasks)
        {
            if (t.Kind != TaskKind.Backward) continue;
            var inputs = ImmutableCollectionsMarshal.AsArray(t.Inputs) ?? [];
            if (!backwardInputs.TryGetValue(inputs, out int count))
            {
                foreach (int p in inputs) if (tasks[p].Kind == TaskKind.Backward) count++;
                if (inputs.Length >= TrainingGraph.SharedInputsLength) backwardInputs[inputs] = count;
            }
            pending[t.Id] = count;
            if (pending[t.Id] == 0) ready.Enqueue(t.Id, Key(t.Id));
        }
        var order = new List<int>();
        while (ready.TryDequeue(out int t, out _))
        {
            order.Add(t);
            foreach (int r in training.Readers(t))
                if (tasks[r].Kind == TaskKind.Backward && --pending[r] == 0) ready.Enqueue(r, Key(r));
        }
        return order;
    }
}

/// <summary>Inserts frees: every buffer instance is freed right after its last reader (or right after it is made, if none reads it).</summary>
public static class Liveness
{
    /// <summary>
    /// Every task once, in the DAG's task order (the file's order for a DAG taken as given), each buffer freed
    /// right after its last reader: the reference run without recomputation.
    /// </summary>
    public static Schedule RunOnce(TrainingGraph training, string solver, long? budgetBytes)
    {
        var steps = training.Tasks.Select(t => new Step(t.Kind == TaskKind.Forward ? StepKind.Compute : StepKind.Backward, t.Id)).ToList();
        return new Schedule(training, InsertFrees(training, steps), solver, budgetBytes);
    }

    public static ImmutableArray<Step> InsertFrees(TrainingGraph training, IReadOnlyList<Step> allocations)
    {
        int n = allocations.Count;
        var freeAfter = new List<int>?[n];
        var instanceStart = Enumerable.Repeat(-1, training.Count).ToArray();
        var lastUse = new int[training.Count];
        // A long inputs array that many tasks share (a wide Concat's gradients all read every operand) is not walked
        // per reader: its last read is kept per array, and a buffer's last use looks at the arrays that hold it.
        var sharedId = new Dictionary<int[], int>(ReferenceEqualityComparer.Instance);
        var lastRead = new List<int>();
        var holders = new List<int>?[training.Count];
        void Close(int t)
        {
            int at = lastUse[t];
            if (holders[t] is { } arrays)
                foreach (int a in arrays)
                    if (lastRead[a] > instanceStart[t]) at = Math.Max(at, lastRead[a]);
            (freeAfter[at] ??= []).Add(t);
        }
        for (int i = 0; i < n; i++)
        {
            var s = allocations[i];
            if (!s.Allocates) throw new ArgumentException("liveness expects allocation steps only");
            var inputs = ImmutableCollectionsMarshal.AsArray(training.Tasks[s.Task].Inputs) ?? [];
            if (inputs.Length < TrainingGraph.SharedInputsLength) foreach (int p in inputs) lastUse[p] = i;
            else
            {
                if (!sharedId.TryGetValue(inputs, out int a))
                {
                    sharedId[inputs] = a = lastRead.Count;
                    lastRead.Add(-1);
                    foreach (int p in inputs) (holders[p] ??= []).Add(a);
                }
                lastRead[a] = i;
            }
            if (instanceStart[s.Task] >= 0) Close(s.Task);
            instanceStart[s.Task] = i;
            lastUse[s.Task] = i;
        }
        for (int t = 0; t < training.Count; t++) if (instanceStart[t] >= 0) Close(t);

        var result = ImmutableArray.CreateBuilder<Step>(n * 2);
        for (int i = 0; i < n; i++)
        {
            result.Add(allocations[i]);
            if (freeAfter[i] is { } frees)
            {
                frees.Sort();
                foreach (int t in frees)
                    result.Add(new Step(training.Tasks[t].Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t));
            }
        }
        return result.ToImmutable();
    }
}
