using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Tests.Runtime;

/// <summary>Hand-built schedules for runtime tests (independent of the planner's solvers).</summary>
internal static class Schedules
{
    /// <summary>Store-all: forward tasks in order, then backward tasks in order; every buffer freed right after its last reader.</summary>
    public static Schedule StoreAll(TrainingGraph tg)
    {
        var order = Enumerable.Range(0, tg.Count).ToArray(); // forward tasks come first, then backward tasks
        var position = new int[tg.Count];
        for (int i = 0; i < order.Length; i++) position[order[i]] = i;
        var last = new int[tg.Count];
        for (int t = 0; t < tg.Count; t++)
        {
            last[t] = position[t];
            foreach (var r in tg.Readers(t)) last[t] = Math.Max(last[t], position[r]);
        }
        var steps = ImmutableArray.CreateBuilder<Step>();
        for (int i = 0; i < order.Length; i++)
        {
            var t = tg.Tasks[order[i]];
            steps.Add(new Step(t.Kind == TaskKind.Forward ? StepKind.Compute : StepKind.Backward, t.Id));
            for (int u = 0; u < tg.Count; u++)
                if (last[u] == i) steps.Add(new Step(tg.Tasks[u].Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, u));
        }
        return new Schedule(tg, steps.ToImmutable(), "test-store-all", null);
    }

    /// <summary>
    /// Keeps nothing across the forward/backward gap: forward values are freed after their last forward reader, and
    /// before every backward task the values it reads are recomputed from the inputs (then freed again after it).
    /// Lots of recomputation; a different memory profile from store-all; the same gradients.
    /// </summary>
    public static Schedule RecomputeAll(TrainingGraph tg)
    {
        var live = new bool[tg.Count];
        var steps = ImmutableArray.CreateBuilder<Step>();
        var forward = tg.Tasks.Where(t => t.Kind == TaskKind.Forward).ToArray();
        var backward = tg.Tasks.Where(t => t.Kind == TaskKind.Backward).ToArray();
        int LastForwardReader(int t) => tg.Readers(t).ToArray().Where(r => tg.Tasks[r].Kind == TaskKind.Forward).DefaultIfEmpty(t).Max();
        foreach (var t in forward)
        {
            steps.Add(new Step(StepKind.Compute, t.Id)); live[t.Id] = true;
            foreach (var p in t.Inputs.Append(t.Id))
                if (live[p] && LastForwardReader(p) <= t.Id) { steps.Add(new Step(StepKind.FreeValue, p)); live[p] = false; }
        }
        int lastGradReader(int t) => tg.Readers(t).ToArray().DefaultIfEmpty(t).Max();
        var pinned = new int[tg.Count];
        void Ensure(int t, TrainingTask b)
        {
            if (live[t]) return;
            var inputs = tg.Tasks[t].Inputs;
            foreach (var p in inputs) pinned[p]++;
            foreach (var p in inputs) Ensure(p, b);
            steps.Add(new Step(StepKind.Recompute, t)); live[t] = true;
            foreach (var p in inputs) pinned[p]--;
            // Intermediates that neither the backward task nor a pending recomputation reads are dropped at once
            // (and recomputed again if needed later).
            foreach (var p in inputs)
                if (live[p] && pinned[p] == 0 && !b.Inputs.Contains(p)) { steps.Add(new Step(StepKind.FreeValue, p)); live[p] = false; }
        }
        foreach (var b in backward)
        {
            foreach (var p in b.Inputs) if (tg.Tasks[p].Kind == TaskKind.Forward) Ensure(p, b);
            steps.Add(new Step(StepKind.Backward, b.Id)); live[b.Id] = true;
            foreach (var f in forward) if (live[f.Id]) { steps.Add(new Step(StepKind.FreeValue, f.Id)); live[f.Id] = false; }
            foreach (var p in b.Inputs.Append(b.Id))
                if (tg.Tasks[p].Kind == TaskKind.Backward && live[p] && lastGradReader(p) <= b.Id) { steps.Add(new Step(StepKind.FreeGrad,
                    p)); live[p] = false; }
        }
        return new Schedule(tg, steps.ToImmutable(), "test-recompute-all", null);
    }
}
