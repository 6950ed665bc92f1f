using Recompute.Planner.Graph;
using Recompute.Planner.Import;

namespace Recompute.Tests.Import;

public class CheckmateImporterTests
{
    // Expected figures computed from the files by an independent Python script: node count, forward and backward
    // node counts, backward nodes whose name is a forward name + "_backward", sums of cost_ram/out_cost and
    // cost_cpu/duration, the loss (last forward node, or graph.target_node) and the link count.
    [Theory]
    [InlineData("MobileNet_512_train.json", 185, 92, 93, 92, 69015943168L, 162080L, "act_softmax", 367)]
    [InlineData("ResNet50_256_train.json", 353, 176, 177, 176, 75713913856L, 405670L, "probs", 751)]
    [InlineData("VGG16_256_train.json", 45, 22, 23, 22, 30949721088L, 15500L, "predictions", 87)]
    [InlineData("VGG19_256_train.json", 51, 25, 26, 25, 33621492736L, 9493135L, "predictions", 99)]
    [InlineData("fcn_8_vgg_32_train.json", 73, 36, 37, 36, 24428793216L, 10275337746048L, "activation_1", 149)]
    [InlineData("random_layered_n1000_w0.31_nlv0.75_ed0.2_scd0.14.json", 1000, 1000, 0, 0, 1953852L, 497270L, "1", 5875)]
    [InlineData("random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json", 100, 100, 0, 0, 204108L, 47769L, "1", 236)]
    [InlineData("random_layered_n250_w0.43_nlv0.75_ed0.2_scd0.14.json", 250, 250, 0, 0, 510859L, 125569L, "1", 944)]
    [InlineData("random_layered_n500_w0.36_nlv0.75_ed0.2_scd0.14.json", 500, 500, 0, 0, 1008826L, 255302L, "1", 2461)]
    [InlineData("segnet_32_train.json", 77, 38, 39, 38, 38704778368L, 4933130L, "activation_7", 151)]
    [InlineData("vgg_unet_32_train.json", 71, 35, 36, 35, 38647103616L, 31005L, "activation", 148)]
    public void Load_CheckmateGraph_MatchesTheFile(string file, int nodes, int forward, int backward, int matched,
        long bytes, long time, string loss, int links)
    {
        var g = CheckmateImporter.Load(ConformanceFiles.Checkmate(file));

        Assert.Equal("checkmate", g.TimeUnit);
        Assert.Equal(nodes, g.Count);
        Assert.All(g.Nodes, n => Assert.True(n.IsPlanned)); // no param_cost > 0 in these files
        Assert.Equal(forward, g.Nodes.Count(n => !n.IsBackward));
        Assert.Equal(backward, g.Nodes.Count(n => n.IsBackward));
        Assert.Equal(bytes, g.ActivationBytes);
        Assert.Equal((double)time, g.Nodes.Sum(n => n.Time));
        Assert.Equal(links, g.EdgeCount);
        var lossNode = Assert.Single(g.Nodes, n => n.Kind == NodeKind.Loss);
        Assert.Equal(loss, lossNode.Name);
        Assert.False(lossNode.IsBackward);
        Assert.Equal(backward > 0, g.HasExplicitBackward);

        // Backward nodes point to their forward node; forward nodes never read backward nodes.
        Assert.Equal(matched, g.Nodes.Count(n => n.ForwardOf >= 0));
        foreach (var n in g.Nodes)
        {
            Assert.All(n.Inputs, p => Assert.True(p < n.Id));
            if (n.ForwardOf >= 0)
            {
                Assert.True(n.IsBackward);
                Assert.Equal(g[n.ForwardOf].Name + "_backward", n.Name);
                Assert.False(g[n.ForwardOf].IsBackward);
            }
            if (!n.IsBackward) Assert.All(n.Inputs, p => Assert.False(g[p].IsBackward));
        }
        if (backward > 0)
        {
            // The file's order is topological and is kept: forward nodes first, then the backward pass.
            Assert.All(g.Nodes.Take(forward), n => Assert.False(n.IsBackward));
            Assert.Equal(lossNode.Id, forward - 1);
            Assert.True(g.Find("Loss").IsBackward);
            Assert.Equal(-1, g.Find("Loss").ForwardOf);
        }
        else
        {
            Assert.Equal(0, g.Successors(lossNode.Id).Length);
            Assert.Empty(g.Find("0").Inputs); // graph.source_node
        }

        // The .json dispatcher recognizes node-link data and gives the same graph; loading is deterministic.
        var again = JsonGraphDispatcher.Load(ConformanceFiles.Checkmate(file));
        Assert.Equal(NativeGraphFormat.ToJson(g), NativeGraphFormat.ToJson(again));

        var tg = TrainingGraph.Derive(g);
        Assert.Equal(backward > 0, tg.IsExplicit);
        Assert.Equal(forward, tg.Tasks.Count(t => t.Kind == TaskKind.Forward));
    }

    [Fact]
    public void Load_Vgg16_BackwardNodeReadsItsForwardNodeItsReaderAndTheUpstreamGradient()
    {
        var g = CheckmateImporter.Load(ConformanceFiles.Checkmate("VGG16_256_train.json"));
        var fc2b = g.Find("fc2_backward");
        Assert.Equal(["fc2", "predictions", "predictions_backward"], fc2b.Inputs.Select(i => g[i].Name));
        Assert.Equal("fc2", g[fc2b.ForwardOf].Name);
        Assert.Equal(4194304, fc2b.Bytes);
        Assert.Equal(140.0, fc2b.Time);
        Assert.Equal(["predictions"], g.Find("Loss").Inputs.Select(i => g[i].Name));
        Assert.Equal("VGG16 (MLSys)_256_(224, 224, 3)_train", g.Name);
    }

    private static ComputationGraph Parse(string json)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cm-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try { return CheckmateImporter.Load(path); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Load_LayeredGraphWithParamCost_AddsAResidentParameter()
    {
        var g = Parse("""
            {"directed": true, "multigraph": false, "graph": {"name": "p", "source_node": 0, "target_node": 2},
             "nodes": [{"name": 0, "duration": 0, "out_cost": 8, "param_cost": 0},
                       {"name": 2, "duration": 5, "out_cost": 4, "param_cost": 0},
                       {"name": 1, "duration": 3, "out_cost": 16, "param_cost": 100}],
             "links": [{"0": 0, "1": 1}, {"0": 1, "1": 2}]}
            """);
        // File order 0, 2, 1 is not topological (2 reads 1): the builder moves 2 after 1.
        Assert.Equal(["0", "1:param", "1", "2"], g.Nodes.Select(n => n.Name));
        Assert.Equal(NodeKind.Parameter, g.Find("1:param").Kind);
        Assert.Equal(100, g.ParameterBytes);
        Assert.Equal(["0", "1:param"], g.Find("1").Inputs.Select(i => g[i].Name));
        Assert.Equal(NodeKind.Loss, g.Find("2").Kind);
        Assert.Equal(28, g.ActivationBytes);
    }

    [Fact]
    public void Load_LayeredGraphWithAnOrder_InsertsNodesInThatOrder()
    {
        // graph.order lists a topological order (Moccasin's files): 0, 3, 1, 2, although the node list says 0, 1, 2, 3.
        var g = Parse("""
            {"directed": true, "multigraph": false, "graph": {"name": "o", "target_node": 2, "order": [0, 3, 1, 2]},
             "nodes": [{"name": 0, "duration": 0, "out_cost": 8}, {"name": 1, "duration": 1, "out_cost": 4},
                       {"name": 2, "duration": 1, "out_cost": 4}, {"name": 3, "duration": 1, "out_cost": 4}],
             "links": [{"0": 0, "1": 1}, {"0": 0, "1": 3}, {"0": 1, "1": 2}, {"0": 3, "1": 2}]}
            """);
        Assert.Equal(["0", "3", "1", "2"], g.Nodes.Select(n => n.Name));
    }

    [Theory]
    [InlineData("""{"graph": {"order": [0]}, "nodes": [{"name": 0, "duration": 1, "out_cost": 4}, {"name": 1, "duration": 1, "out_cost": 4}], "links": []}""", "graph.order", "does not list node '1'")]
    [InlineData("""{"graph": {"order": [0, 0]}, "nodes": [{"name": 0, "duration": 1, "out_cost": 4}, {"name": 1, "duration": 1, "out_cost": 4}], "links": []}""", "graph.order[1]", "listed twice")]
    [InlineData("""{"graph": {"order": [0, 7]}, "nodes": [{"name": 0, "duration": 1, "out_cost": 4}, {"name": 1, "duration": 1, "out_cost": 4}], "links": []}""", "graph.order[1]", "does not exist")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": -4}], "links": []}""", "nodes[0].cost_ram", "negative size")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 9223372036854775808}], "links": []}""", "nodes[0].cost_ram", "does not fit in 64 bits")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 4.5}], "links": []}""", "nodes[0].cost_ram", "must be an integer")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": "1", "cost_ram": 4}], "links": []}""", "nodes[0].cost_cpu", "must be a number")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1}], "links": []}""", "nodes[0]", "missing size")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 4}, {"id": 0, "name": "b", "cost_cpu": 1, "cost_ram": 4}], "links": []}""", "nodes[1]", "duplicate node id")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 4}], "links": [{"source": 0, "target": 5}]}""", "links[0].target", "does not exist")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 4}], "links": [{"source": 0, "target": 0}]}""", "links[0]", "self-loop")]
    [InlineData("""{"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 4}, {"id": 1, "name": "b", "cost_cpu": 1, "cost_ram": 4}], "links": [{"source": 0, "target": 1}, {"source": 0, "target": 1}]}""", "links[1]", "duplicate link")]
    [InlineData("""{"nodes": [], "links": []}""", "nodes", "no nodes")]
    [InlineData("""{"nodes": {}, "links": []}""", "nodes", "must be a JSON array")]
    [InlineData("""{"nodes": [{"id": [0], "name": "a", "cost_cpu": 1, "cost_ram": 4}], "links": []}""", "nodes[0].id", "string or an integer")]
    [InlineData("""{"directed": false, "nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 4}], "links": []}""", "directed", "undirected")]
    public void Load_MalformedNodeLink_NamesThePlace(string json, string place, string problem)
    {
        var e = Assert.Throws<GraphFormatException>(() => Parse(json));
        Assert.NotNull(e.File);
        Assert.Equal(place, e.Location);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void Load_Cycle_IsRejected()
    {
        var e = Assert.Throws<GraphFormatException>(() => Parse("""
            {"nodes": [{"id": 0, "name": "a", "cost_cpu": 1, "cost_ram": 4}, {"id": 1, "name": "b", "cost_cpu": 1, "cost_ram": 4}],
             "links": [{"source": 0, "target": 1}, {"source": 1, "target": 0}]}
            """));
        Assert.Contains("cycle", e.Problem);
        Assert.NotNull(e.File);
    }
}
