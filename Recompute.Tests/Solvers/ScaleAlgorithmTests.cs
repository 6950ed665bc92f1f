using System.Collections.Immutable;
using Recompute.Cli;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// The near-linear algorithms that let the canonical solvers scale (issue 7) agree with their definitions:
/// the paper cost model kept up to date block by block, Chen's articulation candidates from the post-dominator
/// tree, and the exact family's limits.
/// </summary>
public class ScaleAlgorithmTests
{
    /// <summary>
    /// A random forward graph where some tensors read only the network input (several sources, side branches
    /// that no articulation set may straddle) and the others read 1–3 recent tensors; a loss reads every sink.
    /// </summary>
    private static ComputationGraph Branchy(int seed, int nodes)
    {
        var rng = new Random(seed);
        var b = new GraphBuilder($"branchy-{seed}", "paper");
        int x = b.Input("x", 8);
        var ids = new List<int>();
        var read = new HashSet<int>();
        for (int i = 0; i < nodes; i++)
        {
            var inputs = new List<int>();
            if (ids.Count == 0 || rng.NextDouble() < 0.15) inputs.Add(x);
            else
                for (int j = rng.Next(1, 4); j > 0; j--)
                {
                    int p = ids[ids.Count - 1 - rng.Next(Math.Min(ids.Count, 4))];
                    if (!inputs.Contains(p)) inputs.Add(p);
                }
            foreach (var p in inputs) read.Add(p);
            ids.Add(b.Activation($"n{i}", "Op", inputs, rng.Next(1, 100), rng.Next(1, 11)));
        }
        b.Loss("loss", "Loss", ids.Where(i => !read.Contains(i)).ToList(), 4, 1);
        return b.Build();
    }

    /// <summary>The paper's cost straight from its definition, every set rebuilt per block (the quadratic reference).</summary>
    private static PaperCost Reference(ForwardDag dag, CanonicalStrategy strategy)
    {
        var inL = new bool[dag.Count];
        long cached = 0, peak = 0;
        double overhead = 0;
        foreach (var block in strategy.Blocks)
        {
            var v = block.Select(n => dag.IndexOf[n]).ToArray();
            foreach (var i in v) inL[i] = true;
            var a = Enumerable.Range(0, dag.Count).Where(u => !inL[u] && dag.Pred[u].Any(p => inL[p])).ToHashSet();
            var bSet = a.SelectMany(u => dag.Pred[u]).Where(p => !inL[p]).ToHashSet();
            long mv = v.Sum(i => dag.Bytes[i]);
            long boundary = v.Where(i => dag.Succ[i].Any(u => !inL[u])).Sum(i => dag.Bytes[i]);
            double t = 0;
            foreach (var i in v) if (!dag.Succ[i].Any(u => !inL[u])) t += dag.Time[i];
            peak = Math.Max(peak, cached + 2 * mv + a.Sum(u => dag.Bytes[u]) + bSet.Sum(p => dag.Bytes[p]));
            cached += boundary;
            overhead += t;
        }
        return new PaperCost(peak, overhead);
    }

    /// <summary>A random canonical strategy: a random linear extension cut into random blocks (prefixes are lower sets).</summary>
    private static CanonicalStrategy RandomChain(ForwardDag dag, Random rng)
    {
        var pending = Enumerable.Range(0, dag.Count).Select(v => dag.Pred[v].Length).ToArray();
        var ready = Enumerable.Range(0, dag.Count).Where(v => pending[v] == 0).ToList();
        var blocks = new List<ImmutableArray<int>>();
        var block = new List<int>();
        while (ready.Count > 0)
        {
            int k = rng.Next(ready.Count);
            int v = ready[k];
            ready.RemoveAt(k);
            block.Add(dag.NodeOf[v]);
            foreach (int s in dag.Succ[v]) if (--pending[s] == 0) ready.Add(s);
            if (rng.NextDouble() < 0.3 || ready.Count == 0)
            {
                blocks.Add([.. block.OrderBy(n => n)]);
                block.Clear();
            }
        }
        return new CanonicalStrategy([.. blocks]);
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)]
    public void PaperCostModel_EqualsItsDefinition_OnRandomChains(int seed)
    {
        var rng = new Random(seed);
        foreach (var graph in new[] { RandomGraphs.Forward(seed, 40), Branchy(seed, 40) })
        {
            var dag = new PlanningProblem(graph).Forward;
            for (int i = 0; i < 20; i++)
            {
                var chain = RandomChain(dag, rng);
                PaperCostModel.Validate(dag, chain);
                Assert.Equal(Reference(dag, chain), PaperCostModel.Evaluate(dag, chain));
            }
        }
    }

    [Theory]
    [InlineData(1)] [InlineData(2)] [InlineData(3)] [InlineData(4)] [InlineData(5)] [InlineData(6)]
    public void ChenCandidates_AreExactlyTheSetsWhoseBoundaryIsTheirTop(int seed)
    {
        foreach (var graph in new[] { RandomGraphs.Forward(seed, 60), Branchy(seed, 60) })
        {
            var dag = new PlanningProblem(graph).Forward;
            var expected = new List<(int, long)>();
            for (int v = 0; v < dag.Count; v++)
            {
                if (dag.Succ[v].Length == 0) continue;
                var set = dag.AncestorClosure(v);
                var members = ForwardDag.Members(set).ToList();
                if (members.All(u => u == v || dag.Succ[u].All(s => ForwardDag.Contains(set, s))))
                    expected.Add((v, members.Sum(u => dag.Bytes[u])));
            }
            Assert.Equal(expected, ChenSolver.ArticulationCandidates(dag));
            // Branchy graphs have side branches, so some tensors are not candidates; chains make every tensor one.
            var plan = new ChenSolver().Solve(new PlanningProblem(graph), new SolverOptions());
            PaperCostModel.Validate(dag, plan.Strategy!);
        }
    }

    [Fact]
    public void ChenCandidates_OfAChain_AreEveryTensorButTheLoss()
    {
        var b = new GraphBuilder("chain");
        int prev = b.Input("x", 4);
        for (int i = 0; i < 50; i++) prev = b.Activation($"a{i}", "Relu", [prev], 4, 1);
        b.Loss("loss", "Loss", [prev], 4, 1);
        var dag = new PlanningProblem(b.Build()).Forward;
        // 50 activations of 4 bytes: L^(a_i) holds i + 1 of them.
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (i, 4L * (i + 1))), ChenSolver.ArticulationCandidates(dag));
    }

    /// <summary>40 parallel branches from one input: every subset of the branches is a lower set (2^40 of them).</summary>
    private static ComputationGraph Wide(int branches)
    {
        var b = new GraphBuilder($"wide{branches}");
        int x = b.Input("x", 4);
        var heads = Enumerable.Range(0, branches).Select(i => b.Activation($"b{i}", "Relu", [x], 4, 1)).ToList();
        b.Loss("loss", "Sum", heads, 4, 1);
        return b.Build();
    }

    [Fact]
    public void ExactFamily_OfAGraphWithExponentiallyManyLowerSets_StopsAtTheLimit()
    {
        // 2^40 lower sets: the widest level alone proves there are more than the limit, before any is listed.
        var wide = new PlanningProblem(Wide(40)).Forward;
        var e = Assert.Throws<LowerSetLimitException>(() => LowerSetFamily.All(wide, 1_000_000));
        Assert.Contains("more than 1000000 lower sets", e.Message);
        Assert.Contains("--solver dp-approx", e.Message);

        // 12 branches: 2^12 + 1 = 4097 lower sets; a limit of 4096 is passed while listing, 4097 is enough.
        var narrow = new PlanningProblem(Wide(12)).Forward;
        Assert.Throws<LowerSetLimitException>(() => LowerSetFamily.All(narrow, 4096));
        Assert.Equal(4097, LowerSetFamily.All(narrow, 4097).Count);
        Assert.Null(LowerSetFamily.CountAll(wide, 100_000));
    }

    [Fact]
    public void PlanWithTheExactDp_PastMaxLowerSets_ExitsWithOneClearLine()
    {
        var dir = Directory.CreateTempSubdirectory("recompute-scale-");
        try
        {
            var path = Path.Combine(dir.FullName, "wide.json");
            NativeGraphFormat.Save(Wide(40), path);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var output = Path.Combine(dir.FullName, "s.json");
            int code = CommandRunner.Run(["plan", path, "--budget", "50%", "--solver", "dp", "--max-lower-sets", "5000", "-o", output],
                stdout, stderr, CancellationToken.None);
            Assert.Equal(2, code);
            // The reason on one line (the usage line follows it), no stack trace.
            var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.StartsWith("recompute plan: the graph has more than 5000 lower sets", lines[0]);
            Assert.Contains("--max-lower-sets", lines[0]);
            Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
            Assert.False(File.Exists(output));
        }
        finally { dir.Delete(recursive: true); }
    }
}
