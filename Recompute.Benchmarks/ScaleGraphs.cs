using System.Globalization;
using System.Text.Json;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;

namespace Recompute.Benchmarks;

/// <summary>
/// The large graphs of the scale benchmark (issue 7), written to files so that import is measured as a user
/// would run it.
/// </summary>
internal static class ScaleGraphs
{
    /// <summary>
    /// A chain of <paramref name="n"/> equal-size tensors in the native JSON format: Conv (time 10, its backward
    /// reads its input; one weight parameter each) alternating with Relu (time 1, its backward reads its own
    /// output), ending in a loss.
    /// </summary>
    public static void WriteChain(string path, int n, long bytes)
    {
        var b = new GraphBuilder($"chain{n}", "paper");
        int prev = b.Input("x", bytes);
        for (int i = 0; i < n - 1; i++)
        {
            if (i % 2 == 0)
            {
                int w = b.Parameter($"w{i}", 4096);
                prev = b.Activation($"conv{i}", "Conv", [prev, w], bytes, 10, backwardNeeds: [0, 1]);
            }
            else
                prev = b.Add(new NodeSpec($"relu{i}", "Relu", NodeKind.Activation)
                    { Inputs = [prev], Bytes = bytes, Time = 1, BackwardNeeds = [], BackwardNeedsOutput = true });
        }
        b.Loss("loss", "ReduceMean", [prev], 4, 1, backwardNeeds: []);
        NativeGraphFormat.Save(b.Build(), path);
    }

    /// <summary>
    /// A random layered DAG of <paramref name="n"/> nodes in the Moccasin node-link layout of
    /// <c>checkmate-graphs/random_layered_n1000_*.json</c> (fields <c>name</c>, <c>out_cost</c>, <c>param_cost</c>,
    /// <c>duration</c>; links <c>{"0": src, "1": dst}</c>; source node 0, target node 1). Levels are 5 to 35 wide;
    /// each node reads every node of the previous level with probability 0.2 (at least one), and with probability
    /// 0.8 one node 2 to 48 levels up (the skip connections of the Moccasin files span up to 47 levels); every node
    /// has a reader. Sizes are multiples of 10 up to 7,410 bytes and durations 0 to 998, as in the n1000 file.
    /// </summary>
    public static void WriteRandomLayered(string path, int n, int seed)
    {
        var rng = new Random(seed);
        var levels = new List<List<int>> { new() { 0 } };
        int next = 2;
        while (next < n)
        {
            int width = Math.Min(rng.Next(5, 36), n - next);
            var level = new List<int>(width);
            for (int i = 0; i < width; i++) level.Add(next++);
            levels.Add(level);
        }
        levels.Add([1]);

        var links = new List<(int From, int To)>();
        var hasReader = new bool[n];
        void Link(int u, int v)
        {
            links.Add((u, v));
            hasReader[u] = true;
        }
        for (int k = 1; k < levels.Count; k++)
        {
            var above = levels[k - 1];
            foreach (int v in levels[k])
            {
                if (v == 1)
                {
                    foreach (int u in above) Link(u, v);
                    break;
                }
                int before = links.Count;
                foreach (int u in above)
                    if (rng.NextDouble() < 0.2) Link(u, v);
                if (links.Count == before) Link(above[rng.Next(above.Count)], v);
                if (k >= 3 && rng.NextDouble() < 0.8)
                {
                    var from = levels[k - rng.Next(2, Math.Min(k, 48) + 1)];
                    Link(from[rng.Next(from.Count)], v);
                }
            }
            // Every node of the previous level needs a reader, else it is a dead end nobody plans.
            foreach (int u in above)
                if (!hasReader[u]) Link(u, levels[k][rng.Next(levels[k].Count)]);
        }
        links.Sort();
        links = links.Distinct().ToList();

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartObject();
        w.WriteBoolean("directed", true);
        w.WriteBoolean("multigraph", false);
        w.WriteStartObject("graph");
        w.WriteString("name", $"random_layered_n{n.ToString(CultureInfo.InvariantCulture)}_seed{seed.ToString(CultureInfo.InvariantCulture)}");
        w.WriteNumber("source_node", 0);
        w.WriteNumber("target_node", 1);
        w.WriteString("node_output_cost_tag", "out_cost");
        w.WriteEndObject();
        w.WriteStartArray("nodes");
        for (int v = 0; v < n; v++)
        {
            w.WriteStartObject();
            w.WriteNumber("out_cost", 10 * rng.Next(1, 742));
            w.WriteNumber("param_cost", 0);
            w.WriteNumber("duration", v < 2 ? 0 : rng.Next(0, 999));
            w.WriteNumber("name", v);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("links");
        foreach (var (u, v) in links)
        {
            w.WriteStartObject();
            w.WriteNumber("0", u);
            w.WriteNumber("1", v);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
