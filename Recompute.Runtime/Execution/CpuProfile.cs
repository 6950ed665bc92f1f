using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Models;

namespace Recompute.Runtime.Execution;

/// <summary>
/// The <c>cpu</c> device profile: what this runtime's kernels achieve on this machine, measured by training small
/// graphs made of each kind of kernel (convolutions dense and depthwise, GEMMs, normalisations, activations, pooling,
/// softmax, a transpose, and a chain of tiny ops for the fixed cost per kernel) and dividing the work
/// <see cref="OpCosts"/> counts by the measured seconds. A few seconds; cached per machine and build.
/// </summary>
public static class CpuProfile
{
    /// <summary>The environment variable naming the cache folder (default: <c>$XDG_CACHE_HOME/recompute</c> or <c>~/.cache/recompute</c>).</summary>
    public const string CacheVariable = "RECOMPUTE_CACHE_DIR";

    /// <summary>The cached profile when it was measured on this machine, build and thread count; else measures and caches it.</summary>
    /// <param name="measured">True when the profile was measured now (not read from the cache).</param>
    /// <param name="remeasure">Measure even when a cached profile fits.</param>
    /// <param name="cancellation">Stops the measurement.</param>
    public static DeviceProfile LoadOrMeasure(out bool measured, bool remeasure = false, CancellationToken cancellation = default)
    {
        string path = CachePath();
        string key = MachineKey();
        if (!remeasure && File.Exists(path))
        {
            try
            {
                var cached = DeviceProfileFile.Parse(File.ReadAllBytes(path), path);
                if (cached.Metadata.TryGetValue("key", out var k) && k == key) { measured = false; return cached; }
            }
            catch (Exception e) when (e is GraphFormatException or IOException or UnauthorizedAccessException) { }
        }
        var profile = Measure(cancellation: cancellation);
        measured = true;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            Planner.Files.AtomicFile.WriteAllText(path, DeviceProfileFile.Format(profile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return profile;
    }

    /// <summary>Where the profile for the kernels' present thread count is cached (one file per thread count).</summary>
    public static string CachePath() => CachePath(KernelOptions.MaxDegreeOfParallelism);

    /// <summary>Where the profile for <paramref name="threads"/> kernel threads is cached.</summary>
    public static string CachePath(int threads)
    {
        string? dir = Environment.GetEnvironmentVariable(CacheVariable);
        if (string.IsNullOrEmpty(dir))
        {
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            dir = !string.IsNullOrEmpty(xdg) ? Path.Combine(xdg, "recompute")
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "recompute");
        }
        return Path.Combine(dir, $"cpu-profile-{threads}-threads.json");
    }

    /// <summary>What the cached profile must have been measured on: processor model and count, kernel threads, runtime build.</summary>
    public static string MachineKey() => MachineKey(KernelOptions.MaxDegreeOfParallelism);

    /// <summary>The key of a profile measured with <paramref name="threads"/> kernel threads.</summary>
    public static string MachineKey(int threads) =>
        string.Join(" | ", ProcessorName(), $"{Environment.ProcessorCount} processors", $"{threads} kernel threads",
            $"runtime {typeof(CpuProfile).Assembly.ManifestModule.ModuleVersionId}");

    /// <summary>Measures the profile now (see the class summary).</summary>
    /// <param name="clock">Wall-clock time (what training takes), or the thread's CPU time for a single-threaded
    /// measurement on a loaded machine (<see cref="ExecutionClock.ThreadCpu"/>).</param>
    /// <param name="cancellation">Stops the measurement.</param>
    public static DeviceProfile Measure(ExecutionClock clock = ExecutionClock.WallClock, CancellationToken cancellation = default)
    {
        var options = new CalibrationOptions { Repeat = 7, WarmUp = 2, Seed = 1, Clock = clock, Minimum = true };
        var tiny = Calibration.Measure(TinyChain(), options, cancellation);
        // The fixed cost of a kernel: the median forward time of an op on a handful of elements.
        var tinyTimes = tiny.Graph.Nodes.Where(n => n.IsPlanned && n.Op == "Relu").Select(n => tiny.ForwardSeconds[n.Id]).ToArray();
        double fixedSeconds = Calibration.Median(tinyTimes);

        var samples = new List<(ComputationGraph Graph, CalibrationResult Result)>();
        foreach (var graph in new[] { Vision(), Transformer() })
            samples.Add((graph, Calibration.Measure(graph, options, cancellation)));

        var forward = new Dictionary<CostClass, (double Work, double Seconds)>();
        foreach (var (graph, result) in samples)
            foreach (var n in graph.Nodes)
            {
                if (!n.IsPlanned) continue;
                var w = OpCosts.Forward(graph, n, n.Time);
                if (w.Class == CostClass.Free || w.Kernels == 0) continue;
                Add(forward, w.Class, Binding(w), Math.Max(result.ForwardSeconds[n.Id] - fixedSeconds, 1e-9));
            }
        var backward = BackwardRates(samples, fixedSeconds);

        // The rate of element-wise arithmetic stands for kinds of kernel the graphs above lack.
        double stream = Rate(forward, CostClass.Elementwise) ?? 1e10;
        var classes = ImmutableSortedDictionary.CreateBuilder<CostClass, ClassRates>();
        foreach (var cls in Enum.GetValues<CostClass>())
        {
            if (cls == CostClass.Free) continue;
            double fwd = Rate(forward, cls) ?? (IsCompute(cls) ? Rate(forward, CostClass.MatMul) ?? 1e10 : stream);
            // A fitted backward rate far from the forward one is a kind the tasks hardly measure (a few microseconds
            // beside a convolution's milliseconds): the forward rate is the better estimate then.
            double bwd = backward.TryGetValue(cls, out var b) && b >= fwd / 8 && b <= fwd * 8 ? b : fwd;
            classes[cls] = IsCompute(cls)
                ? new ClassRates(fwd, stream, bwd, stream)
                : new ClassRates(0, fwd, 0, bwd);
        }
        return new DeviceProfile
        {
            Name = DeviceProfiles.CpuName,
            Description = $"this machine's CPU as the runtime uses it ({ProcessorName()}, {KernelOptions.MaxDegreeOfParallelism} threads), measured",
            MemoryBytes = PhysicalMemory(),
            FixedSecondsPerOp = fixedSeconds,
            Classes = classes.ToImmutable(),
            HostLink = CopyLink(cancellation),
            Metadata = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new KeyValuePair<string, string>[]
            {
                new("key", MachineKey()),
                new("measured", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)),
                new("method", "least of 7 store-all training steps of the runtime's micro-benchmark graphs, after 2"),
            }),
        };
    }

    /// <summary>
    /// The CPU's "link" for offloading: the runtime copies an offloaded value to its host arena, and back, with one
    /// span copy on the step's own thread, so the link is blocking and its rate is that copy's. Measured as the least
    /// of 7 copies of 32 MiB between two buffers that were written before (as the arenas' pooled buffers are).
    /// </summary>
    private static HostLink CopyLink(CancellationToken cancellation)
    {
        const int length = 8 << 20;
        var from = new float[length];
        var to = new float[length];
        from.AsSpan().Fill(1f);
        from.AsSpan().CopyTo(to);
        double best = double.MaxValue;
        for (int i = 0; i < 7; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            from.AsSpan().CopyTo(to);
            best = Math.Min(best, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return new HostLink(length * (double)sizeof(float) / Math.Max(best, 1e-9), 0) { Blocking = true };
    }

    private static bool IsCompute(CostClass c) => c is CostClass.MatMul or CostClass.Conv;

    /// <summary>The quantity that bounds a kind of kernel on a CPU: FLOPs for products, bytes for the rest.</summary>
    private static double Binding(OpWork w) => IsCompute(w.Class) ? w.Flops : w.Bytes;

    private static void Add(Dictionary<CostClass, (double Work, double Seconds)> sums, CostClass c, double work, double seconds)
    {
        var (w, s) = sums.GetValueOrDefault(c);
        sums[c] = (w + work, s + seconds);
    }

    private static double? Rate(Dictionary<CostClass, (double Work, double Seconds)> sums, CostClass c) =>
        sums.TryGetValue(c, out var v) && v.Work > 0 && v.Seconds > 0 ? v.Work / v.Seconds : null;

    /// <summary>
    /// Backward rates per kind of kernel. A backward task mixes kinds (the gradient of a ReLU's output is the next
    /// convolution's data gradient; a convolution's own weight gradient comes with its input's task), so the seconds
    /// per unit of work of every kind are fitted together: non-negative least squares over all tasks, each task's
    /// residual divided by the square root of its measured seconds (large tasks count more, small ones still count).
    /// </summary>
    private static Dictionary<CostClass, double> BackwardRates(List<(ComputationGraph Graph, CalibrationResult Result)> samples, double fixedSeconds)
    {
        var classes = Enum.GetValues<CostClass>().Where(c => c != CostClass.Free).ToArray();
        var rows = new List<(double[] Work, double Seconds)>();
        foreach (var (graph, result) in samples)
        {
            var flops = graph.Nodes.Select(n => n.Time).ToArray();
            var needsGradient = OpCosts.NeedsGradient(graph);
            foreach (var n in graph.Nodes)
            {
                var works = OpCosts.Backward(graph, n, flops, needsGradient).Where(w => w.Class != CostClass.Free).ToArray();
                if (works.Length == 0 || result.BackwardSeconds[n.Id] <= 0) continue;
                var row = new double[classes.Length];
                foreach (var w in works) row[Array.IndexOf(classes, w.Class)] += Binding(w);
                double seconds = Math.Max(result.BackwardSeconds[n.Id] - works.Sum(w => w.Kernels) * fixedSeconds, 1e-9);
                rows.Add((row, seconds));
            }
        }
        var secondsPerWork = NonNegativeLeastSquares(rows, classes.Length);
        var rates = new Dictionary<CostClass, double>();
        for (int c = 0; c < classes.Length; c++)
            if (secondsPerWork[c] > 0 && rows.Any(r => r.Work[c] > 0)) rates[classes[c]] = 1 / secondsPerWork[c];
        return rates;
    }

    /// <summary>
    /// x ≥ 0 minimising Σ (a·x − y)² / y by cyclic coordinate descent (a handful of unknowns; the columns are scaled to
    /// unit norm first so that FLOPs and bytes converge alike). Deterministic: a fixed number of sweeps in a fixed order.
    /// </summary>
    private static double[] NonNegativeLeastSquares(List<(double[] Work, double Seconds)> rows, int unknowns)
    {
        var scale = new double[unknowns];
        for (int c = 0; c < unknowns; c++) scale[c] = Math.Sqrt(rows.Sum(r => r.Work[c] * r.Work[c] / r.Seconds));
        var x = new double[unknowns];
        var residual = rows.Select(r => -r.Seconds).ToArray();
        for (int sweep = 0; sweep < 500; sweep++)
            for (int c = 0; c < unknowns; c++)
            {
                if (scale[c] == 0) continue;
                double gradient = 0, curvature = 0;
                for (int i = 0; i < rows.Count; i++)
                {
                    double a = rows[i].Work[c] / scale[c];
                    gradient += a * residual[i] / rows[i].Seconds;
                    curvature += a * a / rows[i].Seconds;
                }
                double scaled = x[c] * scale[c];
                double next = Math.Max(0, scaled - gradient / curvature);
                if (next == scaled) continue;
                for (int i = 0; i < rows.Count; i++) residual[i] += (next - scaled) * rows[i].Work[c] / scale[c];
                x[c] = next / scale[c];
            }
        return x;
    }

    /// <summary>
    /// A small residual network with the layers image models are made of: a stride-2 stem convolution and max pooling,
    /// 3×3 residual blocks at three widths (BatchNormalization, ReLU, additions, strided 1×1 shortcuts), an inverted
    /// residual block of a mobile network (1×1 expansion, depthwise 3×3, 1×1 projection), global pooling and a classifier.
    /// </summary>
    internal static ComputationGraph Vision()
    {
        var m = new ModelBuilder("cpu-profile-vision");
        var x = m.Input("x", 4, 3, 224, 224);
        var labels = m.Labels("labels", 4);
        var stem = m.Relu(m.BatchNorm(m.Conv2d(x, 64, 7, stride: 2, padding: 3, bias: false)));
        // A wide 3×3 convolution at full resolution, as VGG and U-Net begin.
        stem = m.Relu(m.Conv2d(stem, 64, 3, padding: 1, bias: false));
        var y = m.MaxPool(stem, 3, 2);
        ModelTensor Block(ModelTensor input, long width, int stride)
        {
            var h = m.Relu(m.BatchNorm(m.Conv2d(input, width, 3, stride, padding: 1, bias: false)));
            h = m.BatchNorm(m.Conv2d(h, width, 3, padding: 1, bias: false));
            var shortcut = stride == 1 && input.Shape[1] == width ? input : m.BatchNorm(m.Conv2d(input, width, 1, stride, bias: false));
            return m.Relu(m.Add(h, shortcut));
        }
        y = Block(Block(y, 64, 1), 128, 2);
        // An inverted residual block: expand 1×1, depthwise 3×3 on the wide tensor, project 1×1.
        var expanded = m.Relu(m.BatchNorm(m.Conv2d(y, 192, 1, bias: false)));
        var depthwise = m.Relu(m.BatchNorm(m.Operator("Conv", [expanded, m.Parameter("dw.weight", 192, 1, 3, 3)], new Dictionary<string, object>
        {
            ["kernel_shape"] = new long[] { 3, 3 }, ["pads"] = new long[] { 1, 1, 1, 1 }, ["group"] = 192L,
        })));
        y = m.Add(m.BatchNorm(m.Conv2d(depthwise, 128, 1, bias: false)), y);
        // A downsampling inverted residual block: the depthwise convolution at stride 2.
        var wide = m.Relu(m.BatchNorm(m.Conv2d(y, 384, 1, bias: false)));
        var strided = m.Relu(m.BatchNorm(m.Operator("Conv", [wide, m.Parameter("dw2.weight", 384, 1, 3, 3)], new Dictionary<string, object>
        {
            ["kernel_shape"] = new long[] { 3, 3 }, ["pads"] = new long[] { 1, 1, 1, 1 }, ["strides"] = new long[] { 2, 2 }, ["group"] = 384L,
        })));
        y = m.BatchNorm(m.Conv2d(strided, 128, 1, bias: false));
        y = Block(y, 256, 2);
        var logits = m.Linear(m.Operator("Flatten", [m.GlobalAveragePool(y)]), 10);
        m.CrossEntropy(logits, labels);
        return m.Build();
    }

    /// <summary>
    /// A transformer block's kernels at GPT-2's sizes for one sequence of 128 tokens, written as exporters write them:
    /// weights transposed by Transpose
    /// ops, GEMMs with broadcast bias additions, heads split by Reshape and Transpose, Softmax, GELU, LayerNormalization,
    /// products, and a language-model head with its loss.
    /// </summary>
    internal static ComputationGraph Transformer()
    {
        var m = new ModelBuilder("cpu-profile-transformer");
        var x = m.Input("x", 1, 128, 768);
        var labels = m.Labels("labels", 128);
        var weight = m.Operator("Transpose", [m.Parameter("in.weight_t", 1536, 768)],
            new Dictionary<string, object> { ["perm"] = new long[] { 1, 0 } });
        var projected = m.Operator("MatMul", [x, weight]);
        var biased = m.Operator("Add", [m.Operator("Add", [projected, m.Parameter("in.bias", 1536)]), m.Parameter("in.bias2", 1536)]);
        var heads = m.Operator("Reshape", [biased, m.IntConstant("heads.shape", 1, 128, 12, 128)]);
        var swap = new Dictionary<string, object> { ["perm"] = new long[] { 0, 2, 1, 3 } };
        var scores = m.Operator("Transpose", [heads], swap);
        for (int i = 0; i < 3; i++) scores = m.Operator("Softmax", [scores], new Dictionary<string, object> { ["axis"] = -1L });
        var merged = m.Operator("Reshape", [m.Operator("Transpose", [scores], new Dictionary<string, object>(swap)),
            m.IntConstant("merged.shape", 1, 128, 1536)]);
        var hidden = m.Operator("MatMul", [m.Operator("MatMul", [merged, m.Parameter("mid.weight", 1536, 1536)]), m.Parameter("out.weight",
            1536, 768)]);
        var act = m.Operator("Gelu", [m.Operator("Gelu", [hidden])]);
        var ln = act;
        for (int i = 0; i < 3; i++)
            ln = m.Operator("LayerNormalization", [ln, m.Parameter($"ln{i}.weight", 768), m.Parameter($"ln{i}.bias", 768)],
                new Dictionary<string, object> { ["axis"] = -1L, ["epsilon"] = 1e-5 }, outputCount: 3);
        var product = m.Operator("Mul", [m.Operator("Mul", [ln, act]), ln]);
        // A language-model head: a wide GEMM and the loss over its 4,096 classes for each of the 128 tokens.
        var head = m.Operator("MatMul", [product, m.Parameter("head.weight", 768, 4096)]);
        m.CrossEntropy(m.Operator("Reshape", [head, m.IntConstant("logits.shape", 128, 4096)]), labels);
        return m.Build();
    }

    /// <summary>A chain of ReLUs on eight elements: each costs the fixed price of a kernel and nothing else.</summary>
    internal static ComputationGraph TinyChain()
    {
        var m = new ModelBuilder("cpu-profile-tiny");
        var y = m.Input("x", 1, 8);
        var labels = m.Labels("labels", 1);
        for (int i = 0; i < 40; i++) y = m.Relu(y);
        m.CrossEntropy(y, labels);
        return m.Build();
    }

    private static string ProcessorName() => Processor.Value;

    /// <summary>Read once: every cache key and profile description names the processor.</summary>
    private static readonly Lazy<string> Processor = new(ReadProcessorName);

    private static string ReadProcessorName()
    {
        try
        {
            if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is > 0 and var colon)
                        return line[(colon + 1)..].Trim();
        }
        catch (IOException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static long? PhysicalMemory()
    {
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return total > 0 ? total : null;
    }
}
