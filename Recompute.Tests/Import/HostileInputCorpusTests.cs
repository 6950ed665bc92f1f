using System.Text;
using Google.Protobuf;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Planner.Scheduling;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Import;

/// <summary>
/// Malformed and hostile files for every reader (issue 7, item 1). Each case is generated into a temporary
/// folder; a rejected file must raise <see cref="GraphFormatException"/> naming that file, with a one-line message
/// that says where and what, and nothing else (no other exception type, no stack overflow, no hang).
/// </summary>
public class HostileInputCorpusTests
{
    /// <summary>What the loader must do with a case: accept it, or reject it with a problem containing the text.</summary>
    public sealed record Case(string Name, string FileName, Func<byte[]> Content, string? Rejection)
    {
        public override string ToString() => Name;
    }

    internal static ComputationGraph LoadGraph(string path) =>
        path.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) ? PaperGraphImporter.Load(path)
        : path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) ? OnnxImporter.Load(path)
        : JsonGraphDispatcher.Load(path);

    private static byte[] Utf8(string s) => new UTF8Encoding(false).GetBytes(s);

    private const string PaperOk = "3 1\n0 8 0\n1 16 /w\n2 8 _\nforward\n2 1\n0 _\n1 _\n2\nLinearFunction\n{\"rank\": 0}\n";

    private static string Paper(string dataLines, string blocks, int n, int f) => $"{n} {f}\n{dataLines}{blocks}";

    private static string Native(string nodes) => "{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"g\", \"nodes\": [" + nodes + "]}";

    private static string N(string name, string kind, long bytes, string inputs = "") =>
        $"{{\"name\": \"{name}\", \"op\": \"Op\", \"kind\": \"{kind}\", \"inputs\": [{inputs}], \"bytes\": {bytes}, \"time\": 1}}";

    private static string Cm(string nodes,
        string links) => "{\"directed\": true, \"multigraph\": false, \"graph\": {}, \"nodes\": [" + nodes + "], \"links\": [" + links + "]}";

    private static string CmN(int id, string name, string ram = "4", string cpu = "1", bool backward = false) =>
        $"{{\"id\": {id}, \"name\": \"{name}\", \"backward\": {(backward ? "true" : "false")}, \"cost_cpu\": {cpu}, \"cost_ram\": {ram}}}";

    private static byte[] RandomBytes(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Truncated(string path, double fraction)
    {
        var all = File.ReadAllBytes(path);
        return all[..(int)(all.Length * fraction)];
    }

    /// <summary>x[4,8] → Relu → ReduceSum (the loss): the smallest valid training graph, with a node added by <paramref name="change"/>.</summary>
    private static byte[] Onnx(Action<OnnxModelBuilder>? change = null, params long[] xDims)
    {
        var m = new OnnxModelBuilder().Input("x", Float, xDims.Length > 0 ? xDims : [4, 8]).Node("Relu", ["x"], ["r"])
            .Node("ReduceSum", ["r"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        change?.Invoke(m);
        return m.Model.ToByteArray();
    }

    /// <summary>
    /// A model whose graph holds an If node whose branch holds an If node ... <paramref name="depth"/> deep, written
    /// as protobuf bytes by hand (the generated serializer recurses, and would overflow the test's own stack).
    /// </summary>
    private static byte[] NestedOnnxGraphs(int depth)
    {
        static void Varint(List<byte> o, ulong v) { while (v >= 0x80) { o.Add((byte)(v | 0x80)); v >>= 7; } o.Add((byte)v); }
        static void Bytes(List<byte> o, int field, IReadOnlyCollection<byte> b) { Varint(o, (ulong)(field << 3 | 2)); Varint(o,
            (ulong)b.Count); o.AddRange(b); }
        static void Text(List<byte> o, int field, string t) => Bytes(o, field, Encoding.UTF8.GetBytes(t));
        var graph = new List<byte>();
        for (int d = 0; d < depth; d++)
        {
            var attribute = new List<byte>();
            Text(attribute, 1, "then_branch");
            Bytes(attribute, 6, graph);
            Varint(attribute, 20 << 3); Varint(attribute, 5); // type: GRAPH
            var node = new List<byte>();
            Text(node, 1, "cond"); Text(node, 2, "out" + d); Text(node, 4, "If");
            Bytes(node, 5, attribute);
            graph = [];
            Bytes(graph, 1, node);
        }
        var model = new List<byte>();
        Varint(model, 1 << 3); Varint(model, 8); // ir_version
        var opset = new List<byte>();
        Varint(opset, 2 << 3); Varint(opset, 17);
        Bytes(model, 8, opset);
        Bytes(model, 7, graph);
        return [.. model];
    }

    private static byte[] HalfTheLines(string path)
    {
        var lines = File.ReadAllLines(path);
        return Utf8(string.Join("\n", lines.Take(lines.Length / 2)) + "\n");
    }

    public static IEnumerable<object[]> Cases()
    {
        var big = new string('n', 10 * 1024 * 1024);
        var cases = new List<Case>
        {
            // ---- every reader: empty, blank, random bytes, truncation
            new("paper: empty", "e.txt", () => [], "ends early"),
            new("native: empty", "e.json", () => [], "empty"),
            new("json: only whitespace", "w.json", () => Utf8(" \n\t "), "empty"),
            new("paper: random bytes", "r.txt", () => RandomBytes(1, 4096), ""),
            new("json: random bytes", "r.json", () => RandomBytes(2, 4096), "invalid JSON"),
            new("json: NUL bytes", "z.json", () => new byte[64], "invalid JSON"),
            new("paper: truncated vgg19 at 50%", "t.txt", () => Truncated(ConformanceFiles.Paper("cg_vgg19.txt"), 0.5), ""),
            new("paper: vgg19 cut after half of its lines", "t.txt", () => HalfTheLines(ConformanceFiles.Paper("cg_vgg19.txt")), "ends early"),
            new("paper: truncated vgg19 at 99.9%", "t.txt", () => Truncated(ConformanceFiles.Paper("cg_vgg19.txt"), 0.999), ""),
            new("checkmate: truncated VGG16 at 50%", "t.json", () => Truncated(ConformanceFiles.Checkmate("VGG16_256_train.json"), 0.5),
                "invalid JSON"),
            new("checkmate: truncated layered n100 at 90%", "t.json",
                () => Truncated(ConformanceFiles.Checkmate("random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json"), 0.9), "invalid JSON"),
            new("native: truncated", "t.json", () => Utf8(Native(N("x", "input", 4)))[..40], "invalid JSON"),
            new("json: top-level array", "a.json", () => Utf8("[1, 2]"), "must be a JSON object"),
            new("json: unknown object", "u.json", () => Utf8("{\"a\": 1}"), "not a known graph format"),
            new("json: UTF-8 BOM is fine", "bom.json", () => [0xEF, 0xBB, 0xBF, .. Utf8(Native(N("x", "input", 4)))], null),
            new("json: invalid UTF-8", "bad-utf8.json", () => [.. Utf8("{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \""),
                0xC3, 0x28, .. Utf8("\", \"nodes\": []}")], "invalid text in a string"),

            // ---- wrong JSON types
            new("native: nodes is an object", "t.json",
                () => Utf8("{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"g\", \"nodes\": {}}"), "must be a JSON array"),
            new("native: bytes is a string", "t.json",
                () => Utf8(Native("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": \"4\"}")), "must be an integer"),
            new("native: bytes is null", "t.json",
                () => Utf8(Native("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": null}")), "must be an integer"),
            new("native: name is a number", "t.json",
                () => Utf8(Native("{\"name\": 5, \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 4}")), "must be a string"),
            new("native: inputs holds numbers", "t.json", () => Utf8(Native(N("x", "input",
                4) + ", {\"name\": \"y\", \"op\": \"Op\", \"kind\": \"loss\", \"inputs\": [0], \"bytes\": 4}")), "must be a string"),
            new("native: version is a string", "t.json",
                () => Utf8("{\"format\": \"recompute-graph\", \"version\": \"1\", \"name\": \"g\", \"nodes\": []}"), "must be an integer"),
            new("native: node is an array", "t.json", () => Utf8(Native("[1]")), "must be a JSON object"),
            new("checkmate: backward is a string", "t.json",
                () => Utf8(Cm("{\"id\": 0, \"name\": \"a\", \"backward\": \"no\", \"cost_cpu\": 1, \"cost_ram\": 4}", "")), "must be true or false"),
            new("checkmate: links is a number", "t.json", () => Utf8("{\"nodes\": [" + CmN(0, "a") + "], \"links\": 3}"), "must be a JSON array"),
            new("checkmate: link is a string", "t.json", () => Utf8(Cm(CmN(0, "a"), "\"0->1\"")), "must be a JSON object"),
            new("checkmate: cost_cpu is true", "t.json", () => Utf8(Cm(CmN(0, "a", cpu: "true"), "")), "must be a number"),
            new("paper: size is text", "t.txt", () => Utf8(Paper("0 8 0\n1 many _\n", "", 2, 0)), "must be an integer number of bytes"),
            new("paper: header has three fields", "t.txt", () => Utf8("1 2 3\n"), "expected the header"),

            // ---- cycles, self-loops, missing references, duplicates
            new("native: cycle", "t.json", () => Utf8(Native(N("x", "input", 4) + ", " + N("a", "activation", 4,
                "\"x\", \"b\"") + ", " + N("b", "activation", 4, "\"a\"") + ", " + N("l", "loss", 4, "\"b\""))), "cycle"),
            new("native: self-loop", "t.json", () => Utf8(Native(N("a", "loss", 4, "\"a\""))), "self-loop"),
            new("native: missing reference", "t.json", () => Utf8(Native(N("a", "loss", 4, "\"ghost\""))), "not a node of the graph"),
            new("native: duplicate name", "t.json", () => Utf8(Native(N("a", "input", 4) + ", " + N("a", "input", 4))), "duplicate name"),
            new("checkmate: cycle", "t.json", () => Utf8(Cm(CmN(0, "a") + ", " + CmN(1, "b") + ", " + CmN(2, "c"),
                "{\"source\": 0, \"target\": 1}, {\"source\": 1, \"target\": 2}, {\"source\": 2, \"target\": 1}")), "cycle"),
            new("checkmate: self-loop", "t.json", () => Utf8(Cm(CmN(0, "a"), "{\"source\": 0, \"target\": 0}")), "self-loop"),
            new("checkmate: missing reference", "t.json", () => Utf8(Cm(CmN(0, "a"), "{\"source\": 0, \"target\": 7}")), "does not exist"),
            new("checkmate: duplicate id", "t.json", () => Utf8(Cm(CmN(0, "a") + ", " + CmN(0, "b"), "")), "duplicate node id"),
            // Issue 14: a repeated key in one object (the last would win: a second "cost_ram" dropped 3.29 GB silently).
            new("checkmate: duplicate key cost_ram", "t.json",
                () => Utf8(Cm("{\"id\": 0, \"name\": \"a\", \"backward\": false, \"cost_cpu\": 1, \"cost_ram\": 3290000000, \"cost_ram\": 1}", "")), "duplicate key"),
            new("native: duplicate key in the document", "t.json",
                () => Utf8("{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"g\", \"name\": \"h\", \"nodes\": []}"), "duplicate key"),
            new("checkmate: duplicate name", "t.json", () => Utf8(Cm(CmN(0, "a") + ", " + CmN(1, "a"), "")), "duplicate name"),
            new("checkmate: unknown target_node", "t.json", () => Utf8("{\"graph\": {\"target_node\": 9}, \"nodes\": [" + CmN(0,
                "a") + "], \"links\": []}"), "does not exist"),
            new("paper: cycle", "t.txt", () => Utf8(Paper("0 8 0\n1 8 _\n2 8 _\n3 8 _\n",
                "forward\n2 1\n0 _\n2 _\n1\nAdd\n{}\nforward\n1 1\n1 _\n2\nReLU\n{}\nforward\n1 1\n2 _\n3\nReLU\n{}\n", 4, 3)), "cycle"),
            new("paper: self-loop", "t.txt", () => Utf8(Paper("0 8 0\n1 8 _\n", "forward\n1 1\n1 _\n1\nReLU\n{}\n", 2, 1)), "self-loop"),
            new("paper: missing reference", "t.txt", () => Utf8(Paper("0 8 0\n1 8 _\n", "forward\n1 1\n5 _\n1\nReLU\n{}\n", 2, 1)), "not defined"),
            new("paper: duplicate data id", "t.txt", () => Utf8(Paper("0 8 0\n0 8 _\n", "", 2, 0)), "defined twice"),
            new("paper: two producers", "t.txt", () => Utf8(Paper("0 8 0\n1 8 _\n",
                "forward\n1 1\n0 _\n1\nReLU\n{}\nforward\n1 1\n0 _\n1\nReLU\n{}\n", 2, 2)), "produced by two"),

            // ---- sizes: zero is fine; negative, 2^63, and totals past 2^63-1 are not
            new("native: zero sizes are fine", "t.json", () => Utf8(Native(N("x", "input", 0) + ", " + N("y", "loss", 0, "\"x\""))), null),
            new("paper: zero sizes are fine", "t.txt", () => Utf8(Paper("0 0 0\n1 0 _\n", "forward\n1 1\n0 _\n1\nReLU\n{}\n", 2, 1)), null),
            new("native: negative size", "t.json", () => Utf8(Native(N("x", "input", -1))), "negative size"),
            new("checkmate: negative size", "t.json", () => Utf8(Cm(CmN(0, "a", ram: "-1"), "")), "negative size"),
            new("paper: negative size", "t.txt", () => Utf8(Paper("0 -8 0\n", "", 1, 0)), "negative size"),
            new("native: 2^63 bytes", "t.json",
                () => Utf8(Native("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 9223372036854775808}")), "does not fit in 64 bits"),
            new("native: 1e30 bytes", "t.json",
                () => Utf8(Native("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 1e30}")), "does not fit in 64 bits"),
            new("native: 1e400 bytes", "t.json",
                () => Utf8(Native("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 1e400}")), "does not fit in 64 bits"),
            new("checkmate: 2^63 bytes", "t.json", () => Utf8(Cm(CmN(0, "a", ram: "9223372036854775808"), "")), "does not fit in 64 bits"),
            new("paper: 2^63 bytes", "t.txt", () => Utf8(Paper("0 9223372036854775808 0\n", "", 1, 0)), "too large"),
            new("native: total past 2^63-1", "t.json", () => Utf8(Native(N("x", "input", long.MaxValue) + ", " + N("y", "loss", 1,
                "\"x\""))), "overflows 64 bits"),
            new("checkmate: total past 2^63-1", "t.json", () => Utf8(Cm(CmN(0, "a", ram: "9223372036854775807") + ", " + CmN(1, "b",
                ram: "9223372036854775807"), "{\"source\": 0, \"target\": 1}")), "overflows 64 bits"),
            new("paper: total past 2^63-1", "t.txt", () => Utf8(Paper("0 9223372036854775807 0\n1 9223372036854775807 _\n",
                "forward\n1 1\n0 _\n1\nReLU\n{}\n", 2, 1)), "overflows 64 bits"),
            new("checkmate: infinite time", "t.json", () => Utf8(Cm(CmN(0, "a", cpu: "1e999"), "")), "not a finite number"),
            new("native: enormous but valid size", "t.json", () => Utf8(Native(N("x", "input", 1L << 58) + ", " + N("y", "loss", 4, "\"x\""))), null),
            // Issue 14: sums that fit 64 bits while the peak with gradients (or the paper model's 2·M(V)) does not.
            // 3 × 2^61 = 6.9e18 < 2^63 − 1, but over the 2^59 limit on the total; 3 × 2^59 likewise.
            new("native: three 2^61-byte activations", "t.json", () => Utf8(Native(N("x", "input", 4) + ", " + N("a", "activation",
                1L << 61, "\"x\"") + ", " +
                N("b", "activation", 1L << 61, "\"a\"") + ", " + N("c", "activation", 1L << 61, "\"b\"") + ", " + N("l", "loss", 4,
                    "\"c\""))), "over the limit of 576460752303423488 (2^59"),
            new("native: three 2^59-byte activations", "t.json", () => Utf8(Native(N("x", "input", 4) + ", " + N("a", "activation",
                1L << 59, "\"x\"") + ", " +
                N("b", "activation", 1L << 59, "\"a\"") + ", " + N("c", "activation", 1L << 59, "\"b\"") + ", " + N("l", "loss", 4,
                    "\"c\""))), "over the limit of"),
            new("checkmate: times summing past double's range", "t.json", () => Utf8(Cm(CmN(0, "a", cpu: "1e308") + ", " + CmN(1, "b",
                cpu: "1e308"), "{\"source\": 0, \"target\": 1}")), "the tasks' times sum to more than the largest number"),
            new("paper: sizes just past 2^59 in total", "t.txt", () => Utf8(Paper("0 8 0\n1 576460752303423488 _\n",
                "forward\n1 1\n0 _\n1\nReLU\n{}\n", 2, 1)), "over the limit of"),
            new("paper: huge block count, short file", "t.txt", () => Utf8("2 2000000000\n0 8 0\n1 8 _\n"), "ends early"),
            new("paper: count above 2^31", "t.txt", () => Utf8("99999999999 1\n"), "too large"),

            // ---- 10 MB names: accepted, no crash; errors about them stay short
            new("native: 10 MB name", "t.json", () => Utf8(Native(N(big, "input", 4) + ", " + N("y", "loss", 4, "\"" + big + "\""))), null),
            new("checkmate: 10 MB name", "t.json", () => Utf8(Cm(CmN(0, big), "")), null),
            new("paper: 10 MB parameter path", "t.txt", () => Utf8(Paper("0 8 0\n1 8 /" + big + "\n2 8 _\n",
                "forward\n2 1\n0 _\n1 _\n2\nLinearFunction\n{}\n", 3, 1)), null),
            new("native: 10 MB missing reference", "t.json", () => Utf8(Native(N("a", "loss", 4, "\"" + big + "\""))), "not a node of the graph"),
            new("paper: 10 MB class name line", "t.txt", () => Utf8(Paper("0 8 0\n1 8 _\n", "forward\n1 1\n0 _\n1\nReLU " + big + "\n{}\n",
                2, 1)), "invalid class name"),

            // ---- deep nesting: rejected by depth, never a stack overflow
            new("json: 100,000 nested arrays", "d.json", () => Utf8(new string('[', 100_000) + new string(']', 100_000)),
                "nested deeper than 64 levels"),
            new("native: deeply nested attribute", "d.json",
                () => Utf8(Native("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 4, \"attributes\": {\"a\": " + new string('[', 5000) + new string(']', 5000) + "}}")), "nested deeper than 64 levels"),
            new("paper: deeply nested attribute line", "d.txt", () => Utf8(Paper("0 8 0\n1 8 _\n",
                "forward\n1 1\n0 _\n1\nReLU\n{\"a\": " + new string('[', 5000) + new string(']', 5000) + "}\n", 2, 1)), "not valid JSON"),

            // ---- strings that are not valid UTF-16 once unescaped
            new("native: lone surrogate in a name", "s.json", () => Utf8(Native(N("\\ud800", "input", 4))), "invalid"),
            new("checkmate: lone surrogate in a name", "s.json", () => Utf8(Cm(CmN(0, "\\udc00x"), "")), "invalid"),
            new("native: lone surrogate in a field name", "s.json",
                () => Utf8(Native("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 4, \"\\ud800\": 1}")), "invalid"),

            // ---- ONNX: the same families of faults in a protobuf file
            new("onnx: empty", "e.onnx", () => [], "empty"),
            new("onnx: random bytes", "r.onnx", () => RandomBytes(4, 4096), "not a valid ONNX model"),
            new("onnx: JSON text", "j.onnx", () => Utf8(Native(N("x", "input", 4))), "not a valid ONNX model"),
            new("onnx: resnet18 truncated at 50%", "t.onnx", () => Truncated(OnnxTestFiles.Graph("resnet18-b32.onnx"), 0.5), "truncated?"),
            new("onnx: resnet18 truncated by a few bytes", "t.onnx", () => Truncated(OnnxTestFiles.Graph("resnet18-b32.onnx"), 0.99999),
                "truncated?"),
            new("onnx: unsupported operator", "u.onnx", () => Onnx(m => m.Node("NonZero", ["r"], ["nz"])), "unsupported operator 'NonZero'"),
            new("onnx: attribute of the wrong type", "a.onnx",
                () => Onnx(m => m.Graph.Node[1].Attribute[0].Type = AttributeProto.Types.AttributeType.String), "keepdims"),
            new("onnx: cycle", "c.onnx", () => Onnx(m => m.Node("Add", ["x", "b"], ["a"]).Node("Relu", ["a"], ["b"])), "cycle"),
            new("onnx: self-loop", "s.onnx", () => Onnx(m => m.Node("Relu", ["self"], ["self"])), "self-loop"),
            new("onnx: missing reference", "m.onnx", () => Onnx(m => m.Node("Add", ["r", "ghost"], ["y"])), "'ghost'"),
            new("onnx: duplicate output name", "d.onnx", () => Onnx(m => m.Node("Neg", ["x"], ["r"])), "'r'"),
            new("onnx: zero-size dimension is fine", "z.onnx", () => Onnx(null, 0, 8), null),
            new("onnx: negative dimension", "n.onnx", () => Onnx(null, 4, -8), "negative dimension"),
            new("onnx: element count past 2^63", "o.onnx", () => Onnx(null, 1L << 30, 1L << 30, 1L << 30), "overflows 64 bits"),
            new("onnx: 10 MB tensor name", "l.onnx", () => Onnx(m => m.Node("Neg", ["r"], [big]).Node("Add", [big, "r"], ["s"])), null),
            new("onnx: 10 MB missing reference", "l.onnx", () => Onnx(m => m.Node("Add", ["r", big], ["y"])),
                "which no node, graph input or initializer produces"),
            new("onnx: subgraphs nested 2,000 deep", "n.onnx", () => NestedOnnxGraphs(2_000), "nested deeper than 100 levels"),

            new("paper: a valid file (control)", "ok.txt", () => Utf8(PaperOk), null),
        };
        return cases.Select(c => new object[] { c });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void HostileFile_IsRejectedCleanlyOrAccepted(Case c)
    {
        var dir = Directory.CreateTempSubdirectory("hostile-");
        try
        {
            var path = Path.Combine(dir.FullName, c.FileName);
            File.WriteAllBytes(path, c.Content());
            if (c.Rejection is null)
            {
                var g = LoadGraph(path);
                Assert.True(g.Count > 0);
                var back = NativeGraphFormat.Parse(NativeGraphFormat.ToJson(g));
                Assert.Equal(g.Count, back.Count);
                return;
            }
            var e = Assert.Throws<GraphFormatException>(() => LoadGraph(path));
            AssertCleanError(e, path, c.Rejection);
        }
        finally { dir.Delete(true); }
    }

    public static IEnumerable<object[]> RejectedCases() => Cases().Where(c => ((Case)c[0]).Rejection is not null);

    [Theory]
    [MemberData(nameof(RejectedCases))]
    public void HostileFile_OnTheCommandLine_ExitsTwoWithOneLineAndWritesNothing(Case c)
    {
        var dir = Directory.CreateTempSubdirectory("hostile-cli-");
        try
        {
            var path = Path.Combine(dir.FullName, c.FileName);
            File.WriteAllBytes(path, c.Content());
            var schedule = Path.Combine(dir.FullName, "schedule.json");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = Recompute.Cli.CommandRunner.Run(["plan", path, "--budget", "1GB", "-o", schedule], stdout, stderr, CancellationToken.None);
            Assert.Equal(2, code);
            var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var line = Assert.Single(lines);
            Assert.StartsWith("recompute plan: " + path + ": ", line);
            Assert.True(line.Contains(c.Rejection!, StringComparison.Ordinal), $"expected \"{c.Rejection}\" in: {line}");
            Assert.DoesNotContain("   at ", line);
            Assert.Equal("", stdout.ToString());
            Assert.Equal([path], Directory.GetFileSystemEntries(dir.FullName)); // no schedule, no temporary file
        }
        finally { dir.Delete(true); }
    }

    internal static void AssertCleanError(GraphFormatException e, string path, string expected)
    {
        Assert.Equal(path, e.File);
        Assert.StartsWith(path + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(e.Message.Length < 400 + path.Length, $"message too long ({e.Message.Length} chars)");
        Assert.Contains(expected, e.Problem);
    }

    [Theory]
    [InlineData("", "invalid JSON")]
    [InlineData("[[[[", "invalid JSON")]
    [InlineData("{\"times\": {\"h\": \"fast\"}}", "must be a non-negative number")]
    [InlineData("{\"times\": {\"h\": -1}}", "must be a non-negative number")]
    [InlineData("{\"times\": {\"h\": 1e400}}", "must be a non-negative number")]
    [InlineData("{\"times\": {\"h\": 1, \"nope\": 1}}", "nope")]
    [InlineData("{\"times\": 5}", "times")]
    [InlineData("{\"times\": {\"h\": 1}, \"times\": {\"h\": 2}}", "uplicate")]
    public void HostileTimeFile_OnTheCommandLine_ExitsTwoWithOneLine(string content, string expected)
    {
        var dir = Directory.CreateTempSubdirectory("hostile-times-");
        try
        {
            // Times files apply to ONNX graphs (the other formats carry their own times).
            var graphFile = OnnxModelBuilder.Mlp().Write(Path.Combine(dir.FullName, "mlp.onnx"));
            var times = Path.Combine(dir.FullName, "times.json");
            File.WriteAllText(times, content);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = Recompute.Cli.CommandRunner.Run(["plan", graphFile, "--budget", "100%", "--time-file", times], stdout, stderr,
                CancellationToken.None);
            Assert.Equal(2, code);
            Assert.Equal("", stdout.ToString());
            var line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(line.StartsWith($"recompute plan: {times}: ", StringComparison.Ordinal), line);
            Assert.Contains(expected, line);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Directory_InsteadOfAFile_IsAFormatError()
    {
        var dir = Directory.CreateTempSubdirectory("hostile-dir-");
        try
        {
            var e = Assert.Throws<GraphFormatException>(() => JsonGraphDispatcher.Load(dir.FullName));
            Assert.Equal(dir.FullName, e.File);
            Assert.Equal("is a directory, not a JSON graph file", e.Problem);
            e = Assert.Throws<GraphFormatException>(() => PaperGraphImporter.Load(dir.FullName));
            Assert.Equal("is a directory, not a paper graph (.txt) file", e.Problem);
            // Through the command line: named as a directory, not "no such file" (issue 14).
            var stderr = new StringWriter();
            Assert.Equal(2, Recompute.Cli.CommandRunner.Run(["inspect", dir.FullName + "/"], new StringWriter(), stderr, CancellationToken.None));
            Assert.Contains("is a directory", stderr.ToString());
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Schedule_HostileFiles_AreRejectedCleanly()
    {
        var b = new GraphBuilder("g");
        int x = b.Input("x", 4);
        int h = b.Activation("h", "Relu", [x], 4, 1);
        b.Loss("l", "Sum", [h], 4, 1);
        var graph = b.Build();
        var tg = TrainingGraph.Derive(graph);
        var dir = Directory.CreateTempSubdirectory("hostile-sched-");
        try
        {
            var graphFile = Path.Combine(dir.FullName, "g.graph.json");
            NativeGraphFormat.Save(graph, graphFile);
            var valid = ScheduleFormat.ToJson(new Schedule(tg, [new Step(StepKind.Compute, 0)], "x", null));
            var cases = new (string Name, byte[] Bytes, string Problem)[]
            {
                ("empty", [], "empty"),
                ("random", RandomBytes(3, 2048), "invalid JSON"),
                ("truncated", Utf8(valid)[..(valid.Length / 2)], "invalid JSON"),
                ("nested", Utf8(new string('{', 10_000)), "invalid JSON"),
                ("steps not an array", Utf8(valid.Replace("\"steps\": [", "\"steps\": 5, \"x\": [")), "unknown field"),
                ("budget 2^63", Utf8(valid.Replace("\"budgetBytes\": null", "\"budgetBytes\": 9223372036854775808")), "does not fit in 64 bits"),
                ("step is a number", Utf8(valid.Replace("{\"step\": \"compute\", \"tensor\": \"h\"}", "7")), "must be a JSON object"),
                ("lone surrogate tensor", Utf8(valid.Replace("\"tensor\": \"h\"", "\"tensor\": \"\\ud800\"")), "invalid"),
            };
            foreach (var (name, bytes, problem) in cases)
            {
                var path = Path.Combine(dir.FullName, name + ".json");
                File.WriteAllBytes(path, bytes);
                var e = Assert.Throws<GraphFormatException>(() => ScheduleFormat.Read(path, tg));
                AssertCleanError(e, path, problem);

                // Through `recompute simulate`: exit 2 and that one line.
                var stdout = new StringWriter();
                var stderr = new StringWriter();
                Assert.Equal(2, Recompute.Cli.CommandRunner.Run(["simulate", graphFile, path], stdout, stderr, CancellationToken.None));
                Assert.Equal("", stdout.ToString());
                Assert.Equal($"recompute simulate: {e.Message}", Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            }
        }
        finally { dir.Delete(true); }
    }
}
