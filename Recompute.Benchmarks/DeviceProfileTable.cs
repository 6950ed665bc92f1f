using System.Globalization;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Runtime.Execution;

namespace Recompute.Benchmarks;

/// <summary>
/// The <c>cpu</c> device profile's predictions against <c>calibrate</c>'s measurements:
/// <c>dotnet run -c Release --project Recompute.Benchmarks -- device-profile [--graphs a.onnx,b.onnx]</c>.
/// <para>
/// Measures the profile (its micro-benchmarks), then for each graph predicts every planned tensor's forward and
/// backward seconds with it and measures them (median of 5 store-all steps). Per op type: the predicted and measured
/// forward seconds summed, and the median over tensors of predicted / measured; per graph: forward, backward and the
/// store-all step, predicted against measured. The worst op type is the one whose summed forward is furthest off.
/// </para>
/// </summary>
public static class DeviceProfileTable
{
    private static readonly string[] DefaultGraphs = ["resnet18-b32.onnx:8", "gpt2-2l-t128.onnx", "mobilenetv2-b64.onnx:8"];

    public static void Table(QuickTableOptions options)
    {
        Console.WriteLine($"Load average at start: {OverheadTable.LoadAverage()}; kernel threads {(options.Threads is [var n] ? n : Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism)}");
        // On a busy machine: --threads 1 measures with the thread's CPU time, which other processes do not inflate.
        var clock = options.Threads is [1] ? ExecutionClock.ThreadCpu : ExecutionClock.WallClock;
        int threads = Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism;
        if (options.Threads is [var t]) Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = t;
        try { Rows(options, clock); }
        finally { Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = threads; }
    }

    private static void Rows(QuickTableOptions options, ExecutionClock clock)
    {
        if (Environment.GetEnvironmentVariable("RECOMPUTE_DEBUG_MICRO") is "1")
            foreach (var g in new[] { CpuProfile.Vision(), CpuProfile.Transformer() })
            {
                var r = Calibration.Measure(g, new CalibrationOptions { Repeat = 5, WarmUp = 1, Clock = clock });
                var fl = g.Nodes.Select(n => n.Time).ToArray();
                foreach (var n in g.Nodes.Where(n => n.IsPlanned))
                {
                    var w = OpCosts.Forward(g, n, n.Time);
                    var bw = OpCosts.Backward(g, n, fl).ToArray();
                    Console.WriteLine($"{n.Name,-28} {n.Op,-20} {w.Class,-14} fwd {r.ForwardSeconds[n.Id] * 1e3,8:0.000} ms {w.Flops / 1e9,8:0.000} GF {w.Bytes / 1e6,8:0.0} MB | bwd {r.BackwardSeconds[n.Id] * 1e3,8:0.000} ms {string.Join(",", bw.Select(x => $"{x.Class}:{x.Flops / 1e9:0.00}GF/{x.Bytes / 1e6:0.0}MB"))}");
                }
            }
        var profile = CpuProfile.Measure(clock);
        Console.WriteLine($"cpu profile measured: fixed cost {profile.FixedSecondsPerOp * 1e6:0.0} µs per kernel");
        Console.WriteLine();
        foreach (var spec in options.Graphs ?? DefaultGraphs)
        {
            var parts = spec.Split(':');
            int? batch = parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : null;
            var graph = GraphLoader.Load(RepositoryPaths.Graph(parts[0]), new GraphLoadOptions { Batch = batch });
            var predicted = profile.Apply(graph);
            var measured = Calibration.Measure(graph, new CalibrationOptions { Repeat = 5, WarmUp = 1, Clock = clock });
            Console.WriteLine($"### {graph.Name}{(batch is { } b ? $", batch {b}" : "")}");
            Console.WriteLine();
            Console.WriteLine("| op | tensors | forward predicted (s) | forward measured (s) | ratio of sums | median ratio |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|");
            string worst = ""; double worstOff = 0;
            foreach (var group in graph.Nodes.Where(n => n.IsPlanned
                && measured.ForwardSeconds[n.Id] > 0).GroupBy(n => n.Op).OrderByDescending(g => g.Sum(n => measured.ForwardSeconds[n.Id])))
            {
                double p = group.Sum(n => predicted[n.Id].Time), m = group.Sum(n => measured.ForwardSeconds[n.Id]);
                double median = Calibration.Median(group.Select(n => predicted[n.Id].Time / measured.ForwardSeconds[n.Id]).ToArray());
                double off = Math.Abs(Math.Log(Math.Max(p, 1e-12) / m));
                if (m > 0.01 * measured.TotalForwardSeconds && off > worstOff) { worstOff = off; worst = group.Key; }
                Console.WriteLine($"| {group.Key} | {group.Count()} | {p:0.0000} | {m:0.0000} | {p / m:0.00} | {median:0.00} |");
            }
            // Backward tasks by the kind of kernel that takes most of their predicted time.
            Console.WriteLine();
            Console.WriteLine("| backward tasks by main kernel | tasks | predicted (s) | measured (s) | ratio |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            var flops = graph.Nodes.Select(n => n.Time).ToArray();
            var needsGradient = OpCosts.NeedsGradient(graph);
            var byClass = graph.Nodes.Where(n => n.IsPlanned && measured.BackwardSeconds[n.Id] > 0)
                .Select(n => (Node: n, Works: OpCosts.Backward(graph, n, flops, needsGradient).ToArray()))
                .Where(t => t.Works.Length > 0)
                .GroupBy(t => t.Works.OrderByDescending(w => profile.Seconds(w, t.Node.DType, true)).First().Class);
            foreach (var group in byClass.OrderByDescending(g => g.Sum(t => measured.BackwardSeconds[t.Node.Id])))
            {
                double p = group.Sum(t => predicted[t.Node.Id].BackwardTime), m = group.Sum(t => measured.BackwardSeconds[t.Node.Id]);
                Console.WriteLine($"| {DeviceProfileFile.ClassName(group.Key)} | {group.Count()} | {p:0.0000} | {m:0.0000} | {p / m:0.00} |");
            }
            double pf = predicted.Nodes.Where(n => n.IsPlanned).Sum(n => n.Time), pb = predicted.Nodes.Where(n => n.IsPlanned).Sum(n => n.BackwardTime);
            Console.WriteLine();
            Console.WriteLine($"forward {pf:0.000} s predicted / {measured.TotalForwardSeconds:0.000} s measured ({pf / measured.TotalForwardSeconds:0.00}); " +
                $"backward {pb:0.000} / {measured.TotalBackwardSeconds:0.000} ({pb / measured.TotalBackwardSeconds:0.00}); " +
                $"store-all step {pf + pb:0.000} / {measured.StepSeconds:0.000} ({(pf + pb) / measured.StepSeconds:0.00}); worst op type (≥ 1 % of the forward): {worst} ({Math.Exp(worstOff):0.00}× off)");
            Console.WriteLine();
        }
        Console.WriteLine($"Load average at end: {OverheadTable.LoadAverage()}");
    }
}
