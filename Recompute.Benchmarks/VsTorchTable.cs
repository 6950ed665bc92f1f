using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Kernels;

namespace Recompute.Benchmarks;

/// <summary>
/// The runtime against PyTorch on the same CPU: one store-all training step (forward, backward, Adam at 1e-4) of the
/// same model at the same batch on each side, with 1 and 2 threads. PyTorch runs in a child process
/// (<c>vs_torch.py</c> under <c>/usr/bin/python3</c>, Debian's python3-torch) that takes one step per request, so the
/// two sides alternate step by step and share whatever load the machine carries. Ratio = runtime / PyTorch medians.
/// <c>--ops</c> adds the runtime's per-op split of its median step.
/// </summary>
public static class VsTorchTable
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The Python interpreter with torch (Debian's; the first python3 on PATH may be another).</summary>
    public const string Python = "/usr/bin/python3";

    private sealed record Model(string Name, string TorchName, int Batch, Func<ComputationGraph> Load);

    private static IReadOnlyList<Model> Models() =>
    [
        new("ResNet-18 b8", "resnet18", 8, () => GraphLoader.Load(RepositoryPaths.Graph("resnet18-b32.onnx"), new GraphLoadOptions { Batch = 8 })),
        new("MobileNetV2 b8", "mobilenet_v2", 8, () => GraphLoader.Load(RepositoryPaths.Graph("mobilenetv2-b64.onnx"),
            new GraphLoadOptions { Batch = 8 })),
        new("GPT-2 2 layers, 128 tokens", "gpt2-2l", 1, () => GraphLoader.Load(RepositoryPaths.Graph("gpt2-2l-t128.onnx"))),
    ];

    public static void Table(QuickTableOptions options)
    {
        if (!File.Exists(Python))
        {
            Console.Error.WriteLine($"vs-torch needs {Python} with torch and torchvision (apt-get install python3-torch python3-torchvision libopenblas0-pthread)");
            return;
        }
        var models = Models().Where(m => options.Graphs is null || options.Graphs.Any(g => m.TorchName.StartsWith(g,
            StringComparison.OrdinalIgnoreCase))).ToList();
        using var torch = new TorchPeer(Path.Combine(RepositoryPaths.Root, "Recompute.Benchmarks", "vs_torch.py"));
        Console.WriteLine($"Store-all training step (forward, backward, Adam 1e-4), runtime and PyTorch {torch.Version} alternating step by step; medians after one warm-up step each.");
        Console.WriteLine($"load average at start: {LoadAverage()}");
        Console.WriteLine("| model | threads | runtime s (median) | PyTorch s (median) | runtime / PyTorch | runtime best | PyTorch best | steps |");
        Console.WriteLine("|:--|---:|---:|---:|---:|---:|---:|---:|");
        var profiles = new List<(string Model, int Threads, double Step, IReadOnlyDictionary<string, double> Ops)>();
        int previous = KernelOptions.MaxDegreeOfParallelism;
        try
        {
            foreach (var model in models)
            {
                var graph = model.Load();
                torch.Send($"setup {model.TorchName} {model.Batch}", "ready");
                foreach (int threads in options.Threads)
                {
                    KernelOptions.MaxDegreeOfParallelism = threads;
                    torch.Send($"threads {threads}", "ok");
                    var session = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Adam(1e-4), CheckRecomputation = false });
                    using var batch = TrainingBatch.Synthetic(graph, session.Arena, 1, 1);
                    session.Step(batch);
                    torch.Step();
                    var ours = new List<double>();
                    var theirs = new List<double>();
                    var ops = new List<IReadOnlyDictionary<string, double>>();
                    var clock = Stopwatch.StartNew();
                    do
                    {
                        var t = Stopwatch.StartNew();
                        session.Step(batch);
                        ours.Add(t.Elapsed.TotalSeconds);
                        ops.Add(session.LastExecution!.OpSeconds);
                        theirs.Add(torch.Step());
                    } while (clock.Elapsed.TotalSeconds < options.SecondsPerRow || ours.Count < 3);
                    double mine = Median(ours), peer = Median(theirs);
                    Console.WriteLine(string.Format(Inv, "| {0} | {1} | {2:F3} | {3:F3} | {4:F2} | {5:F3} | {6:F3} | {7} |",
                        model.Name, threads, mine, peer, mine / peer, ours.Min(), theirs.Min(), ours.Count));
                    if (options.Ops)
                    {
                        int at = ours.IndexOf(mine);
                        profiles.Add((model.Name, threads, mine, ops[at]));
                    }
                }
            }
        }
        finally { KernelOptions.MaxDegreeOfParallelism = previous; }
        Console.WriteLine($"load average at end: {LoadAverage()}");
        foreach (var group in profiles.GroupBy(p => p.Model))
            OpTable(group.Key, group.ToList());
    }

    /// <summary>Seconds per op key of the runtime's median step, one column per thread count, with the time outside
    /// the ops (optimizer update, gradient sums, allocation) and the speed-up of the last column over the first.</summary>
    private static void OpTable(string model, List<(string Model, int Threads, double Step, IReadOnlyDictionary<string, double> Ops)> runs)
    {
        Console.WriteLine();
        Console.WriteLine($"{model}: runtime seconds of the median step by op");
        Console.WriteLine("| op | " + string.Join(" | ", runs.Select(r => $"{r.Threads} thread(s)")) + " | first / last |");
        Console.WriteLine("|:--|" + string.Concat(runs.Select(_ => "---:|")) + "---:|");
        var keys = runs.SelectMany(r => r.Ops.Keys).Distinct().OrderByDescending(k => runs[0].Ops.GetValueOrDefault(k)).ToList();
        void Row(string name, Func<(string Model, int Threads, double Step, IReadOnlyDictionary<string, double> Ops), double> of)
        {
            double first = of(runs[0]), last = of(runs[^1]);
            Console.WriteLine(string.Format(Inv, "| {0} | {1} | {2} |", name, string.Join(" | ", runs.Select(r => of(r).ToString("F4", Inv))),
                last > 0 ? (first / last).ToString("F2", Inv) : "-"));
        }
        foreach (var key in keys)
            if (runs.Any(r => r.Ops.GetValueOrDefault(key) >= 5e-4)) Row(key, r => r.Ops.GetValueOrDefault(key));
        Row("outside the ops", r => r.Step - r.Ops.Values.Sum());
        Row("step", r => r.Step);
    }

    /// <summary>
    /// Bytes the runtime allocates on the managed heap per steady-state store-all step (all threads,
    /// <c>GC.GetTotalAllocatedBytes(true)</c>), per model and thread count: a step should allocate next to nothing.
    /// </summary>
    public static void Allocation(QuickTableOptions options)
    {
        var models = Models().Where(m => options.Graphs is null || options.Graphs.Any(g => m.TorchName.StartsWith(g,
            StringComparison.OrdinalIgnoreCase))).ToList();
        Console.WriteLine("| model | threads | bytes allocated per step | steps |");
        Console.WriteLine("|:--|---:|---:|---:|");
        int previous = KernelOptions.MaxDegreeOfParallelism;
        try
        {
            foreach (var model in models)
            {
                var graph = model.Load();
                foreach (int threads in options.Threads)
                {
                    KernelOptions.MaxDegreeOfParallelism = threads;
                    var session = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Adam(1e-4), CheckRecomputation = false });
                    using var batch = TrainingBatch.Synthetic(graph, session.Arena, 1, 1);
                    for (int i = 0; i < 2; i++) session.Step(batch);
                    const int steps = 3;
                    long before = GC.GetTotalAllocatedBytes(true);
                    for (int i = 0; i < steps; i++) session.Step(batch);
                    long perStep = (GC.GetTotalAllocatedBytes(true) - before) / steps;
                    Console.WriteLine(string.Format(Inv, "| {0} | {1} | {2:N0} | {3} |", model.Name, threads, perStep, steps));
                    if (options.Ops)
                    {
                        using var listener = new AllocationSampler();
                        for (int i = 0; i < 40; i++) session.Step(batch);
                        Console.WriteLine("  sampled allocations (about one per 100 kB): " + string.Join(", ",
                            listener.Types.OrderByDescending(kv => kv.Value).Take(15).Select(kv => $"{kv.Key} {kv.Value}")));
                    }
                }
            }
        }
        finally { KernelOptions.MaxDegreeOfParallelism = previous; }
    }

    /// <summary>The runtime's allocation-tick events (one per about 100 kB allocated), counted by type.</summary>
    private sealed class AllocationSampler : System.Diagnostics.Tracing.EventListener
    {
        public System.Collections.Concurrent.ConcurrentDictionary<string, int> Types { get; } = new();

        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
                EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1);
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
        {
            if (e.EventName != "GCAllocationTick_V4" || e.Payload is null) return;
            int at = e.PayloadNames!.IndexOf("TypeName");
            if (at >= 0) Types.AddOrUpdate(e.Payload[at]?.ToString() ?? "?", 1, (_, c) => c + 1);
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>The PyTorch child process, driven one command per line.</summary>
    private sealed class TorchPeer : IDisposable
    {
        private readonly Process _process;

        public TorchPeer(string script)
        {
            var start = new ProcessStartInfo(Python, $"\"{script}\"")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false,
            };
            // One thread pool per side: PyTorch's OpenMP threads follow set_num_threads, not the environment.
            start.Environment["OMP_NUM_THREADS"] = "1";
            _process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Python}");
            Version = Send("version", null);
        }

        public string Version { get; }

        public double Step() => double.Parse(Send("step", null), Inv);

        public string Send(string command, string? expected)
        {
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
            string reply = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"PyTorch exited on '{command}'");
            if (reply.StartsWith("error", StringComparison.Ordinal) || (expected is not null && reply != expected))
                throw new InvalidOperationException($"PyTorch answered '{reply}' to '{command}'");
            return reply;
        }

        public void Dispose()
        {
            try
            {
                _process.StandardInput.WriteLine("quit");
                _process.StandardInput.Flush();
                if (!_process.WaitForExit(10_000)) _process.Kill();
            }
            catch (IOException) { }
            _process.Dispose();
        }
    }
}
