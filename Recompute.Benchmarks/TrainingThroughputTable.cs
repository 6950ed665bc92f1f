using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Kernels;

namespace Recompute.Benchmarks;

/// <summary>
/// Training throughput on the CPU runtime: store-all forward + backward + Adam update of ResNet-18 at batch 8 and of
/// the 2-layer GPT-2, with 1 and 2 kernel threads. GFLOP/s counts the cost model's forward and backward FLOPs of a
/// step (the planner's figures), so it sits beside the kernels' GFLOP/s (<c>gemm</c>, <c>conv</c> tables): when a
/// kernel regresses, this table shows what a training step loses.
/// </summary>
public static class TrainingThroughputTable
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Table(QuickTableOptions options)
    {
        string gptOnnx = RepositoryPaths.Graph("gpt2-2l-t128.onnx");
        var models = new (string Name, Func<Recompute.Planner.Graph.ComputationGraph> Load, int Samples)[]
        {
            ("ResNet-18 b8 (resnet18-b32.onnx --batch 8)", () => GraphLoader.Load(RepositoryPaths.Graph("resnet18-b32.onnx"),
                new GraphLoadOptions { Batch = 8 }), 8),
            (File.Exists(gptOnnx) ? "GPT-2 2 layers, 128 tokens (gpt2-2l-t128.onnx)" : "GPT-2 2 layers, 128 tokens (gpt2-2l-t128.json)",
                () => GraphLoader.Load(File.Exists(gptOnnx) ? gptOnnx : RepositoryPaths.Graph("gpt2-2l-t128.json")), 1),
        };
        Console.WriteLine("Store-all training steps (forward, backward, Adam update), best of the timed steps after one warm-up step.");
        Console.WriteLine("CPU s: the process's CPU time of the best step (all threads; on a loaded machine the one-thread figure is the work, the wall clock is not).");
        Console.WriteLine("| model | threads | step s (best) | step s (median) | CPU s (best) | samples/s | GFLOP per step (fwd+bwd) | GFLOP/s (wall) | GFLOP/s (CPU) |");
        Console.WriteLine("|:--|---:|---:|---:|---:|---:|---:|---:|---:|");
        int previous = KernelOptions.MaxDegreeOfParallelism;
        try
        {
            foreach (var (name, load, samples) in models)
            {
                var graph = load();
                foreach (int threads in options.Threads)
                {
                    KernelOptions.MaxDegreeOfParallelism = threads;
                    var session = TrainingSession.Create(graph, new TrainingOptions { Optimizer = new Adam(1e-4), CheckRecomputation = false });
                    double flops = session.Simulation.ForwardTime + session.Simulation.BackwardTime;
                    session.Step(); // warm-up: first-touch allocation, JIT
                    var times = new List<double>();
                    var cpu = new List<double>();
                    using var process = Process.GetCurrentProcess();
                    var clock = Stopwatch.StartNew();
                    do
                    {
                        process.Refresh();
                        var c0 = process.TotalProcessorTime;
                        var t = Stopwatch.StartNew();
                        session.Step();
                        times.Add(t.Elapsed.TotalSeconds);
                        process.Refresh();
                        cpu.Add((process.TotalProcessorTime - c0).TotalSeconds);
                    } while (clock.Elapsed.TotalSeconds < options.SecondsPerRow || times.Count < 3);
                    double best = times.Min(), bestCpu = cpu.Min();
                    times.Sort();
                    double median = times[times.Count / 2];
                    Console.WriteLine(string.Format(Inv, "| {0} | {1} | {2:F3} | {3:F3} | {4:F3} | {5:F2} | {6:F2} | {7:F1} | {8:F1} |",
                        name, threads, best, median, bestCpu, samples / best, flops / 1e9, flops / best / 1e9, flops / bestCpu / 1e9));
                }
            }
        }
        finally { KernelOptions.MaxDegreeOfParallelism = previous; }
    }
}
