using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Benchmarks;

/// <summary>The MaxPool op (forward, and backward from its input) on ResNet's stem pooling at batch 8 and 1: best of
/// the runs within the row's seconds, for each thread count.</summary>
public static class PoolTable
{
    public static void Table(QuickTableOptions options)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine("MaxPool 3x3/2 pad 1 (ResNet's stem), float32 NCHW, the runtime's op; best of the runs");
        Console.WriteLine("| input | threads | forward ms | backward ms |");
        Console.WriteLine("|:--|---:|---:|---:|");
        int saved = KernelOptions.MaxDegreeOfParallelism;
        try
        {
            foreach (int batch in new[] { 8, 1 })
                foreach (int threads in options.Threads)
                {
                    KernelOptions.MaxDegreeOfParallelism = threads;
                    var (forward, backward) = Time(batch, 64, 112, options.SecondsPerRow);
                    Console.WriteLine(string.Format(inv, "| {0}x64x112x112 | {1} | {2:F2} | {3:F2} |", batch, threads, forward * 1e3, backward * 1e3));
                }
        }
        finally
        {
            KernelOptions.MaxDegreeOfParallelism = saved;
        }
    }

    private static (double Forward, double Backward) Time(int batch, int channels, int size, double seconds)
    {
        int outSize = (size + 2 - 3) / 2 + 1;
        long[] xs = [batch, channels, size, size], ys = [batch, channels, outSize, outSize];
        var b = new GraphBuilder("pool");
        int input = b.Add(new NodeSpec("x", "Input", NodeKind.Input) { Shape = xs, Bytes = 4 * xs.Aggregate(1L, (p, d) => p * d) });
        b.Add(new NodeSpec("y", "MaxPool", NodeKind.Loss)
        {
            Inputs = [input], Shape = ys, Bytes = 4 * ys.Aggregate(1L, (p, d) => p * d),
            Attributes = new Dictionary<string, object>
            {
                ["kernel_shape"] = new long[] { 3, 3 }, ["strides"] = new long[] { 2, 2 }, ["pads"] = new long[] { 1, 1, 1, 1 },
            },
        });
        var graph = b.Build();
        var node = graph.Find("y");
        var op = OperatorRegistry.For(graph, node);
        var arena = new Arena();
        int[] xShape = xs.Select(d => (int)d).ToArray(), yShape = ys.Select(d => (int)d).ToArray();
        var x = arena.Allocate(MemoryCategory.Parameter, xShape);
        var random = new Random(1);
        for (int i = 0; i < x.Span.Length; i++) x.Span[i] = (float)random.NextDouble();
        var y = arena.Allocate(MemoryCategory.Activation, yShape);
        var call = new OpCall(node, [x], [xShape], yShape, arena, 1, y);
        var gy = new float[y.Span.Length];
        var gx = new float[x.Span.Length];
        return (QuickTimer.Best(() => op.Forward(call, y), seconds), QuickTimer.Best(() => op.Backward(call, gy, 0, gx), seconds));
    }
}
