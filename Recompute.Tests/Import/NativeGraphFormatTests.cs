using System.Collections;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Scheduling;

namespace Recompute.Tests.Import;

public class NativeGraphFormatTests
{
    /// <summary>A graph that uses every field of the format.</summary>
    internal static ComputationGraph Rich()
    {
        var b = new GraphBuilder("rich \"graph\" ü", "s");
        int x = b.Input("x", 64, [4, 4], "float32");
        int labels = b.Add(new NodeSpec("labels", "Input", NodeKind.Input) { Bytes = 32, Shape = [4], DType = "int64" });
        int w = b.Parameter("w", 128, [4, 8]);
        int c = b.Add(new NodeSpec("shape", "Constant", NodeKind.Constant) { Bytes = 16, DType = "int64", Shape = [2] });
        int h = b.Activation("h", "MatMul", [x, w], 128, 2.5, [4, 8], new Dictionary<string, object>
        {
            ["alpha"] = 0.5, ["one"] = 1.0, ["inf"] = double.PositiveInfinity, ["n"] = 3L, ["ints"] = new long[] { 1, -2 },
            ["reals"] = new[] { 0.25, 1.5 }, ["mixed"] = new[] { 1.0, 0.5 }, ["floats"] = new[] { 0.1f, 2f }, ["s"] = "same",
            ["flag"] = true, ["empty"] = Array.Empty<long>(), ["i32"] = 7, ["names"] = new[] { "a", "b\n" },
        }, backwardNeeds: [0]);
        int split = b.Add(new NodeSpec("h.1", "Split", NodeKind.Activation) { Inputs = [h, h], Bytes = 64, Time = 1e-7, OutputIndex = 1,
            BackwardTime = 0 });
        int r = b.Activation("r", "Reshape", [split, c], 64, 0, backwardNeeds: []);
        int loss = b.Loss("loss", "SoftmaxCrossEntropy", [r, labels], 4, 1);
        b.Add(new NodeSpec("r_backward", "Backward", NodeKind.Activation) { Inputs = [r, loss], Bytes = 64, Time = 3, IsBackward = true,
            ForwardOf = r });
        return b.Build();
    }

    [Fact]
    public void WriteReadWrite_RichGraph_IsByteIdenticalAndKeepsEveryField()
    {
        var g = Rich();
        var text = NativeGraphFormat.ToJson(g);
        var back = NativeGraphFormat.Parse(text, "rich.json");
        Assert.Equal(text, NativeGraphFormat.ToJson(back));
        AssertSameGraph(g, back);
        // Typed attributes survive: integral and infinite doubles and float arrays use the tagged form.
        var h = back.Find("h");
        Assert.IsType<double>(h.Attributes["one"]);
        Assert.Equal(double.PositiveInfinity, h.Attributes["inf"]);
        Assert.Equal(new[] { 0.1f, 2f }, Assert.IsType<float[]>(h.Attributes["floats"]));
        Assert.Equal(7L, h.Attributes["i32"]); // int is stored as a 64-bit integer
        Assert.Contains("\"one\":{\"type\":\"double\",\"value\":1}", text);
        Assert.Contains("\"floats\":{\"type\":\"float[]\",\"value\":[0.10000000149011612,2]}", text);
        Assert.Equal(g.Count + 9, text.Split('\n').Length); // header lines, one line per node, closing lines
        Assert.DoesNotContain("\r", text);
        Assert.EndsWith("}\n", text);
    }

    [Fact]
    public void Write_DefaultsAreOmitted()
    {
        var b = new GraphBuilder("g");
        int x = b.Input("x", 4);
        b.Loss("y", "Relu", [x], 4, 1);
        var text = NativeGraphFormat.ToJson(b.Build());
        Assert.DoesNotContain("backwardTime", text);
        Assert.DoesNotContain("backwardNeeds", text);
        Assert.DoesNotContain("dtype", text);
        Assert.DoesNotContain("shape", text);
        Assert.DoesNotContain("forwardOf", text);
        Assert.StartsWith("{\n  \"format\": \"recompute-graph\",\n  \"version\": 1,\n  \"name\": \"g\",\n  \"timeUnit\": \"unit\",\n  \"nodes\": [\n", text);
    }

    public static IEnumerable<object[]> ConformanceGraphs() =>
        ConformanceFiles.PaperGraphs.Concat(ConformanceFiles.CheckmateGraphs).Select(p => new object[] { Path.GetFileName(p) });

    [Theory]
    [MemberData(nameof(ConformanceGraphs))]
    public void RoundTrip_ConformanceGraph_IsByteIdentical(string file)
    {
        var path = file.EndsWith(".txt", StringComparison.Ordinal) ? ConformanceFiles.Paper(file) : ConformanceFiles.Checkmate(file);
        var g = file.EndsWith(".txt", StringComparison.Ordinal) ? PaperGraphImporter.Load(path) : CheckmateImporter.Load(path);
        var text = NativeGraphFormat.ToJson(g);
        var dir = Directory.CreateTempSubdirectory("native-");
        try
        {
            var saved = Path.Combine(dir.FullName, "g.json");
            NativeGraphFormat.Save(g, saved);
            Assert.Equal(text, File.ReadAllText(saved));
            Assert.Single(Directory.GetFiles(dir.FullName)); // no temporary file left behind
            var back = JsonGraphDispatcher.Load(saved);
            AssertSameGraph(g, back);
            Assert.Equal(text, NativeGraphFormat.ToJson(back));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Save_FailingMidway_LeavesNoTemporaryFileAndKeepsTheOldOne()
    {
        // An attribute type the format cannot store makes the writer throw in the middle of the node list.
        var b = new GraphBuilder("g");
        int x = b.Input("x", 4);
        b.Loss("y", "Op", [x], 4, 1, attributes: new Dictionary<string, object> { ["when"] = new DateTime(2026, 1, 1) });
        var bad = b.Build();
        var dir = Directory.CreateTempSubdirectory("native-fail-");
        try
        {
            var path = Path.Combine(dir.FullName, "g.json");
            Assert.Throws<ArgumentException>(() => NativeGraphFormat.Save(bad, path));
            Assert.Empty(Directory.GetFileSystemEntries(dir.FullName));
            NativeGraphFormat.Save(Rich(), path);
            var before = File.ReadAllText(path);
            Assert.Throws<ArgumentException>(() => NativeGraphFormat.Save(bad, path));
            Assert.Equal(before, File.ReadAllText(path));
            Assert.Single(Directory.GetFileSystemEntries(dir.FullName));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void RoundTrip_RandomGraphs_KeepEveryNodeAndTheTrainingGraph()
    {
        // Property over 200 random DAGs (the solvers' test generator): read(write(g)) equals g field by field,
        // writing again is byte-identical, and the derived training graph has the same schedule fingerprint.
        for (int seed = 0; seed < 200; seed++)
        {
            var g = Recompute.Tests.Support.RandomGraphs.Forward(seed, 2 + seed % 30, maxBytes: 1 + seed * 1000);
            var text = NativeGraphFormat.ToJson(g);
            var back = NativeGraphFormat.Parse(text, $"random-{seed}.json");
            AssertSameGraph(g, back);
            Assert.Equal(text, NativeGraphFormat.ToJson(back));
            Assert.Equal(ScheduleFormat.Fingerprint(TrainingGraph.Derive(g)), ScheduleFormat.Fingerprint(TrainingGraph.Derive(back)));
        }
    }

    [Fact]
    public void Read_InputsMayReferToLaterNodes()
    {
        var g = NativeGraphFormat.Parse("""
            {"format": "recompute-graph", "version": 1, "name": "g", "nodes": [
              {"name": "y", "op": "Relu", "kind": "loss", "inputs": ["x"], "bytes": 4, "time": 1},
              {"name": "x", "op": "Input", "kind": "input", "bytes": 4}]}
            """);
        Assert.Equal(["x", "y"], g.Nodes.Select(n => n.Name));
        Assert.Equal("unit", g.TimeUnit);
    }

    [Theory]
    [InlineData("""{"format": "recompute-graph", "version": 2, "name": "g", "nodes": []}""", "version", "not supported")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [], "extra": 1}""", "the document", "unknown field 'extra'")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": "4"}]}""", "nodes[0] ('x').bytes", "must be an integer")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "weird", "bytes": 4}]}""", "nodes[0] ('x').kind", "unknown kind")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Relu", "kind": "loss", "inputs": ["nope"], "bytes": 4}]}""", "nodes[0] ('x').inputs[0]", "not a node of the graph")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Relu", "kind": "loss", "inputs": ["x"], "bytes": 4}]}""", "nodes[0] ('x').inputs[0]", "self-loop")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4}, {"name": "x", "op": "Input", "kind": "input", "bytes": 4}]}""", "nodes[1] ('x')", "duplicate name")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "time": -1}]}""", "nodes[0] ('x').time", "negative time")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "time": 1e400}]}""", "nodes[0] ('x').time", "not a finite number")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "backwardNeeds": [0]}]}""", "nodes[0] ('x').backwardNeeds[0]", "does not exist")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "attributes": {"a": null}}]}""", "nodes[0] ('x').attributes.a", "cannot be null")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "forwardOf": "zz"}]}""", "nodes[0] ('x').forwardOf", "not a node")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "attributes": {"a": ["s", 1]}}]}""", "nodes[0] ('x').attributes.a[1]", "must be a string")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "attributes": {"a": [1, "s"]}}]}""", "nodes[0] ('x').attributes.a[1]", "must be a number")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": [{"name": "x", "op": "Input", "kind": "input", "bytes": 4, "bytes": 5}]}""", "nodes[0]", "appears twice")]
    [InlineData("""{"format": "recompute-graph", "version": 1, "name": "g", "nodes": []}""", null, "no nodes")]
    public void Read_MalformedNative_NamesThePlace(string json, string? place, string problem)
    {
        var e = Assert.Throws<GraphFormatException>(() => NativeGraphFormat.Parse(json, "n.json"));
        Assert.Equal("n.json", e.File);
        Assert.Equal(place, e.Location);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void Dispatcher_RejectsUnknownJson()
    {
        var path = Path.Combine(Path.GetTempPath(), $"unknown-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"hello": "world"}""");
        try
        {
            var e = Assert.Throws<GraphFormatException>(() => JsonGraphDispatcher.Load(path));
            Assert.Equal(path, e.File);
            Assert.Contains("not a known graph format", e.Problem);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void DocumentedExample_Parses()
    {
        // The example of docs/graph-format.md must stay a valid file.
        var doc = File.ReadAllText(Path.Combine(ConformanceFiles.RepositoryRoot, "docs", "graph-format.md"));
        int start = doc.IndexOf("```json\n", StringComparison.Ordinal) + "```json\n".Length;
        int end = doc.IndexOf("```", start, StringComparison.Ordinal);
        var g = NativeGraphFormat.Parse(doc[start..end], "graph-format.md");
        Assert.Equal(NodeKind.Loss, g.Nodes[^1].Kind);
        Assert.Equal(doc[start..end], NativeGraphFormat.ToJson(g)); // the example is written canonically
    }

    internal static void AssertSameGraph(ComputationGraph a, ComputationGraph b)
    {
        Assert.Equal(a.Name, b.Name);
        Assert.Equal(a.TimeUnit, b.TimeUnit);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Node x = a[i], y = b[i];
            Assert.Equal(x.Name, y.Name);
            Assert.Equal(x.Op, y.Op);
            Assert.Equal(x.Kind, y.Kind);
            Assert.Equal(x.Inputs.ToArray(), y.Inputs.ToArray());
            Assert.Equal(x.Bytes, y.Bytes);
            Assert.Equal(x.Time, y.Time);
            Assert.Equal(x.BackwardTime, y.BackwardTime);
            Assert.Equal(x.Shape.ToArray(), y.Shape.ToArray());
            Assert.Equal(x.DType, y.DType);
            Assert.Equal(x.OutputIndex, y.OutputIndex);
            Assert.Equal(x.IsBackward, y.IsBackward);
            Assert.Equal(x.ForwardOf, y.ForwardOf);
            Assert.Equal(x.BackwardNeeds.ToArray(), y.BackwardNeeds.ToArray());
            Assert.Equal(x.Attributes.Keys, y.Attributes.Keys);
            foreach (var (k, v) in x.Attributes)
            {
                object w = y.Attributes[k];
                if (v is int iv) { Assert.Equal((long)iv, w); continue; }
                Assert.Equal(v.GetType(), w.GetType());
                if (v is IEnumerable e and not string) Assert.Equal(e.Cast<object>(), ((IEnumerable)w).Cast<object>());
                else Assert.Equal(v, w);
            }
        }
    }
}
