using System.Globalization;
using CsCheck;
using Recompute.Planner.Graph;

namespace Recompute.Tests.Support;

/// <summary>Deterministic random DAGs for property tests.</summary>
public static class RandomGraphs
{
    /// <summary>
    /// A random forward graph: one input, <paramref name="nodes"/> activations each reading 1–3 earlier tensors,
    /// and a loss reading every tensor nothing else reads (so the loss is the unique sink).
    /// Sizes are 1..maxBytes, times 1..10 (integers, like the paper's units); with <paramref name="seconds"/>, times in
    /// seconds spread over four decades (1 µs to 10 ms, as a device profile gives them, kernels cheap and dear side by
    /// side) and backward times 1 to 3 times the forward.
    /// </summary>
    public static ComputationGraph Forward(int seed, int nodes, int maxBytes = 100, bool seconds = false)
    {
        var rng = new Random(seed);
        var b = new GraphBuilder($"random-{seed}-{nodes}", seconds ? "s" : "paper");
        double Time() => seconds ? Math.Pow(10, -6 + 4 * rng.NextDouble()) : rng.Next(1, 11);
        int x = b.Input("x", rng.Next(1, maxBytes + 1));
        var ids = new List<int>();
        var read = new HashSet<int>();
        for (int i = 0; i < nodes; i++)
        {
            var inputs = new List<int>();
            int k = ids.Count == 0 ? 1 : rng.Next(1, Math.Min(3, ids.Count) + 1);
            if (ids.Count == 0) inputs.Add(x);
            else
            {
                // Prefer recent tensors so graphs look like networks (chains with skips).
                for (int j = 0; j < k; j++)
                {
                    int back = Math.Min(ids.Count, 1 + (int)Math.Floor(Math.Pow(rng.NextDouble(), 2) * ids.Count));
                    int p = ids[ids.Count - back];
                    if (!inputs.Contains(p)) inputs.Add(p);
                }
            }
            foreach (var p in inputs) read.Add(p);
            long bytes = rng.Next(1, maxBytes + 1);
            double time = Time();
            ids.Add(seconds
                ? b.Add(new NodeSpec($"n{i}", "Op", NodeKind.Activation) { Inputs = inputs, Bytes = bytes, Time = time,
                    BackwardTime = time * (1 + 2 * rng.NextDouble()) })
                : b.Activation($"n{i}", "Op", inputs, bytes, time));
        }
        var sinks = ids.Where(i => !read.Contains(i)).ToList();
        b.Loss("loss", "Loss", sinks, rng.Next(1, maxBytes + 1), seconds ? 1e-6 : 1);
        return b.Build();
    }

    /// <summary>
    /// Random forward graphs for CsCheck, which shrinks them: up to <paramref name="maxNodes"/> activations, each
    /// reading 1–3 earlier tensors (an offset that shrinks to 0 reads the one just before, so graphs shrink towards
    /// chains), sizes 1..maxBytes and times 1..10 that shrink towards 1, and a loss reading every tensor nothing
    /// else reads.
    /// </summary>
    public static Gen<ComputationGraph> Small(int maxNodes, int maxBytes = 100) =>
        Gen.Select(Gen.Int[1, maxBytes], Gen.Int[1, 10], Gen.Int[0, 99].Array[1, 3]).Array[1, maxNodes]
            .Select(Gen.Int[1, maxBytes], Gen.Int[1, maxBytes], (nodes, inputBytes, lossBytes) => Build(nodes, inputBytes, lossBytes));

    private static ComputationGraph Build((int Bytes, int Time, int[] Offsets)[] nodes, int inputBytes, int lossBytes)
    {
        var b = new GraphBuilder($"small-{nodes.Length}", "paper");
        var ids = new List<int> { b.Input("x", inputBytes) };
        var read = new HashSet<int>();
        for (int i = 0; i < nodes.Length; i++)
        {
            var inputs = nodes[i].Offsets.Select(o => ids[ids.Count - 1 - o % ids.Count]).Distinct().ToList();
            read.UnionWith(inputs);
            ids.Add(b.Activation($"n{i}", "Op", inputs, nodes[i].Bytes, nodes[i].Time));
        }
        b.Loss("loss", "Loss", ids.Skip(1).Where(i => !read.Contains(i)).ToList(), lossBytes, 1);
        return b.Build();
    }

    /// <summary>A graph in one line, for a failing property's report: each tensor with its bytes, time and inputs.</summary>
    public static string Describe(ComputationGraph g) =>
        string.Join("; ", g.Nodes.Select(n => string.Create(CultureInfo.InvariantCulture,
            $"{n.Name} {n.Bytes}B t{n.Time}({string.Join(",", n.Inputs.Select(p => g[p].Name))})")));
}
