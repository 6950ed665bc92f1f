using System.IO.Compression;
using System.Text.Json;
using Google.Protobuf;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Files;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Runtime.Data;
using Recompute.Tests.Import;
using Recompute.Tests.Support;
using static Recompute.Tests.Cli.HostileCliCorpusTests;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Cli;

/// <summary>
/// Issue 31: the hostile inputs and outputs of training — weights in external data files, data in .npz files,
/// outputs that cannot be written, runs that diverge. Each case runs through the command line and exits with its
/// code, one line on stderr and no stack trace, nothing on stdout, and every file as it was.
/// </summary>
public class HostileTrainingCliTests
{
    /// <summary>The x[4,8] → MatMul w1 → Relu → Gemm w2, b2 → cross-entropy MLP; b2 (5 floats) in <paramref name="location"/> at offset 8.</summary>
    internal static byte[] ExternalDataMlp(string location = "weights.bin")
    {
        var b = new OnnxModelBuilder()
            .Input("x", Float, 4, 8).Input("y", Long, 4)
            .Node("MatMul", ["x", "w1"], ["h"]).Node("Relu", ["h"], ["r"]).Node("Gemm", ["r", "w2", "b2"], ["logits"])
            .Node("SoftmaxCrossEntropyLoss", ["logits", "y"], ["loss"], Str("reduction", "mean"))
            .Output("loss", Float).Output("logits", Float, 4, 5);
        b.Initializer(Tensor("w1", [8, 16], floats: Values(128, 0.3f)));
        b.Initializer(Tensor("w2", [16, 5], floats: Values(80, 0.2f)));
        var b2 = new TensorProto { Name = "b2", DataType = Float, DataLocation = TensorProto.Types.DataLocation.External };
        b2.Dims.Add(5);
        b2.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        b2.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "8" });
        b2.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "20" });
        b.Initializer(b2);
        return b.Model.ToByteArray();
    }

    /// <summary>The bytes of the external data file of <see cref="ExternalDataMlp"/>: 8 bytes of padding, then b2.</summary>
    internal static byte[] ExternalData() => [.. new byte[8], .. Values(5, 1f).SelectMany(BitConverter.GetBytes)];

    internal static float[] Values(int n, float scale) => Enumerable.Range(0, n).Select(i => (float)Math.Sin(i * 0.7 + scale) * scale).ToArray();

    /// <summary>The MLP and its external data in the workspace; returns the model's path.</summary>
    private static string Model(Workspace w, string location = "weights.bin")
    {
        w.File("weights.bin", ExternalData());
        return w.File("mlp.onnx", ExternalDataMlp(location));
    }

    /// <summary>A batch for the MLP: x float32[4,8], y int64[4] (labels below 5).</summary>
    private static string Batch(Workspace w, string name = "batch.npz", float[]? x = null, long[]? y = null) =>
        w.File(name, Npz.ToBytes([NamedArray.Of("x", x ?? Values(32, 1.5f), 4, 8), NamedArray.Of("y", y ?? [0L, 4, 2, 1], 4)]));

    public static IEnumerable<object[]> Cases()
    {
        var cases = new List<Case>
        {
            // ---- the model's external data file is an input: no output may replace it (1)
            new("train --save onto the model's external data file", w => ["train", Model(w), "--budget", "100%", "--steps", "1", "--save",
                w.P("weights.bin")], 2,
                "it is an input of this command (the external data file"),
            new("train --save onto a hard link of the external data file", w =>
            {
                var m = Model(w);
                Assert.Equal(0, HardLink(w.P("weights.bin"), w.P("other.bin")));
                return ["train", m, "--budget", "100%", "--steps", "1", "--save", w.File("other.bin", ExternalData())];
            }, 2, "it is an input of this command (the external data file"),
            new("plan -o onto the model's external data file", w => ["plan", Model(w), "--budget", "100%", "-o", w.P("weights.bin")], 2,
                "it is an input of this command (the external data file"),
            new("calibrate -o onto the model's external data file", w => ["calibrate", Model(w), "-o", w.P("weights.bin"), "--repeat", "1",
                "--warmup", "0"], 2,
                "it is an input of this command (the external data file"),

            // ---- a location holding a character no file name can hold: refused, named, no ArgumentException (3)
            new("eval on an external data location holding NUL", w => ["eval", Model(w, "weights\0.bin")], 2,
                "initializer 'b2': external data location 'weights\\u0000.bin' holds a NUL character"),
            new("train on an external data location holding NUL", w => ["train", Model(w, "a\0b"), "--budget", "100%", "--steps", "1"], 2,
                "holds a NUL character"),
            new("plan -o beside a model whose location holds NUL", w => ["plan", Model(w, "\0"), "--budget", "100%", "-o", w.P("s.json")], 0, ""),

            // ---- outputs whose folder cannot take them: refused before the first step (4)
            new("train --save into a missing folder", w => ["train", Model(w), "--budget", "100%", "--steps", "1", "--save",
                w.P("no/such/t.onnx")], 2, "does not exist"),
            new("train --save under a file", w => ["train", Model(w), "--budget", "100%", "--steps", "1", "--save",
                Path.Combine(w.File("f.json", "{}"u8.ToArray()), "t.onnx")], 2,
                "is a regular file, not a folder"),
            new("train --save onto a file system that refuses files (/sys)", w => ["train", Model(w), "--budget", "100%", "--steps", "1",
                "--save", "/sys/t.onnx"], 2,
                "a file cannot be created in /sys"),
            new("plan -o into a missing folder", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.P("no/s.json")], 2, "does not exist"),
            new("plan --dot under a file", w => ["plan", w.Graph(), "--budget", "100%", "--dot", Path.Combine(w.Graph("h.json"), "g.dot")],
                2, "not a folder"),
            new("report -o a folder whose parent is missing", w => ["report", w.Graph(), "-o", w.P("no/rep")], 2, "does not exist"),
            new("calibrate -o onto /sys", w => ["calibrate", w.Graph(), "-o", "/sys/t.json", "--repeat", "1", "--warmup", "0"], 2,
                "a file cannot be created in /sys"),

            // ---- bad data: named, before anything is printed (10)
            new("train --data with a label of -2^63", w => ["train", Model(w), "--data", Batch(w, y: [0L, long.MinValue, 2, 1]),
                "--budget", "100%", "--steps", "1"], 2,
                "batch.npz: array 'y' holds -9223372036854775808"),
            new("train --data with a label out of range", w => ["train", Model(w), "--data", Batch(w, y: [0L, 9, 2, 1]), "--budget",
                "100%", "--steps", "1"], 2, "mlp.onnx"),
        };
        return cases.Select(c => new object[] { c });
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int HardLink([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string existing,
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string name);

    [Theory]
    [MemberData(nameof(Cases))]
    public void HostileTrainingInput_ExitsWithOneLine_AndLeavesEveryFileAsItWas(Case c)
    {
        using var w = new Workspace();
        var args = c.Args(w);
        var (code, stdout, stderr) = Run(args);
        Assert.True(code == c.Code, $"exit code {code}; stderr: {stderr}");
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("Exception", stderr);
        if (c.Code == 0)
        {
            // A location that cannot be a path is refused where the data is read, and only there: planning needs no weights.
            Assert.True(File.Exists(w.P("s.json")));
            File.Delete(w.P("s.json"));
            w.AssertUnchanged();
            return;
        }
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(line.StartsWith("recompute " + args[0] + ": ", StringComparison.Ordinal), line);
        Assert.True(line.Contains(c.Expected, StringComparison.Ordinal), $"expected \"{c.Expected}\" in: {line}");
        Assert.DoesNotContain(line, TerminalText.IsUnsafe);
        Assert.Equal("", stdout);
        w.AssertUnchanged();
    }

    [Fact]
    public void ExternalData_TrainsAndSaves_WhenTheOutputIsElsewhere()
    {
        // The refusal above is about the file, not the option: the same command with another --save trains and
        // writes, and the external data file is untouched.
        using var w = new Workspace();
        var model = Model(w);
        var (code, stdout, stderr) = Run(["train", model, "--budget", "100%", "--steps", "2", "--save", w.P("t.onnx"), "--format", "json"]);
        Assert.True(code == 0, stderr);
        Assert.False(JsonDocument.Parse(stdout).RootElement.GetProperty("diverged").GetBoolean());
        Assert.Equal(ExternalData(), File.ReadAllBytes(w.P("weights.bin")));
        File.Delete(w.P("t.onnx"));
        w.AssertUnchanged();
    }

    /// <summary>A diverged run: the report with nulls, one line on stderr, exit 1, nothing saved.</summary>
    private static JsonElement AssertDiverged(Workspace w, string[] args, string expected)
    {
        var (code, stdout, stderr) = Run(args);
        Assert.True(code == 1, $"exit {code}: {stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"recompute {args[0]}: ", line);
        Assert.Contains(expected, line);
        Assert.DoesNotContain("Exception", stderr);
        Assert.False(File.Exists(w.P("t.onnx")), "a diverged run saved its model");
        w.AssertUnchanged();
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.True(json.GetProperty("diverged").GetBoolean());
        return json;
    }

    [Fact]
    public void EvalOnDataHoldingInfinity_ReportsNull_AndExits1()
    {
        using var w = new Workspace();
        var x = Values(32, 1.5f);
        x[3] = float.PositiveInfinity;
        var json = AssertDiverged(w, ["eval", Model(w), "--data", Batch(w, x: x), "--format", "json"], "the loss is NaN");
        Assert.Equal(JsonValueKind.Null, json.GetProperty("loss").ValueKind);
        // The outputs' summaries that are not finite are null too, deliberately.
        Assert.Equal(JsonValueKind.Null, json.GetProperty("outputs")[1].GetProperty("max").ValueKind);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrainOnDataHoldingInfinity_StopsAtStep1_SavesNothing_AndExits1(bool verify)
    {
        using var w = new Workspace();
        var x = Values(32, 1.5f);
        x[0] = float.NegativeInfinity;
        string[] args = ["train", Model(w), "--data", Batch(w, x: x), "--budget", "100%", "--steps", "5", "--save", w.P("t.onnx"),
            "--format", "json"];
        if (verify) args = [.. args, "--verify"];
        var json = AssertDiverged(w, args, "training diverged at step 1 of 5: the loss is NaN");
        Assert.Equal(1, json.GetProperty("steps").GetInt32());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("loss")[0].ValueKind);
        Assert.Equal(1, json.GetProperty("divergedAtStep").GetInt32());
        Assert.False(json.TryGetProperty("savedFile", out _));
        if (verify) Assert.Equal(JsonValueKind.Null, json.GetProperty("maxGradientDifference").ValueKind);
    }

    [Fact]
    public void TrainWithALearningRateThatDiverges_StopsWhereItDoes()
    {
        // SGD at a learning rate of 1000 on a cross-entropy MLP: the logits blow up within a few steps.
        using var w = new Workspace();
        var args = new[] { "train", Model(w), "--data", Batch(w), "--budget", "100%", "--steps", "200", "--optimizer", "sgd", "--lr",
            "1000", "--save", w.P("t.onnx"), "--format", "json" };
        var json = AssertDiverged(w, args, "training diverged at step");
        int at = json.GetProperty("divergedAtStep").GetInt32();
        Assert.InRange(at, 1, 199);
        Assert.Equal(at, json.GetProperty("steps").GetInt32());
        // The table says the same, and prints no number as JSON cannot: every line before the error is a result.
        var (code, stdout, _) = Run(args[..^2]);
        Assert.Equal(1, code);
        Assert.Contains($"diverged          at step {at}", stdout);
        Assert.False(File.Exists(w.P("t.onnx")));
    }

    [Fact]
    public void TheModelReplacedDuringTraining_IsSavedAsLoaded()
    {
        // Swap the model file (for a model whose weights have other names) when the first step's line is printed,
        // on the training thread, so that training goes on after the swap however fast the steps run; then save:
        // the saved model is the one loaded, with its trained weights, and the replacement is untouched.
        using var w = new Workspace();
        var model = Model(w);
        var other = new OnnxModelBuilder().Input("a", Float, 2, 3).Node("Relu", ["a"], ["r"]).Node("ReduceSum", ["r"], ["s"]).Output("s",
            Float).Model.ToByteArray();
        bool swapped = false;
        var stdout = new SyncWriter
        {
            OnLine = line =>
            {
                if (swapped || !line.StartsWith("    1  ", StringComparison.Ordinal)) return;
                File.WriteAllBytes(model + ".new", other);
                File.Move(model + ".new", model, overwrite: true);
                swapped = true;
            },
        };
        var stderr = new StringWriter();
        int code = Recompute.Cli.CommandRunner.Run(["train", model, "--budget", "100%", "--steps", "4000", "--save", w.P("t.onnx")],
            stdout, stderr, CancellationToken.None);
        Assert.True(swapped, "no step line was printed before the run ended");
        Assert.True(code == 0, stderr.ToString());
        Assert.Equal(other, File.ReadAllBytes(model));
        var saved = ModelProto.Parser.ParseFrom(File.ReadAllBytes(w.P("t.onnx")));
        Assert.Equal(["w1", "w2", "b2"], saved.Graph.Initializer.Select(t => t.Name));
        Assert.NotEqual(Values(80, 0.2f).SelectMany(BitConverter.GetBytes), saved.Graph.Initializer[1].RawData.ToByteArray());
    }

    /// <summary>A writer another thread can read while the command writes.</summary>
    private sealed class SyncWriter : StringWriter
    {
        private readonly Lock _gate = new();
        public string Text { get { lock (_gate) return ToString(); } }
        public override void Write(char value) { lock (_gate) base.Write(value); }
        public override void Write(string? value) { lock (_gate) base.Write(value); }
        public override void WriteLine(string? value)
        {
            lock (_gate) base.WriteLine(value);
            OnLine?.Invoke(value ?? "");
        }

        /// <summary>Called with every line written, on the writing thread, after it is written.</summary>
        public Action<string>? OnLine { get; init; }
    }

    [Fact]
    public void AFileReadTwiceInOneCommand_GivesTheBytesReadFirst()
    {
        // The mechanism behind the case above: inside a command, a file read whole is read once.
        using var w = new Workspace();
        var g = w.Graph();
        var first = File.ReadAllBytes(g);
        using (CommandFiles.Begin())
        {
            Assert.Equal(first, InputFile.ReadAllBytes(g, InputKind.JsonGraph));
            File.WriteAllText(g, "{}");
            Assert.Equal(first, InputFile.ReadAllBytes(g, InputKind.JsonGraph));
        }
        Assert.Equal("{}"u8.ToArray(), InputFile.ReadAllBytes(g, InputKind.JsonGraph));
    }
}

/// <summary>Issue 31, item 5: .npz files whose data is corrupt or far larger than the graph needs.</summary>
public class HostileNpzCliTests
{
    /// <summary>An .npz of one array <paramref name="name"/> whose header says <paramref name="descr"/> of shape
    /// [<paramref name="elements"/>], all zeros, written a megabyte at a time.</summary>
    internal static void WriteZeros(string path, string name, string descr, long elements, int elementSize, CompressionLevel level)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        using var s = zip.CreateEntry(name + ".npy", level).Open();
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({elements},), }}";
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        var header = System.Text.Encoding.Latin1.GetBytes(dict.PadRight(total - 11) + "\n");
        s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, (byte)(header.Length >> 8)]);
        s.Write(header);
        var zeros = new byte[1 << 20];
        for (long left = elements * elementSize; left > 0; left -= zeros.Length) s.Write(zeros, 0, (int)Math.Min(zeros.Length, left));
    }

    [Fact]
    public void AnNpzDeclaringGigabytes_IsRefusedFromItsHeader_InUnder200MB()
    {
        // 2·10^9 uint8 zeros: a few megabytes deflated, 2 GB stored, 16 GB as int64. The graph's 'x' needs float32[4,8]:
        // the header says otherwise, and that is all that is read. The child runs with a 200 MB GC heap limit, so
        // reading the array (or converting it) would end in OutOfMemoryException instead of the one line.
        using var w = new HostileCliCorpusTests.Workspace();
        var model = w.File("mlp.onnx", Google.Protobuf.MessageExtensions.ToByteArray(OnnxModelBuilder.Mlp().Model));
        var npz = w.P("big.npz");
        WriteZeros(npz, "x", "|u1", 2_000_000_000, 1, CompressionLevel.Optimal);
        long size = new FileInfo(npz).Length;
        Assert.InRange(size, 1, 20_000_000);
        var limit = new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0xC800000" };
        foreach (var command in new[] { "eval", "train" })
        {
            string[] args = command == "eval" ? ["eval", model, "--data", npz] : ["train", model, "--data", npz, "--budget", "100%", "--steps", "1"];
            using var child = CliProcess.Start(limit, args);
            int code = child.WaitForExit(TimeSpan.FromSeconds(60));
            Assert.True(code == 2, $"{command}: exit {code}; {child.Stderr}");
            var line = Assert.Single(child.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(line.Contains("big.npz: array 'x' is int64[2000000000], input 'x' of graph", StringComparison.Ordinal), line);
            Assert.Equal("", child.Stdout);
        }
    }

    [Fact]
    public void AFlippedByteInAStoredNpz_IsRefusedByItsCrc32()
    {
        // numpy.savez stores entries uncompressed: a flipped data byte changes a value and nothing else, so only the
        // CRC-32 can tell. The same file unflipped trains.
        using var w = new HostileCliCorpusTests.Workspace();
        var model = w.File("mlp.onnx", Google.Protobuf.MessageExtensions.ToByteArray(OnnxModelBuilder.Mlp().Model));
        var x = HostileTrainingCliTests.Values(32, 1.5f);
        byte[] good;
        using (var ms = new MemoryStream())
        {
            using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            {
                foreach (var a in new[] { NamedArray.Of("x", x, 4, 8), NamedArray.Of("y", [1L, 0, 3, 2], 4) })
                {
                    using var s = zip.CreateEntry(a.Name + ".npy", CompressionLevel.NoCompression).Open();
                    var inner = Npz.ToBytes([a]);
                    // The one entry of a single-array archive, read back as it is stored.
                    using var one = new ZipArchive(new MemoryStream(inner), ZipArchiveMode.Read);
                    using var e = one.Entries[0].Open();
                    e.CopyTo(s);
                }
            }
            good = ms.ToArray();
        }
        var (code, _, stderr) = HostileCliCorpusTests.Run(["train", model, "--data", w.File("good.npz", good), "--budget", "100%", "--steps", "1"]);
        Assert.True(code == 0, stderr);
        var bad = (byte[])good.Clone();
        int at = bad.AsSpan().IndexOf(BitConverter.GetBytes(x[5]));
        Assert.True(at > 0);
        bad[at] ^= 0x01;
        string[] args = ["train", model, "--data", w.File("bad.npz", bad), "--budget", "100%", "--steps", "1"];
        string stdout;
        (code, stdout, stderr) = HostileCliCorpusTests.Run(args);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("bad.npz: array 'x': the data does not match its CRC-32", line);
        Assert.Equal("", stdout);
        w.AssertUnchanged();
    }
}
