using Recompute.Planner.Graph;
using Recompute.Planner.Import;

namespace Recompute.Tests.Import;

public class PaperGraphImporterTests
{
    // Expected figures were computed from the files by an independent script (Python, reading the format of
    // algorithm.md §7): forward outputs, resident data nodes read by forward functions, byte sums, the unique sink,
    // the paper's time (10 per Conv* function, 1 otherwise) and operand edges.
    [Theory]
    [InlineData("cg_densenet.txt", 568, 484, 2, 11661796356L, 114724000L, 19267712L, "80", 2008, 1131)]
    [InlineData("cg_googlenet.txt", 134, 128, 4, 1273252884L, 53513120L, 19267968L, "61", 665, 294)]
    [InlineData("cg_pspnet.txt", 385, 340, 2, 7343443000L, 282017672L, 8133904L, "698", 1411, 765)]
    [InlineData("cg_resnet152.txt", 516, 468, 2, 9974838276L, 240771488L, 19267712L, "223", 1911, 1035)]
    [InlineData("cg_resnet50.txt", 176, 162, 2, 4605604868L, 102228384L, 19267712L, "269", 653, 355)]
    [InlineData("cg_unet.txt", 60, 46, 2, 11781604356L, 124401416L, 15287296L, "4", 231, 111)]
    [InlineData("cg_vgg19.txt", 46, 38, 2, 4004508676L, 574668960L, 19267712L, "62", 190, 85)]
    public void Load_PaperGraph_MatchesTheFile(string file, int activations, int parameters, int inputs,
        long activationBytes, long parameterBytes, long inputBytes, string sink, int forwardTime, int edges)
    {
        var g = PaperGraphImporter.Load(ConformanceFiles.Paper(file));

        Assert.Equal(Path.GetFileNameWithoutExtension(file), g.Name);
        Assert.Equal("paper", g.TimeUnit);
        Assert.Equal(activations, g.Nodes.Count(n => n.IsPlanned));
        Assert.Equal(parameters, g.Nodes.Count(n => n.Kind == NodeKind.Parameter));
        Assert.Equal(inputs, g.Nodes.Count(n => n.Kind == NodeKind.Input));
        Assert.Equal(activations + parameters + inputs, g.Count);
        Assert.Equal(activationBytes, g.ActivationBytes);
        Assert.Equal(parameterBytes, g.ParameterBytes);
        Assert.Equal(inputBytes, g.InputBytes);
        Assert.Equal(edges, g.EdgeCount);
        Assert.Equal((double)forwardTime, g.Nodes.Where(n => n.IsPlanned).Sum(n => n.Time));

        // The unique sink is the loss, it is a SoftmaxCrossEntropy, and nothing reads it.
        var loss = Assert.Single(g.Nodes, n => n.Kind == NodeKind.Loss);
        Assert.Equal(sink, loss.Name);
        // GoogLeNet and PSPNet add auxiliary losses: their sink is an Add over SoftmaxCrossEntropy outputs.
        Assert.Equal(file is "cg_googlenet.txt" or "cg_pspnet.txt" ? "Add" : "SoftmaxCrossEntropy", loss.Op);
        Assert.Equal(0, g.Successors(loss.Id).Length);
        Assert.Single(g.Nodes, n => n.IsPlanned && g.Successors(n.Id).Length == 0);

        // Ids are a topological order; every planned node is an op output with the paper's time.
        foreach (var n in g.Nodes)
        {
            Assert.All(n.Inputs, p => Assert.True(p < n.Id));
            Assert.False(n.IsBackward);
            if (!n.IsPlanned) { Assert.Empty(n.Inputs); continue; }
            Assert.Equal(n.Op.StartsWith("Conv", StringComparison.Ordinal) ? 10.0 : 1.0, n.Time);
            Assert.Equal(Enumerable.Range(0, n.Inputs.Length), n.BackwardNeeds); // the paper model: every operand
            Assert.True(n.Attributes.ContainsKey("rank"));
        }
        Assert.All(g.Nodes.Where(n => n.Kind == NodeKind.Parameter), n => Assert.StartsWith("/", n.Name));
        Assert.All(g.Nodes.Where(n => n.Kind == NodeKind.Input), n => Assert.StartsWith("input:", n.Name));

        // The derived training DAG has one gradient per planned tensor the loss depends on.
        var tg = TrainingGraph.Derive(g);
        Assert.Equal(activations, tg.Tasks.Count(t => t.Kind == TaskKind.Forward));
        Assert.Equal(activations, tg.Tasks.Count(t => t.Kind == TaskKind.Backward));
    }

    [Fact]
    public void Load_Vgg19_FirstConvolutionReadsTheImageAndItsParameters()
    {
        // In cg_vgg19.txt the block "79 _ / 75 _ / 76 _ → 7, Convolution2DFunction" is the first layer:
        // 79 is the image (argument "0", 19,267,584 bytes = 32×3×224×224×4), 75/76 are conv1_1's W and b.
        var g = PaperGraphImporter.Load(ConformanceFiles.Paper("cg_vgg19.txt"));
        var conv = g.Find("7");
        Assert.Equal("Convolution2DFunction", conv.Op);
        Assert.Equal(["input:79", "/predictor/conv1_1/W", "/predictor/conv1_1/b"], conv.Inputs.Select(i => g[i].Name));
        Assert.Equal(19267584, g.Find("input:79").Bytes);
        Assert.Equal("0", g.Find("input:79").Attribute<string>("argument"));
        Assert.Equal(411041792, conv.Bytes);
        Assert.Equal(10.0, conv.Time);
        Assert.Equal(20.0, conv.BackwardTime);
        Assert.Equal(new long[] { 0, 1 }, conv.Attribute<long[]>("_input_indexes_to_retain"));
        Assert.False(conv.Attributes.ContainsKey("_output_indexes_to_retain")); // null in the file: dropped
        Assert.Equal(false, conv.Attributes["cover_all"]);
        Assert.Equal(1L, conv.Attributes["groups"]);
        // The loss reads the last linear layer and the labels (argument "1", 32 int32 labels).
        var loss = g.Find("62");
        Assert.Equal(["52", "input:80"], loss.Inputs.Select(i => g[i].Name));
        Assert.Equal(4, loss.Bytes);
    }

    [Fact]
    public void Load_Unet_DeconvolutionCountsOneTimeUnit()
    {
        var g = PaperGraphImporter.Load(ConformanceFiles.Paper("cg_unet.txt"));
        var deconvs = g.Nodes.Where(n => n.Op == "Deconvolution2DFunction").ToList();
        Assert.Equal(4, deconvs.Count);
        Assert.All(deconvs, n => Assert.Equal(1.0, n.Time));
        Assert.All(g.Nodes.Where(n => n.Op == "Convolution2DFunction"), n => Assert.Equal(10.0, n.Time));
    }

    private static ComputationGraph ParseText(string text) => PaperGraphImporter.Parse(text, "t.txt", "t");

    private const string Tiny = """
        4 3
        0 100 0
        1 40 /w
        2 100 _
        3 4 _
        forward
        2 1
        0 _
        1 _
        2
        Convolution2DFunction
        {"_input_indexes_to_retain": [0, 1], "rank": 0, "pad": 1.5, "name": "c", "flag": true}
        forward
        1 1
        2 _
        3
        Sum
        {"_input_indexes_to_retain": null, "rank": 1}
        backward
        2 1
        3 gradient
        2 input
        2
        Sum
        {}
        """;

    [Fact]
    public void Parse_SmallGraph_BuildsResidentsActivationsAndLoss()
    {
        var g = ParseText(Tiny);
        Assert.Equal(["input:0", "/w", "2", "3"], g.Nodes.Select(n => n.Name));
        Assert.Equal([NodeKind.Input, NodeKind.Parameter, NodeKind.Activation, NodeKind.Loss], g.Nodes.Select(n => n.Kind));
        Assert.Equal(10.0, g.Find("2").Time);
        Assert.Equal(1.0, g.Find("3").Time);
        Assert.Equal(1.5, g.Find("2").Attributes["pad"]);
        Assert.Equal("c", g.Find("2").Attributes["name"]);
        Assert.Equal(true, g.Find("2").Attributes["flag"]);
        Assert.Equal(104, g.ActivationBytes);
    }

    [Fact]
    public void Parse_BlocksOutOfOrder_AreOrderedByRankThenFile()
    {
        // The consumer block comes first in the file; the graph is still topologically ordered.
        var text = "3 2\n0 8 0\n1 8 _\n2 8 _\nforward\n1 1\n1 _\n2\nReLU\n{\"rank\": 1}\nforward\n1 1\n0 _\n1\nReLU\n{\"rank\": 0}\n";
        var g = ParseText(text);
        Assert.Equal(["input:0", "1", "2"], g.Nodes.Select(n => n.Name));
        Assert.Equal(NodeKind.Loss, g.Find("2").Kind);
    }

    [Fact]
    public void Parse_UnusedDataNodes_AreDropped()
    {
        var text = "3 1\n0 8 0\n1 8 _\n9 1000 /unused\nforward\n1 1\n0 _\n1\nReLU\n{}\n";
        var g = ParseText(text);
        Assert.Equal(2, g.Count);
        Assert.Equal(0, g.ParameterBytes);
    }

    [Theory]
    [InlineData("3 2\n0 8 0\n1 8 _\n2 8 _\nforward\n1 1\n0 _\n1\nReLU\n{}\nforward\n1 1\n0 _\n1\nReLU\n{}\n", "line 11",
        "produced by two forward functions")]
    [InlineData("2 1\n0 8 0\n1 8 _\nforward\n1 1\n7 _\n1\nReLU\n{}\n", "line 6", "data id 7 is not defined")]
    [InlineData("2 1\n0 8 0\n0 8 _\nforward\n1 1\n0 _\n1\nReLU\n{}\n", "line 3", "defined twice")]
    [InlineData("2 1\n0 8 0\n1 -8 _\nforward\n1 1\n0 _\n1\nReLU\n{}\n", "line 3", "negative size")]
    [InlineData("2 1\n0 8 0\n1 9223372036854775808 _\nforward\n1 1\n0 _\n1\nReLU\n{}\n", "line 3", "too large")]
    [InlineData("2 1\n0 8 0\n1 8 _\nforward\n1 1\n0 _\n1\nReLU\n{\"rank\": \n", "line 9", "not valid JSON")]
    [InlineData("2 1\n0 8 0\n1 8 _\nforward\n1 1\n0 _\n", "line 7", "ends early")]
    [InlineData("2 1\n0 8 0\n1 8 _\nsideways\n", "line 4", "expected 'forward' or 'backward'")]
    [InlineData("2 1\n0 8 0\n1 8 _\nforward\n1 1\n0 in\n1\nReLU\n{}\n", "line 6", "tag must be '_'")]
    [InlineData("2 1\n0 8 0\n1 8 _\nforward\n1 1\n1 _\n1\nReLU\n{}\n", "line 4", "self-loop")]
    [InlineData("x y\n", "line 1", "data node count")]
    [InlineData("", "line 1", "ends early")]
    [InlineData("2 1\n0 8 0\n1 8 _\nforward\n1 1\n0 _\n1\nReLU\n{}\ntrailing\n", "line 10", "unexpected text")]
    [InlineData("2 1\n0 8 0\n1 8 _\nforward\n1 1\n0 _\n1\nReLU\n[1, 2]\n", "line 9", "must be a JSON object")]
    public void Parse_MalformedFile_NamesFileLineAndProblem(string text, string place, string problem)
    {
        var e = Assert.Throws<GraphFormatException>(() => ParseText(text));
        Assert.Equal("t.txt", e.File);
        Assert.Equal(place, e.Location);
        Assert.Contains(problem, e.Problem);
        Assert.StartsWith($"t.txt: {place}: ", e.Message);
    }

    [Fact]
    public void Parse_Cycle_IsRejected()
    {
        var text = "3 2\n0 8 0\n1 8 _\n2 8 _\nforward\n2 1\n0 _\n2 _\n1\nAdd\n{}\nforward\n1 1\n1 _\n2\nReLU\n{}\n";
        // 1 reads 2 and 2 reads 1: no sink either, so the sink check fires first.
        var e = Assert.Throws<GraphFormatException>(() => ParseText(text));
        Assert.Contains("no sink", e.Problem);
        var withSink = "4 3\n0 8 0\n1 8 _\n2 8 _\n3 8 _\nforward\n2 1\n0 _\n2 _\n1\nAdd\n{}\nforward\n1 1\n1 _\n2\nReLU\n{}\nforward\n1 1\n2 _\n3\nReLU\n{}\n";
        e = Assert.Throws<GraphFormatException>(() => ParseText(withSink));
        Assert.Contains("cycle", e.Problem);
        Assert.Equal("t.txt", e.File);
    }

    [Fact]
    public void Parse_TwoSinks_IsRejected()
    {
        var text = "3 2\n0 8 0\n1 8 _\n2 8 _\nforward\n1 1\n0 _\n1\nReLU\n{}\nforward\n1 1\n0 _\n2\nReLU\n{}\n";
        var e = Assert.Throws<GraphFormatException>(() => ParseText(text));
        Assert.Contains("2 sinks", e.Problem);
    }

    [Fact]
    public void Load_MissingFile_IsAFormatErrorNamingTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"no-such-{Guid.NewGuid():N}.txt");
        var e = Assert.Throws<GraphFormatException>(() => PaperGraphImporter.Load(path));
        Assert.Equal(path, e.File);
    }
}
