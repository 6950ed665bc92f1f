using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Planner.Scheduling;
using Xunit.Abstractions;

namespace Recompute.Tests.Import;

/// <summary>
/// Mutation fuzzing of every reader (issue 7, item 1): valid files are mutated at random (bit flips, special
/// bytes, truncation, token deletion, duplicated slices, hostile numbers, swapped lines, deep nesting) and loaded.
/// The only exception allowed out of a reader is <see cref="GraphFormatException"/>; whatever a reader accepts must
/// derive a training graph and survive a native write/read/write byte-identically.
/// The CI run is short and seeded; <c>fuzz/run-fuzz.sh</c> runs the same harness longer through the environment:
/// <c>RECOMPUTE_FUZZ_ITERATIONS</c> (default 300), <c>RECOMPUTE_FUZZ_SEED</c> (default 20261127) and
/// <c>RECOMPUTE_FUZZ_OUT</c> (a folder where failing inputs are saved).
/// </summary>
public class ImporterFuzzTests(ITestOutputHelper output)
{
    private const int DefaultIterations = 300;
    private const int DefaultSeed = 20261127;

    private sealed record Seed(string Name, string Extension, byte[] Bytes, Action<string> Load);

    private static readonly string[] HostileNumbers =
        ["0", "-1", "-0", "1.5", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e400", "1e-400",
         "99999999999999999999999999", "4611686018427387904", "2147483648", "NaN", "00", "1e18", "-1e308"];

    private static readonly byte[] SpecialBytes = Encoding.ASCII.GetBytes("{}[]\",:-0123456789eE. \n\t\\_/").Concat(new byte[] { 0, 0xFF,
        0xC3, 0x80 }).ToArray();

    private static Seed[] Seeds()
    {
        var small = new GraphBuilder("small");
        int x = small.Input("x", 16);
        int w = small.Parameter("w", 64);
        int h = small.Activation("h", "MatMul", [x, w], 16, 2);
        int r = small.Activation("r", "Relu", [h], 16, 1, backwardNeeds: [0]);
        small.Loss("loss", "Sum", [r, h], 4, 1);
        var smallTraining = TrainingGraph.Derive(small.Build());
        var storeAll = ImmutableArray.CreateBuilder<Step>();
        foreach (var t in smallTraining.Tasks) storeAll.Add(new Step(t.Kind == TaskKind.Forward ? StepKind.Compute : StepKind.Backward, t.Id));
        foreach (var t in smallTraining.Tasks) storeAll.Add(new Step(t.Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t.Id));
        var schedule = ScheduleFormat.ToJson(new Schedule(smallTraining, storeAll.ToImmutable(), "store-all", 1000),
            new Dictionary<string, object?> { ["peakBytes"] = 120L });

        void LoadGraph(string path) => CheckAccepted(HostileInputCorpusTests.LoadGraph(path));
        void LoadSchedule(string path)
        {
            var s = ScheduleFormat.Read(path, smallTraining);
            try { Simulator.Simulate(s); }
            catch (InvalidScheduleException) { } // a readable but wrong schedule: simulate reports the step, as designed
        }
        var vgg16 = CheckmateImporter.Load(ConformanceFiles.Checkmate("VGG16_256_train.json"));
        // fuzz/run-fuzz.sh also mutates every case of the hostile corpus (issue 14) of up to 64 KB; the CI run
        // keeps its fixed seeds so that its 300 mutations stay comparable from run to run.
        Seed[] corpus = Environment.GetEnvironmentVariable("RECOMPUTE_FUZZ_CORPUS") == "1"
            ? [.. HostileInputCorpusTests.Cases().Select(c => (HostileInputCorpusTests.Case)c[0])
                .Select(c => (Case: c, Bytes: c.Content())).Where(c => c.Bytes.Length is > 0 and <= 65536)
                .Select(c => new Seed("corpus: " + c.Case.Name, Path.GetExtension(c.Case.FileName), c.Bytes, LoadGraph))]
            : [];
        return
        [
            .. corpus,
            new("cg_vgg19.txt", ".txt", File.ReadAllBytes(ConformanceFiles.Paper("cg_vgg19.txt")), LoadGraph),
            new("cg_unet.txt", ".txt", File.ReadAllBytes(ConformanceFiles.Paper("cg_unet.txt")), LoadGraph),
            new("VGG16_256_train.json", ".json", File.ReadAllBytes(ConformanceFiles.Checkmate("VGG16_256_train.json")), LoadGraph),
            new("random_layered_n100.json", ".json",
                File.ReadAllBytes(ConformanceFiles.Checkmate("random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json")), LoadGraph),
            new("native rich", ".json", Encoding.UTF8.GetBytes(NativeGraphFormat.ToJson(NativeGraphFormatTests.Rich())), LoadGraph),
            new("native VGG16", ".json", Encoding.UTF8.GetBytes(NativeGraphFormat.ToJson(vgg16)), LoadGraph),
            new("schedule", ".json", Encoding.UTF8.GetBytes(schedule), LoadSchedule),
            new("mlp.onnx", ".onnx", OnnxModelBuilder.Mlp().Model.ToByteArray(), LoadGraph),
            // Issue 31: a model with external data (its location mutated too: NUL, '/', '..'), imported and its weights
            // read; and .npz batches, stored (as numpy.savez writes them: a flipped byte is caught by the CRC-32 alone)
            // and deflated.
            new("mlp external data.onnx", ".onnx", Recompute.Tests.Cli.HostileTrainingCliTests.ExternalDataMlp(), LoadWithWeights),
            new("batch stored.npz", ".npz", StoredNpz(), path => Recompute.Runtime.Data.Npz.Read(path)),
            new("batch deflated.npz", ".npz", Recompute.Runtime.Data.Npz.ToBytes([Recompute.Runtime.Data.NamedArray.Of("x", [1f, -2f, 3.5f,
                0f, 7f, 1e-3f], 2, 3),
                Recompute.Runtime.Data.NamedArray.Of("y", [1L, -4L], 2)]), path => Recompute.Runtime.Data.Npz.Read(path)),
            new("resnet18-b32-noshapes.onnx", ".onnx", File.ReadAllBytes(OnnxTestFiles.Graph("resnet18-b32-noshapes.onnx")), LoadGraph),
            new("gpt2-124m-b8-t1024-noshapes.onnx", ".onnx", File.ReadAllBytes(OnnxTestFiles.Graph("gpt2-124m-b8-t1024-noshapes.onnx")), LoadGraph),
        ];
    }

    /// <summary>Imports an ONNX model and reads its weights, external data beside it included.</summary>
    private static void LoadWithWeights(string path)
    {
        string data = Path.Combine(Path.GetDirectoryName(path)!, "weights.bin");
        if (!File.Exists(data)) File.WriteAllBytes(data, Recompute.Tests.Cli.HostileTrainingCliTests.ExternalData());
        CheckAccepted(HostileInputCorpusTests.LoadGraph(path));
        Recompute.Runtime.Execution.ModelWeights.FromOnnx(path);
    }

    /// <summary>An .npz of two arrays whose entries are stored uncompressed.</summary>
    private static byte[] StoredNpz()
    {
        using var ms = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
            foreach (var name in new[] { "x", "y" })
            {
                var one = Recompute.Runtime.Data.Npz.ToBytes([name == "x" ? Recompute.Runtime.Data.NamedArray.Of("x", [0.5f, 1.5f, -2f,
                    4f], 4) : Recompute.Runtime.Data.NamedArray.Of("y", [3L, 0L], 2)]);
                using var inner = new System.IO.Compression.ZipArchive(new MemoryStream(one), System.IO.Compression.ZipArchiveMode.Read);
                using var from = inner.Entries[0].Open();
                using var to = zip.CreateEntry(name + ".npy", System.IO.Compression.CompressionLevel.NoCompression).Open();
                from.CopyTo(to);
            }
        return ms.ToArray();
    }

    /// <summary>What an accepted graph must support: a training graph, and a native round trip.</summary>
    private static void CheckAccepted(ComputationGraph g)
    {
        TrainingGraph.Derive(g);
        var text = NativeGraphFormat.ToJson(g);
        var back = NativeGraphFormat.Parse(text, "round-trip");
        if (NativeGraphFormat.ToJson(back) != text) throw new InvalidOperationException("native round trip is not byte-identical");
    }

    /// <summary>Values a JSON-aware mutation puts in place of any value of the document: every wrong type and edge.</summary>
    private static readonly string[] HostileValues =
        ["null", "true", "\"\"", "\"x\"", "0", "-1", "1.5", "9223372036854775808", "1e400", "[]", "{}", "[[[[]]]]", "[\"a\", 1]",
         "{\"type\": \"float[]\", \"value\": [1]}", "\"__LONE_SURROGATE__\"", "\"" + new string('w', 1000) + "\""];

    /// <summary>
    /// Structural mutation of a JSON document: replace one value (anywhere) by a hostile value, delete one property
    /// or array element, or duplicate one array element. Keeps the file valid JSON, so it reaches semantic checks.
    /// </summary>
    private static byte[]? MutateJson(byte[] input, Random rng, StringBuilder log)
    {
        // JsonNode refuses objects with a repeated key and names that are not valid UTF-16 (hostile-corpus seeds have
        // both): byte mutations only, then.
        try { return MutateJsonNodes(input, rng, log); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { return null; }
    }

    private static byte[]? MutateJsonNodes(byte[] input, Random rng, StringBuilder log)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(input); }
        catch (System.Text.Json.JsonException) { return null; }
        if (root is null) return null;
        var places = new List<(JsonNode Parent, string? Key, int Index)>();
        var stack = new Stack<JsonNode>([root]);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (node is JsonObject o)
                foreach (var (k, v) in o) { places.Add((o, k, -1)); if (v is not null) stack.Push(v); }
            else if (node is JsonArray a)
                for (int i = 0; i < a.Count; i++) { places.Add((a, null, i)); if (a[i] is { } v) stack.Push(v); }
        }
        if (places.Count == 0) return null;
        var (parent, key, index) = places[rng.Next(places.Count)];
        string where = key ?? index.ToString(CultureInfo.InvariantCulture);
        switch (rng.Next(3))
        {
            case 0:
                string value = HostileValues[rng.Next(HostileValues.Length)];
                var replacement = JsonNode.Parse(value);
                if (parent is JsonObject po) po[key!] = replacement; else ((JsonArray)parent)[index] = replacement;
                log.Append(CultureInfo.InvariantCulture, $"json: {where} := {(value.Length > 20 ? value[..20] + "..." : value)}; ");
                break;
            case 1:
                if (parent is JsonObject po2) po2.Remove(key!); else ((JsonArray)parent).RemoveAt(index);
                log.Append(CultureInfo.InvariantCulture, $"json: delete {where}; ");
                break;
            default:
                if (parent is JsonArray pa) { pa.Insert(index, pa[index]?.DeepClone()); log.Append(CultureInfo.InvariantCulture,
                    $"json: duplicate [{index}]; "); }
                else { ((JsonObject)parent)[key!] = null; log.Append(CultureInfo.InvariantCulture, $"json: {where} := null; "); }
                break;
        }
        // JsonNode refuses to write a lone surrogate; it is spliced into the text afterwards.
        return Encoding.UTF8.GetBytes(root.ToJsonString().Replace("__LONE_SURROGATE__", "\\ud800", StringComparison.Ordinal));
    }

    private static readonly long[] HostileDims = [-1, 0, 1, 3, -7, 1L << 31, 1L << 40, long.MaxValue, long.MinValue];

    /// <summary>
    /// Structural mutation of an ONNX model, so that the file still parses and the importer's semantic checks and
    /// shape inference are reached: one node's operator swapped, an attribute or a declared dimension set to an
    /// extreme, an operand dropped, rewired or added, an output added, or a node removed.
    /// </summary>
    private static byte[]? MutateOnnx(byte[] input, Random rng, StringBuilder log)
    {
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(input); }
        catch (InvalidProtocolBufferException) { return null; }
        var g = model.Graph;
        if (g is null || g.Node.Count == 0) return null;
        int n = rng.Next(g.Node.Count);
        var node = g.Node[n];
        var ops = Recompute.Planner.Costs.ShapeInference.SupportedOps.ToArray();
        var names = g.Node.SelectMany(x => x.Output).Concat(g.Input.Select(i => i.Name)).Concat(g.Initializer.Select(i => i.Name)).ToArray();
        switch (rng.Next(7))
        {
            case 0:
                node.OpType = ops[rng.Next(ops.Length)];
                log.Append(CultureInfo.InvariantCulture, $"onnx: node {n} op := {node.OpType}; ");
                break;
            case 1 when node.Attribute.Count > 0:
            {
                var a = node.Attribute[rng.Next(node.Attribute.Count)];
                long v = HostileDims[rng.Next(HostileDims.Length)];
                if (a.Ints.Count > 0) a.Ints[rng.Next(a.Ints.Count)] = v; else a.I = v;
                log.Append(CultureInfo.InvariantCulture, $"onnx: node {n} attribute {a.Name} := {v}; ");
                break;
            }
            case 2 when node.Input.Count > 0:
                node.Input.RemoveAt(rng.Next(node.Input.Count));
                log.Append(CultureInfo.InvariantCulture, $"onnx: node {n} drops an input; ");
                break;
            case 3:
            {
                string name = names[rng.Next(names.Length)];
                if (node.Input.Count > 0 && rng.Next(2) == 0) node.Input[rng.Next(node.Input.Count)] = name; else node.Input.Add(name);
                log.Append(CultureInfo.InvariantCulture, $"onnx: node {n} reads {name}; ");
                break;
            }
            case 4:
                node.Output.Add(rng.Next(2) == 0 ? "extra" : names[rng.Next(names.Length)]);
                log.Append(CultureInfo.InvariantCulture, $"onnx: node {n} gets another output; ");
                break;
            case 5:
            {
                var shaped = g.Input.Concat(g.ValueInfo).Where(v => v.Type?.TensorType?.Shape?.Dim.Count > 0).ToList();
                if (shaped.Count == 0) goto default;
                var value = shaped[rng.Next(shaped.Count)];
                var dims = value.Type.TensorType.Shape.Dim;
                long d = HostileDims[rng.Next(HostileDims.Length)];
                dims[rng.Next(dims.Count)].DimValue = d;
                log.Append(CultureInfo.InvariantCulture, $"onnx: {value.Name} dimension := {d}; ");
                break;
            }
            default:
                g.Node.RemoveAt(n);
                log.Append(CultureInfo.InvariantCulture, $"onnx: node {n} removed; ");
                break;
        }
        return model.ToByteArray();
    }

    private static byte[] Mutate(byte[] input, Random rng, StringBuilder log, bool onnx)
    {
        if (input.Length > 0 && input[0] == (byte)'{' && rng.Next(3) == 0 && MutateJson(input, rng, log) is { } structural)
            return structural;
        if (onnx && rng.Next(2) == 0 && MutateOnnx(input, rng, log) is { } model)
            return model;
        var data = new List<byte>(input);
        int count = rng.Next(3) == 0 ? 2 + rng.Next(3) : 1; // mostly one mutation, so that many files stay almost valid
        for (int m = 0; m < count && data.Count > 0; m++)
        {
            int pos = rng.Next(data.Count);
            switch (rng.Next(9))
            {
                case 0:
                    int bit = rng.Next(8);
                    data[pos] ^= (byte)(1 << bit);
                    log.Append(CultureInfo.InvariantCulture, $"flip bit {bit} at {pos}; ");
                    break;
                case 1:
                    byte b = SpecialBytes[rng.Next(SpecialBytes.Length)];
                    data[pos] = b;
                    log.Append(CultureInfo.InvariantCulture, $"set byte {pos} to 0x{b:X2}; ");
                    break;
                case 2:
                    data.RemoveRange(pos, data.Count - pos);
                    log.Append(CultureInfo.InvariantCulture, $"truncate at {pos}; ");
                    break;
                case 3:
                {
                    // Delete one token: from pos to the next delimiter.
                    int end = pos;
                    while (end < data.Count && !IsDelimiter(data[end])) end++;
                    int len = Math.Max(1, end - pos);
                    data.RemoveRange(pos, Math.Min(len, data.Count - pos));
                    log.Append(CultureInfo.InvariantCulture, $"delete token at {pos} ({len} bytes); ");
                    break;
                }
                case 4:
                {
                    int len = 1 + rng.Next(Math.Min(64, data.Count - pos));
                    var slice = data.GetRange(pos, len);
                    int at = rng.Next(data.Count + 1);
                    data.InsertRange(at, slice);
                    log.Append(CultureInfo.InvariantCulture, $"copy {len} bytes from {pos} to {at}; ");
                    break;
                }
                case 5:
                {
                    // Replace the number nearest after pos by a hostile one.
                    int start = pos;
                    while (start < data.Count && !(data[start] is >= (byte)'0' and <= (byte)'9')) start++;
                    if (start == data.Count) break;
                    int end = start;
                    while (end < data.Count && data[end] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'-' or (byte)'e' or (byte)'E') end++;
                    string number = HostileNumbers[rng.Next(HostileNumbers.Length)];
                    data.RemoveRange(start, end - start);
                    data.InsertRange(start, Encoding.ASCII.GetBytes(number));
                    log.Append(CultureInfo.InvariantCulture, $"number at {start} := {number}; ");
                    break;
                }
                case 6:
                {
                    // Swap two lines.
                    var lines = Split(data);
                    if (lines.Count < 2) break;
                    int i = rng.Next(lines.Count), j = rng.Next(lines.Count);
                    (lines[i], lines[j]) = (lines[j], lines[i]);
                    data = lines.SelectMany((l, k) => k < lines.Count - 1 ? l.Append((byte)'\n') : l).ToList();
                    log.Append(CultureInfo.InvariantCulture, $"swap lines {i} and {j}; ");
                    break;
                }
                case 7:
                {
                    // Delete a whole line.
                    var lines = Split(data);
                    int i = rng.Next(lines.Count);
                    lines.RemoveAt(i);
                    data = lines.SelectMany((l, k) => k < lines.Count - 1 ? l.Append((byte)'\n') : l).ToList();
                    log.Append(CultureInfo.InvariantCulture, $"delete line {i}; ");
                    break;
                }
                default:
                {
                    int depth = 1 + rng.Next(200);
                    data.InsertRange(pos, Encoding.ASCII.GetBytes(new string('[', depth)));
                    log.Append(CultureInfo.InvariantCulture, $"insert {depth} '[' at {pos}; ");
                    break;
                }
            }
        }
        return data.ToArray();
    }

    private static bool IsDelimiter(byte b) => b is (byte)' ' or (byte)',' or (byte)'\n' or (byte)'"' or (byte)':' or (byte)'{' or (byte)'}' or (byte)'[' or (byte)']';

    private static List<List<byte>> Split(List<byte> data)
    {
        var lines = new List<List<byte>> { new() };
        foreach (var b in data)
            if (b == (byte)'\n') lines.Add([]);
            else lines[^1].Add(b);
        return lines;
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : fallback;

    [Fact]
    public void MutatedFiles_OnlyEverRaiseGraphFormatException()
    {
        int iterations = EnvInt("RECOMPUTE_FUZZ_ITERATIONS", DefaultIterations);
        int seed = EnvInt("RECOMPUTE_FUZZ_SEED", DefaultSeed);
        string? outDir = Environment.GetEnvironmentVariable("RECOMPUTE_FUZZ_OUT");
        var seeds = Seeds();
        var rng = new Random(seed);
        var dir = Directory.CreateTempSubdirectory("fuzz-");
        var failures = new List<string>();
        var accepted = new int[seeds.Length];
        var rejected = new int[seeds.Length];
        var problems = new SortedDictionary<string, int>(StringComparer.Ordinal);
        try
        {
            for (int i = 0; i < iterations; i++)
            {
                int s = i % seeds.Length;
                var log = new StringBuilder();
                var bytes = Mutate(seeds[s].Bytes, rng, log, seeds[s].Extension == ".onnx");
                var path = Path.Combine(dir.FullName, $"case{seeds[s].Extension}");
                File.WriteAllBytes(path, bytes);
                try
                {
                    seeds[s].Load(path);
                    accepted[s]++;
                }
                catch (GraphFormatException e)
                {
                    rejected[s]++;
                    if (e.File != path || e.Message.Contains('\n'))
                        failures.Add($"#{i} {seeds[s].Name}: unclear error '{e.Message}' ({log})");
                    string key = e.Problem.Length > 40 ? e.Problem[..40] : e.Problem;
                    problems[key] = problems.GetValueOrDefault(key) + 1;
                }
                catch (Exception e)
                {
                    failures.Add($"#{i} {seeds[s].Name}: {e.GetType().Name}: {e.Message} ({log})");
                    if (outDir is not null)
                    {
                        Directory.CreateDirectory(outDir);
                        File.WriteAllBytes(Path.Combine(outDir, $"seed{seed}-iter{i}{seeds[s].Extension}"), bytes);
                    }
                }
            }
        }
        finally { dir.Delete(true); }

        output.WriteLine($"seed {seed}, {iterations} iterations");
        for (int s = 0; s < seeds.Length; s++)
            output.WriteLine($"  {seeds[s].Name}: {accepted[s]} accepted, {rejected[s]} rejected");
        foreach (var (problem, n) in problems.OrderByDescending(kv => kv.Value).Take(15))
            output.WriteLine($"  {n,5} × {problem}");
        Assert.True(failures.Count == 0, $"{failures.Count} inputs raised something else than GraphFormatException:\n" + string.Join("\n",
            failures.Take(10)));
        // The mutations must reach both outcomes, or the harness is not exercising the readers.
        Assert.True(rejected.Sum() > iterations / 4, "too few rejections: the mutations are too weak");
        Assert.True(accepted.Sum() > 0, "nothing was accepted: the seeds or the checks are broken");
    }
}
