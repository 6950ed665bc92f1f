using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>
/// Checks the runtime's parameter gradients of a whole graph against central finite differences of its loss. The
/// gradients come from a schedule that recomputes everything (so the recompute path is what is checked); the loss at
/// the perturbed weights from the forward pass alone, with the same dropout seed. The runtime computes in float32, so
/// the step is large enough (1e-2, or 1e-3 across ReLU and max-pool kinks) that the float32 rounding of the loss, about
/// 1e-7 of it, stays near 1e-5 of a gradient, and the tolerance is absolute plus relative.
/// </summary>
internal static class GraphGradientCheck
{
    /// <summary>Probes <paramref name="perTensor"/> elements of every parameter with a gradient; returns the number probed.</summary>
    public static int Check(ComputationGraph graph, int perTensor, float eps, double absolute, double relative, int seed = 5)
    {
        var schedule = Schedules.RecomputeAll(TrainingGraph.Derive(graph));
        var arena = new Arena();
        var model = ModelState.Initialize(graph, arena, seed);
        var executor = new ScheduleExecutor(schedule.Training, model);
        using var batch = TrainingBatch.Synthetic(graph, arena, seed, 1);
        // Embeddings start at 0.02 scale, where LayerNorm is so curved that ±1e-2 differences are meaningless:
        // bring every tiny parameter to unit scale so that finite differences test the backward, not the step size.
        foreach (var p in model.Parameters)
        {
            var w = model.Value(p).Span;
            double rms = Math.Sqrt(w.ToArray().Sum(v => (double)v * v) / w.Length);
            if (rms is > 0 and < 0.05) for (int i = 0; i < w.Length; i++) w[i] = (float)(w[i] / rms);
        }
        const ulong dropoutSeed = 17;
        executor.Run(schedule, batch, dropoutSeed);
        double Loss() => executor.Evaluate(batch, dropoutSeed, []).Loss;
        var rng = new DeterministicRandom(11);
        int probes = 0;
        foreach (var p in model.Parameters)
        {
            if (!model.HasGradient(p)) continue;
            var w = model.Value(p).Span;
            var analytic = model.Gradient(p).Span.ToArray();
            int length = w.Length;
            var indices = length <= perTensor ? Enumerable.Range(0, length).ToList() : Enumerable.Range(0,
                perTensor).Select(_ => rng.NextInt(length)).ToList();
            foreach (int i in indices)
            {
                float saved = w[i];
                w[i] = saved + eps; double up = Loss();
                w[i] = saved - eps; double down = Loss();
                w[i] = saved;
                double numeric = (up - down) / (2 * eps);
                Assert.True(Math.Abs(numeric - analytic[i]) <= absolute + relative * Math.Abs(numeric),
                    $"{graph[p].Name}[{i}]: backward {analytic[i]}, finite differences {numeric}");
                probes++;
            }
        }
        return probes;
    }
}
