using System.Runtime.InteropServices;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>
/// Issue 14: the hostile command lines — outputs onto special files, links and the command's own inputs, inputs
/// that are not regular files or are too large. Each case runs through the command line and must exit with its
/// code, print one line on stderr and nothing on stdout, and leave every file it was given as it was: a FIFO still
/// a FIFO, a device still a device, a link still a link, an input byte for byte.
/// </summary>
public class HostileCliCorpusTests
{
    /// <summary>A folder of files a case creates; every file made through it is checked after the run.</summary>
    public sealed class Workspace : IDisposable
    {
        private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("hostile-cli14-");
        private readonly List<(string Path, FileKind Kind, byte[]? Bytes, string? LinkTarget)> _watched = [];

        public string Dir => _dir.FullName;

        public string P(string name) => Path.Combine(Dir, name);

        /// <summary>x → h (Relu) → loss: a native graph of three nodes.</summary>
        public static byte[] SmallGraph()
        {
            var b = new GraphBuilder("g");
            int x = b.Input("x", 64);
            int h = b.Activation("h", "Relu", [x], 64, 1);
            b.Loss("l", "Sum", [h], 4, 1);
            return System.Text.Encoding.UTF8.GetBytes(NativeGraphFormat.ToJson(b.Build()));
        }

        public string File(string name, byte[] bytes)
        {
            var p = P(name);
            System.IO.File.WriteAllBytes(p, bytes);
            return Watch(p);
        }

        public string Graph(string name = "g.json") => File(name, SmallGraph());

        public string Fifo(string name)
        {
            var p = P(name);
            Assert.Equal(0, MkFifo(p, 0x1A4)); // 0644
            return Watch(p);
        }

        /// <summary>A character device like /dev/null (1, 3), made with mknod (the tests run as root in CI).</summary>
        public string CharDevice(string name)
        {
            var p = P(name);
            int rc = MkNod(p, 0x2000 | 0x1A4, (1UL << 8) | 3);
            Assert.True(rc == 0, $"mknod failed (errno {Marshal.GetLastPInvokeError()}): these cases need root, as CI has");
            return Watch(p);
        }

        /// <summary>A file of <paramref name="length"/> zero bytes that takes no disk space (checked by its length).</summary>
        public string Sparse(string name, long length)
        {
            var p = P(name);
            using (var f = System.IO.File.Create(p)) f.SetLength(length);
            _watched.Add((p, FileKind.Regular, null, null));
            return p;
        }

        public string Link(string name, string target)
        {
            var p = P(name);
            System.IO.File.CreateSymbolicLink(p, target);
            return Watch(p);
        }

        public string Folder(string name)
        {
            var p = P(name);
            Directory.CreateDirectory(p);
            return Watch(p);
        }

        private string Watch(string p)
        {
            var kind = FileStatus.Of(p, followLinks: false).Kind;
            _watched.Add((p, kind, kind == FileKind.Regular ? System.IO.File.ReadAllBytes(p) : null, new FileInfo(p).LinkTarget));
            return p;
        }

        /// <summary>Every file made is still of its kind, with its bytes; nothing else is in the folder.</summary>
        public void AssertUnchanged()
        {
            foreach (var (p, kind, bytes, link) in _watched)
            {
                Assert.Equal(kind, FileStatus.Of(p, followLinks: false).Kind);
                if (bytes is not null) Assert.Equal(bytes, System.IO.File.ReadAllBytes(p));
                Assert.Equal(link, new FileInfo(p).LinkTarget);
            }
            var made = _watched.Select(w => w.Path).Where(w => Path.GetDirectoryName(w) == Dir).ToHashSet();
            foreach (var entry in Directory.GetFileSystemEntries(Dir))
                Assert.True(made.Contains(entry), $"left behind: {Path.GetFileName(entry)}");
        }

        public void Dispose() => _dir.Delete(recursive: true);

        [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
        private static extern int MkFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

        [DllImport("libc", EntryPoint = "mknod", SetLastError = true)]
        private static extern int MkNod([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode, ulong dev);
    }

    /// <summary>A hostile command line: the files it makes, the arguments, the exit code and a phrase of its one line.</summary>
    public sealed record Case(string Name, Func<Workspace, string[]> Args, int Code, string Expected)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<object[]> Cases()
    {
        var cases = new List<Case>
        {
            // ---- outputs onto things that are not regular files: refused, the thing untouched
            new("plan -o onto a FIFO", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.Fifo("out")], 2,
                "is a FIFO (named pipe), not a regular file"),
            new("plan -o onto a character device", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.CharDevice("null")], 2,
                "is a character device"),
            new("plan -o onto a link to a device", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.Link("fd1", "/proc/self/fd/1")], 2,
                "symbolic link"),
            new("plan -o onto a link to a regular file", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.Link("s.json",
                w.File("real.json", "keep"u8.ToArray()))], 2, "symbolic link"),
            new("plan -o onto a directory", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.Folder("d")], 2, "it is a directory"),
            new("plan --dot onto a FIFO", w => ["plan", w.Graph(), "--budget", "100%", "--dot", w.Fifo("g.dot")], 2, "is a FIFO"),
            new("plan -o \"\"", w => ["plan", w.Graph(), "--budget", "100%", "-o", ""], 2, "the path is empty"),
            new("plan --dot \"\"", w => ["plan", w.Graph(), "--budget", "100%", "--dot", ""], 2, "the path is empty"),
            new("calibrate -o onto a FIFO", w => ["calibrate", w.Graph(), "-o", w.Fifo("costs.json"), "--repeat", "1", "--warmup", "0"], 2,
                "is a FIFO"),
            new("report -o \"\"", w => ["report", w.Graph(), "-o", ""], 2, "empty"),
            new("report -o onto a FIFO", w => ["report", w.Graph(), "-o", w.Fifo("rep")], 2, "FIFO"),

            // ---- outputs onto the command's own inputs or each other: refused before any work
            new("plan g.json -o g.json", w => { var g = w.Graph(); return ["plan", g, "--budget", "100%", "-o", g]; }, 2,
                "it is an input of this command"),
            new("plan g.json --dot g.json", w => { var g = w.Graph(); return ["plan", g, "--budget", "100%", "--dot", g]; }, 2,
                "it is an input of this command"),
            new("plan g.json -o ./g.json (another spelling)", w => { var g = w.Graph(); return ["plan", g, "--budget", "100%", "-o",
                Path.Combine(w.Dir, ".", "g.json")]; }, 2, "it is an input of this command"),
            new("plan g.json -o a hard link of it", w =>
            {
                var g = w.Graph();
                Assert.Equal(0, Link(g, w.P("hard.json")));
                return ["plan", g, "--budget", "100%", "-o", w.File("hard.json", System.IO.File.ReadAllBytes(g))];
            }, 2, "it is an input of this command"),
            new("plan paper .txt -o itself", w => { var g = w.File("cg.txt",
                System.Text.Encoding.UTF8.GetBytes(PaperGraph)); return ["plan", g, "--budget", "100%", "-o", g]; }, 2, "it is an input of this command"),
            new("plan --time-file t.json -o t.json", w =>
            {
                var t = w.File("t.json", "{\"unit\": \"s\", \"times\": {\"h\": 1, \"l\": 1}}"u8.ToArray());
                return ["plan", w.Graph(), "--budget", "100%", "--time-file", t, "-o", t];
            }, 2, "time file"),
            new("calibrate g.json -o g.json", w => { var g = w.Graph(); return ["calibrate", g, "-o", g, "--repeat", "1", "--warmup",
                "0"]; }, 2, "it is an input of this command"),
            new("report rep/report.json -o rep", w =>
            {
                w.Folder("rep");
                var g = w.File(Path.Combine("rep", "report.json"), Workspace.SmallGraph());
                return ["report", g, "-o", w.P("rep")];
            }, 2, "it is an input of this command"),
            new("plan -o x --dot x", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.P("x"), "--dot", w.P("x")], 2,
                "it is also the output of -o"),
            new("plan -o x --dot ./x", w => ["plan", w.Graph(), "--budget", "100%", "-o", w.P("x"), "--dot", Path.Combine(w.Dir, ".",
                "x")], 2, "it is also the output of -o"),

            // ---- sizes and times whose sums overflow: a named error where the graph is built, never OverflowException
            new("inspect on three 2^61-byte activations", w => ["inspect", w.File("big.json", Chain(3, 1L << 61, 1))], 2,
                "the tensors' sizes sum to 6917529027641081864 bytes, over the limit"),
            new("report on three 2^61-byte activations", w => ["report", w.File("big.json", Chain(3, 1L << 61, 1)), "-o", w.P("rep")], 2,
                "over the limit"),
            new("plan --min-memory on three 2^59-byte activations", w => ["plan", w.File("big.json", Chain(3, 1L << 59, 1)),
                "--min-memory"], 2, "over the limit"),
            new("plan on times summing to Infinity", w => ["plan", w.File("slow.json", Chain(3, 8, 1e308)), "--budget", "100%"], 2,
                "the tasks' times sum to more than the largest number"),

            // ---- inputs that are not regular files, or too large: refused at open, without reading
            new("plan on a FIFO", w => ["plan", w.Fifo("g.json"), "--budget", "1GB"], 2, "is a FIFO (named pipe), not a regular file"),
            new("plan on a link to /dev/zero", w => ["plan", w.Link("z.txt", "/dev/zero"), "--budget", "1GB"], 2,
                "is a character device, not a regular file"),
            new("plan on a link to /dev/urandom", w => ["plan", w.Link("u.onnx", "/dev/urandom"), "--budget", "1GB"], 2, "is a character device"),
            new("plan on a character device", w => ["plan", w.CharDevice("g.json"), "--budget", "1GB"], 2, "is a character device"),
            new("plan on a directory", w => ["plan", w.Folder("g.json"), "--budget", "1GB"], 2, "is a directory, not a JSON graph file"),
            new("plan on a missing file", w => ["plan", w.P("nope.json"), "--budget", "1GB"], 2, "no such file"),
            new("plan on a 3 GB paper .txt (sparse)", w =>
            {
                return ["plan", w.Sparse("big.txt", 3_000_000_000), "--budget", "1GB"];
            }, 2, "is 3,000,000,000 bytes, over the 256 MiB limit for paper graph (.txt) files"),
            new("plan --time-file on a link to /dev/zero", w => ["plan", w.Graph(), "--budget", "100%", "--time-file", w.Link("t.json",
                "/dev/zero")], 2, "is a character device"),
            new("plan --time-file on a FIFO", w => ["plan", w.Graph(), "--budget", "100%", "--time-file", w.Fifo("t.json")], 2, "is a FIFO"),
            new("simulate on a FIFO schedule", w => ["simulate", w.Graph(), w.Fifo("s.json")], 2, "is a FIFO"),
            new("simulate on a /dev/zero schedule", w => ["simulate", w.Graph(), w.Link("s.json", "/dev/zero")], 2, "is a character device"),
            new("simulate on a directory schedule", w => ["simulate", w.Graph(), w.Folder("s.json")], 2, "is a directory, not a schedule file"),
            new("inspect on a FIFO", w => ["inspect", w.Fifo("g.onnx")], 2, "is a FIFO"),
            new("report on a link to /dev/zero", w => ["report", w.Link("g.json", "/dev/zero"), "-o", w.P("rep")], 2, "is a character device"),

            // ---- a loss that is not one value: refused by every planner path with the runtime's rule (LossRule)
            new("inspect on a native loss of 16 elements", w => ["inspect", w.File("nl.json", NonScalarLoss())], 2,
                "tensor 'l': the loss must be a scalar float, but it is float32 of shape [4,4]"),
            new("plan on a native loss of 16 elements", w => ["plan", w.File("nl.json", NonScalarLoss()), "--budget", "100%"], 2,
                "tensor 'l': the loss must be a scalar float"),
            new("report on a native loss of 16 elements", w => ["report", w.File("nl.json", NonScalarLoss()), "-o", w.P("rep")], 2,
                "tensor 'l': the loss must be a scalar float"),
            new("maxbatch on a native loss of 16 elements", w => ["maxbatch", w.File("nl.json", NonScalarLoss()), "--memory", "1GB"], 2,
                "tensor 'l': the loss must be a scalar float"),
            new("simulate on a native loss of 16 elements", w => ["simulate", w.File("nl.json", NonScalarLoss()), w.File("s.json",
                "{}"u8.ToArray())], 2, "tensor 'l': the loss must be a scalar float"),
            new("plan on an ONNX loss with reduction none", w => ["plan", w.File("none.onnx", ReductionNone()), "--budget", "100%"], 2,
                "none.onnx: tensor 'loss': the loss must be a scalar float, but it is float32 of shape [4] (a loss with reduction \"none\"?"),
            new("inspect on an ONNX loss with reduction none", w => ["inspect", w.File("none.onnx", ReductionNone())], 2,
                "tensor 'loss': the loss must be a scalar float"),
            new("train on an ONNX loss with reduction none", w => ["train", w.File("none.onnx", ReductionNone()), "--budget", "100%",
                "--steps", "1"], 2, "tensor 'loss': the loss must be a scalar float"),

            // ---- train and eval on graphs the runtime cannot run: refused before a line is printed
            new("train on a paper .txt", w => ["train", w.File("cg.txt", System.Text.Encoding.UTF8.GetBytes(PaperGraph)), "--budget",
                "100%", "--steps", "1"], 2, "cg.txt: tensor '2': op 'LinearFunction' is not supported by the runtime"),
            new("eval on a paper .txt", w => ["eval", w.File("cg.txt", System.Text.Encoding.UTF8.GetBytes(PaperGraph))], 2,
                "cg.txt: tensor '2': op 'LinearFunction' is not supported by the runtime"),
            new("train on a Checkmate graph", w => ["train", w.File("cm.json", CheckmateGraph()), "--budget", "100%", "--steps", "1"], 2,
                "cm.json: tensor 'x': op 'Op' is not supported by the runtime"),
            new("eval on a Checkmate graph", w => ["eval", w.File("cm.json", CheckmateGraph())], 2,
                "cm.json: tensor 'x': op 'Op' is not supported by the runtime"),

            // ---- names from files in error lines: escaped, one line
            new("plan --time-file with a key holding terminal controls", w =>
            {
                var t = w.File("t.json",
                    System.Text.Encoding.UTF8.GetBytes("{\"unit\": \"s\", \"times\": {\"" + System.Text.Json.JsonEncodedText.Encode(EvilName) + "\": 1}}"));
                return ["plan", w.Graph(), "--budget", "100%", "--time-file", t];
            }, 2, "h\\e[31mred"),
            new("plan on a missing file whose name holds terminal controls", w => ["plan",
                w.P("g\u001b[2J\nplan feasible\u009b\u202e.json"), "--budget", "100%"], 2, "g\\e[2J\\nplan feasible\\u009b\\u202e.json"),
        };
        return cases.Select(c => new object[] { c });
    }

    /// <summary>x → a0 → ... → a(n−1) → loss, each activation of <paramref name="bytes"/> bytes and <paramref name="time"/>.</summary>
    internal static byte[] Chain(int n, long bytes, double time)
    {
        // Written as text: the builder would refuse the hostile ones, which is the point.
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var nodes = new List<string> { "{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"inputs\": [], \"bytes\": 4, \"time\": 0}" };
        for (int i = 0; i < n; i++)
            nodes.Add(string.Create(inv,
                $"{{\"name\": \"a{i}\", \"op\": \"Relu\", \"kind\": \"activation\", \"inputs\": [\"{(i == 0 ? "x" : $"a{i - 1}")}\"], \"bytes\": {bytes}, \"time\": {time:R}}}"));
        nodes.Add($"{{\"name\": \"loss\", \"op\": \"Sum\", \"kind\": \"loss\", \"inputs\": [\"a{n - 1}\"], \"bytes\": 4, \"time\": 1}}");
        return System.Text.Encoding.UTF8.GetBytes("{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"chain\", \"nodes\": [" + string.Join(", ", nodes) + "]}");
    }

    /// <summary>x → h → l, the loss of shape [4,4] (64 bytes): a per-element loss nobody reduced.</summary>
    private static byte[] NonScalarLoss() => System.Text.Encoding.UTF8.GetBytes(
        "{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"nl\", \"nodes\": [" +
        "{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"inputs\": [], \"bytes\": 64, \"shape\": [4, 4]}, " +
        "{\"name\": \"h\", \"op\": \"Relu\", \"kind\": \"activation\", \"inputs\": [\"x\"], \"bytes\": 64, \"time\": 1, \"shape\": [4, 4]}, " +
        "{\"name\": \"l\", \"op\": \"Mul\", \"kind\": \"loss\", \"inputs\": [\"h\", \"h\"], \"bytes\": 64, \"time\": 1, \"shape\": [4, 4]}]}");

    /// <summary>SoftmaxCrossEntropyLoss with reduction "none" as the graph's output: a loss of shape [4].</summary>
    private static byte[] ReductionNone()
    {
        var m = new Recompute.Tests.Import.OnnxModelBuilder().Input("x", Recompute.Tests.Import.OnnxModelBuilder.Float, 4, 3).Input("y",
            Recompute.Tests.Import.OnnxModelBuilder.Long, 4)
            .Node("SoftmaxCrossEntropyLoss", ["x", "y"], ["loss"], Recompute.Tests.Import.OnnxModelBuilder.Str("reduction", "none"))
            .Output("loss", Recompute.Tests.Import.OnnxModelBuilder.Float, 4);
        return Google.Protobuf.MessageExtensions.ToByteArray(m.Model);
    }

    /// <summary>A Checkmate training graph: x → a → Loss, with its backward nodes.</summary>
    private static byte[] CheckmateGraph() => System.Text.Encoding.UTF8.GetBytes(
        "{\"directed\": true, \"multigraph\": false, \"graph\": {}, \"nodes\": [" +
        "{\"id\": 0, \"name\": \"x\", \"backward\": false, \"cost_cpu\": 0, \"cost_ram\": 64}, " +
        "{\"id\": 1, \"name\": \"a\", \"backward\": false, \"cost_cpu\": 1, \"cost_ram\": 64}, " +
        "{\"id\": 2, \"name\": \"Loss\", \"backward\": false, \"cost_cpu\": 1, \"cost_ram\": 4}, " +
        "{\"id\": 3, \"name\": \"Loss_backward\", \"backward\": true, \"cost_cpu\": 1, \"cost_ram\": 64}, " +
        "{\"id\": 4, \"name\": \"a_backward\", \"backward\": true, \"cost_cpu\": 1, \"cost_ram\": 64}], " +
        "\"links\": [{\"source\": 0, \"target\": 1}, {\"source\": 1, \"target\": 2}, {\"source\": 2, \"target\": 3}, " +
        "{\"source\": 3, \"target\": 4}, {\"source\": 1, \"target\": 4}]}");

    [Fact]
    public void SizesJustUnderTheLimit_PlanAndReport()
    {
        // 3 × 2^57 = 4.3e17 bytes, under the 2^59 = 5.8e17 limit: every command plans it without overflow. The
        // smallest budget is a backward step's: grad(a1) reads a1 and grad(a2) and writes grad(a1), 3 × 2^57.
        using var w = new Workspace();
        var g = w.File("near.json", Chain(3, 1L << 57, 1));
        foreach (var args in new[]
                 {
                     new[] { "inspect", g }, ["plan", g, "--min-memory"], ["plan", g, "--min-memory", "--solver", "dp"],
                     ["plan", g, "--budget", "100%", "--solver", "greedy"], ["report", g, "-o", w.P("rep"), "--points", "3", "--time-limit", "0.5"],
                 })
        {
            var (code, stdout, stderr) = Run(args);
            Assert.True(code == 0, $"{string.Join(' ', args)}: exit {code}; {stderr}");
            Assert.DoesNotContain("Infinity", stdout);
            Assert.DoesNotContain("NaN", stdout);
        }
    }

    [Fact]
    public void OneNodeReadingOneTensor200000Times_InspectsAndPlansWithinSeconds()
    {
        // Issue 31: a native Sum listing activation 'a' 200,000 times, without backwardNeeds (so its backward reads
        // every operand). The training graph asked, for each of the 200,000 operand slots, what the backward saves
        // (all 200,000 operands): 4·10^10 steps, past 180 s. It asks once per tensor now (0.45 s end to end here).
        using var w = new Workspace();
        const int n = 200_000;
        var sb = new System.Text.StringBuilder("{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"many\", \"nodes\": [" +
            "{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"inputs\": [], \"bytes\": 4, \"time\": 0}, " +
            "{\"name\": \"a\", \"op\": \"Relu\", \"kind\": \"activation\", \"inputs\": [\"x\"], \"bytes\": 4, \"time\": 1}, " +
            "{\"name\": \"s\", \"op\": \"Sum\", \"kind\": \"activation\", \"inputs\": [");
        for (int i = 0; i < n; i++) sb.Append(i == 0 ? "\"a\"" : ", \"a\"");
        sb.Append("], \"bytes\": 4, \"time\": 1}, {\"name\": \"l\", \"op\": \"Sum\", \"kind\": \"loss\", \"inputs\": [\"s\"], \"bytes\": 4, \"time\": 1}]}");
        var g = w.File("many.json", System.Text.Encoding.UTF8.GetBytes(sb.ToString()));
        foreach (var args in new[] { new[] { "inspect", g, "--format", "json" }, ["plan", g, "--budget", "100%", "--format", "json"] })
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var (code, stdout, stderr) = Run(args);
            Assert.True(code == 0, stderr);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{args[0]} took {clock.Elapsed.TotalSeconds:0.0} s");
            if (args[0] == "inspect") Assert.Equal(n + 2, System.Text.Json.JsonDocument.Parse(stdout).RootElement.GetProperty("edges").GetInt32());
        }
    }

    /// <summary>
    /// A native 20,000-branch fan-out whose Concat's backward reads every operand (4·10⁸ training edges) at 50 %: below
    /// its largest step (a branch's gradient with all 20,000 branches), so the answer is that no schedule fits, the step
    /// named, and the smallest budget, which is that step. Its time against the limit is in the <c>wide</c> benchmark.
    /// </summary>
    [Fact]
    public void TwentyThousandBranchFanOutBelowItsLargestStep_AnswersWithTheFloor()
    {
        using var w = new Workspace();
        const int n = 20_000;
        var sb = new System.Text.StringBuilder("{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"fan-out\", \"nodes\": [" +
            "{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 4096}");
        for (int i = 0; i < n; i++) sb.Append(System.Globalization.CultureInfo.InvariantCulture,
            $", {{\"name\": \"r{i}\", \"op\": \"Relu\", \"kind\": \"activation\", \"inputs\": [\"x\"], \"bytes\": 4096, \"time\": 1}}");
        sb.Append(", {\"name\": \"c\", \"op\": \"Concat\", \"kind\": \"activation\", \"inputs\": [");
        sb.AppendJoin(", ", Enumerable.Range(0, n).Select(i => $"\"r{i}\""));
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"], \"bytes\": {4096L * n}, \"time\": {n}}}");
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $", {{\"name\": \"loss\", \"op\": \"ReduceSum\", \"kind\": \"loss\", \"inputs\": [\"c\"], \"bytes\": 4, \"time\": {n}}}]}}");
        var g = w.File("fan-out.json", System.Text.Encoding.UTF8.GetBytes(sb.ToString()));
        long step = 2 * 4096L * n + 4096; // grad(c), every branch, and the branch's gradient
        var (code, stdout, stderr) = Run(["plan", g, "--budget", "50%", "--time-limit", "30", "--format", "json"]);
        Assert.Equal(1, code);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains($"its 20001 inputs and its output (largest input 'grad(c)'), 156 MiB ({step} bytes), live at once", stderr);
        Assert.Contains($"the smallest feasible budget is 156 MiB ({step} B)", stderr);
        using var json = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal(step, json.RootElement.GetProperty("smallestFeasibleBudgetBytes").GetInt64());
    }

    /// <summary>A tensor name with an SGR escape, an OSC title sequence, a forged line, a C1 CSI, DEL and a bidi override.</summary>
    private const string EvilName = "h\u001b[31mred\u001b]0;title\u0007\nplan feasible\u009b2J\u007f\u202egnp.exe";

    [Fact]
    public void NamesWithTerminalControls_AreEscaped_InTablesErrorsAndJson()
    {
        using var w = new Workspace();
        string name = System.Text.Json.JsonEncodedText.Encode(EvilName).ToString();
        string graph = "{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"" + name + "\", \"nodes\": [" +
            "{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"inputs\": [], \"bytes\": 64, \"time\": 0}, " +
            "{\"name\": \"" + name + "\", \"op\": \"Relu\", \"kind\": \"activation\", \"inputs\": [\"x\"], \"bytes\": 64, \"time\": 1}, " +
            "{\"name\": \"loss\", \"op\": \"Sum\", \"kind\": \"loss\", \"inputs\": [\"" + name + "\"], \"bytes\": 4, \"time\": 1}]}";
        var g = w.File("g.json", System.Text.Encoding.UTF8.GetBytes(graph));
        static void AssertClean(string text)
        {
            foreach (char c in text)
                Assert.False(TerminalText.IsUnsafe(c) && c != '\n', $"raw U+{(int)c:X4} reached the terminal: {text}");
        }
        // Tables: inspect and plan (the recomputed tensor is the evil one at a tight budget).
        foreach (var args in new[] { new[] { "inspect", g }, ["plan", g, "--budget", "100%"], ["plan", g, "--budget", "100%",
            "--recompute", EvilName] })
        {
            var (code, stdout, stderr) = Run(args);
            Assert.True(code is 0 or 1, stderr);
            AssertClean(stdout);
            AssertClean(stderr.TrimEnd('\n'));
            Assert.DoesNotContain(stdout.Split('\n'), l => l.StartsWith("plan feasible", StringComparison.Ordinal));
        }
        // Errors: a --keep naming a tensor that does not exist echoes the name, escaped, on one line.
        var (c2, o2, e2) = Run(["plan", g, "--budget", "100%", "--keep", "ghost\u001b[2J\nforged"]);
        Assert.Equal(2, c2);
        Assert.Equal("", o2);
        // A usage error: the problem, then the usage line (the command line's convention for bad options).
        var lines = e2.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length <= 2 && (lines.Length == 1 || lines[1].StartsWith("usage:", StringComparison.Ordinal)), e2);
        var line = lines[0];
        AssertClean(line);
        Assert.Contains("ghost\\e[2J\\nforged", line);
        // JSON stays valid JSON, with the name intact once parsed, and no raw control or bidi character.
        // dp-approx honours the pin by recomputing the evil tensor, so its name is in the JSON.
        var (c3, o3, _) = Run(["plan", g, "--budget", "100%", "--solver", "dp-approx", "--format", "json", "--recompute", EvilName]);
        Assert.True(c3 is 0 or 1);
        AssertClean(o3.TrimEnd('\n'));
        using var doc = System.Text.Json.JsonDocument.Parse(o3);
        Assert.Contains(EvilName, doc.RootElement.GetProperty("recomputedTensors").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void NamesInEveryCommandsOutput_AreEscaped()
    {
        // An MLP whose loss tensor has the evil name, in a file whose name holds controls too: every command that
        // prints the graph's, a tensor's or a file's name (train, eval, calibrate, maxbatch, report's summary,
        // inspect, plan) prints them escaped, and no forged line appears.
        using var w = new Workspace();
        var m = new Recompute.Tests.Import.OnnxModelBuilder()
            .Input("x", Recompute.Tests.Import.OnnxModelBuilder.Float, 4, 8).Input("y", Recompute.Tests.Import.OnnxModelBuilder.Long, 4)
            .Input("w1", Recompute.Tests.Import.OnnxModelBuilder.Float, 8, 5)
            .Node("MatMul", ["x", "w1"], [EvilName])
            .Node("SoftmaxCrossEntropyLoss", [EvilName, "y"], [EvilName + "loss"], Recompute.Tests.Import.OnnxModelBuilder.Str("reduction", "mean"))
            .Output(EvilName + "loss", Recompute.Tests.Import.OnnxModelBuilder.Float);
        var g = w.File("m\u001b[31m\nplan feasible\u009b\u202e.onnx", Google.Protobuf.MessageExtensions.ToByteArray(m.Model));
        foreach (var args in new[]
                 {
                     new[] { "train", g, "--budget", "100%", "--steps", "1" }, ["eval", g], ["calibrate", g, "-o", w.P("t.json"),
                         "--repeat", "1", "--warmup", "0"],
                     ["maxbatch", g, "--memory", "64MB"], ["report", g, "-o", w.P("rep"), "--points", "3", "--time-limit",
                         "0.5"], ["inspect", g], ["plan", g, "--budget", "100%"],
                 })
        {
            var (code, stdout, stderr) = Run(args);
            Assert.True(code == 0, $"{args[0]}: exit {code}; {stderr}");
            foreach (var text in new[] { stdout, stderr })
            {
                Assert.DoesNotContain(text, ch => TerminalText.IsUnsafe(ch) && ch != '\n');
                Assert.DoesNotContain(text.Split('\n'), l => l.StartsWith("plan feasible", StringComparison.Ordinal));
            }
            Assert.Contains("\\e[31m", stdout);
        }
    }

    [Fact]
    public void TerminalText_EscapesC0C1DelAndBidi_AndKeepsOtherText()
    {
        Assert.Equal("a\\e[31mb\\nc\\u009bd\\u007fe\\u202ef\\u2066g", TerminalText.Escape("a\u001b[31mb\nc\u009bd\u007fe\u202ef\u2066g"));
        Assert.Equal("résumé 名前\ttab", TerminalText.Escape("résumé 名前\ttab"));
    }

    private const string PaperGraph = "3 1\n0 8 0\n1 16 /w\n2 8 _\nforward\n2 1\n0 _\n1 _\n2\nLinearFunction\n{\"rank\": 0}\n";

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    /// <summary>Runs the command in this process, on a thread with a deadline: a FIFO opened by mistake would block forever.</summary>
    internal static (int Code, string Stdout, string Stderr) Run(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var run = Task.Run(() => Recompute.Cli.CommandRunner.Run(args, stdout, stderr, CancellationToken.None));
        Assert.True(run.Wait(TimeSpan.FromSeconds(60)), $"recompute {string.Join(' ', args)} did not return within 60 s (blocked on a FIFO?)");
        return (run.Result, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void HostileCommandLine_ExitsWithOneLine_AndLeavesEveryFileAsItWas(Case c)
    {
        using var w = new Workspace();
        var args = c.Args(w);
        var (code, stdout, stderr) = Run(args);
        Assert.True(code == c.Code, $"exit code {code}; stderr: {stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(line.StartsWith("recompute " + args[0] + ": ", StringComparison.Ordinal), line);
        Assert.True(line.Contains(c.Expected, StringComparison.Ordinal), $"expected \"{c.Expected}\" in: {line}");
        Assert.DoesNotContain(line, TerminalText.IsUnsafe);
        Assert.DoesNotContain("   at ", stderr);
        Assert.DoesNotContain("Exception", stderr);
        Assert.Equal("", stdout);
        w.AssertUnchanged();
    }

    [Fact]
    public void RegularOutputs_StillWork_AndReplaceAnOlderFile()
    {
        using var w = new Workspace();
        var g = w.Graph();
        var schedule = w.P("s.json");
        File.WriteAllText(schedule, "old");
        var (code, _, stderr) = Run(["plan", g, "--budget", "100%", "-o", schedule, "--dot", w.P("g.dot")]);
        Assert.True(code == 0, stderr);
        Assert.StartsWith("{", File.ReadAllText(schedule));
        Assert.StartsWith("digraph", File.ReadAllText(w.P("g.dot")));
        // The schedule read back by simulate, through a link to it: inputs may be links to regular files.
        File.CreateSymbolicLink(w.P("link.json"), schedule);
        (code, _, stderr) = Run(["simulate", g, w.P("link.json")]);
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public void OutputTarget_OutsideACommand_RefusesSpecialFilesToo()
    {
        // The library's writer refuses on its own, without a command scope (AtomicFile backs every writer).
        using var w = new Workspace();
        var fifo = w.Fifo("f");
        var e = Assert.Throws<OutputRefusedException>(() => Recompute.Planner.Files.AtomicFile.WriteAllText(fifo, "x"));
        Assert.Contains("FIFO", e.Message);
        Assert.Throws<OutputRefusedException>(() => Recompute.Planner.Files.AtomicFile.WriteAllText("", "x"));
        w.AssertUnchanged();
    }
}
