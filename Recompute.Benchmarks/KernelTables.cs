using System.Globalization;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Recompute.Runtime.Kernels;

namespace Recompute.Benchmarks;

/// <summary>Quick GFLOP/s tables for the GEMM and convolution kernels (best of several runs).</summary>
public static class KernelTables
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Square GEMMs and a few rectangular ones, for each requested thread count.</summary>
    public static void Gemm(QuickTableOptions options)
    {
        Console.WriteLine($"GEMM float32, kernel {PackedGemm.BestKernel}, blocking {PackedGemm.BlockingFor(PackedGemm.BestKernel)}");
        Console.WriteLine("| m | n | k | op | threads | wall ms | GFLOP/s (wall) | GFLOP/s (thread CPU time) |");
        Console.WriteLine("|---:|---:|---:|:--|---:|---:|---:|---:|");
        var shapes = new (int M, int N, int K, bool TA, bool TB)[]
        {
            (256, 256, 256, false, false), (512, 512, 512, false, false), (1024, 1024, 1024, false, false),
            (1024, 1024, 1024, true, false), (1024, 1024, 1024, false, true), (2048, 2048, 2048, false, false),
            (64, 3136, 576, false, false), (512, 49, 4608, false, false),
        };
        foreach (var (m, n, k, ta, tb) in shapes)
        {
            float[] a = Fill(m * k, 1), b = Fill(k * n, 2), c = new float[m * n];
            foreach (int threads in options.Threads)
            {
                Action run = () => Runtime.Kernels.Gemm.Multiply(a, b, c, m, n, k, ta, tb, 1f, 0f, threads);
                double seconds = QuickTimer.Best(run, options.SecondsPerRow);
                double cpu = threads == 1 ? QuickTimer.BestCpu(run, options.SecondsPerRow) : double.NaN;
                string op = (ta ? "Aᵀ" : "A") + (tb ? "Bᵀ" : "B");
                double flops = 2.0 * m * n * k;
                Console.WriteLine(string.Format(Inv, "| {0} | {1} | {2} | {3} | {4} | {5:F2} | {6:F1} | {7} |",
                    m, n, k, op, threads, seconds * 1e3, flops / seconds / 1e9,
                    double.IsNaN(cpu) ? "" : (flops / cpu / 1e9).ToString("F1", Inv)));
            }
        }
    }

    /// <summary>A GEMM (RECOMPUTE_GEMM_SHAPE="m,n,k", default 1024³) under the Vector512 blockings listed in
    /// RECOMPUTE_GEMM_BLOCKINGS ("MR,NR,MC,KC,NC;..."), for tuning the defaults.</summary>
    public static void GemmTune(QuickTableOptions options)
    {
        string spec = Environment.GetEnvironmentVariable("RECOMPUTE_GEMM_BLOCKINGS") ?? "8,32,128,256,3072";
        int[] dims = (Environment.GetEnvironmentVariable("RECOMPUTE_GEMM_SHAPE") ?? "1024,1024,1024")
            .Split(',').Select(s => int.Parse(s, Inv)).ToArray();
        int m = dims[0], n = dims[1], k = dims[2];
        float[] a = Fill(m * k, 1), b = Fill(k * n, 2), c = new float[m * n];
        Console.WriteLine($"m={m} n={n} k={k}");
        Console.WriteLine("| blocking | op | threads | GFLOP/s (wall) | GFLOP/s (CPU time) |");
        Console.WriteLine("|:--|:--|---:|---:|---:|");
        foreach (string item in spec.Split(';'))
        {
            int[] v = item.Split(',').Select(s => int.Parse(s, Inv)).ToArray();
            var blocking = new GemmBlocking(v[0], v[1], v[2], v[3], v[4]);
            foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true) })
                foreach (int threads in options.Threads)
                {
                    Action run = () => PackedGemm.Multiply(GemmKernelKind.Vector512, a, b, c, m, n, k, ta, tb, 1f, 0f,
                        threads, blocking);
                    double seconds = QuickTimer.Best(run, options.SecondsPerRow);
                    double cpu = threads == 1 ? QuickTimer.BestCpu(run, options.SecondsPerRow) : double.NaN;
                    Console.WriteLine(string.Format(Inv, "| {0} | {1}{2} | {3} | {4:F1} | {5:F1} |", item, ta ? "Aᵀ" : "A",
                        tb ? "Bᵀ" : "B", threads, 2.0 * m * n * k / seconds / 1e9, 2.0 * m * n * k / cpu / 1e9));
                }
        }
    }

    /// <summary>ResNet-50 convolution layers (batch 1): forward, data gradient and weight gradient.</summary>
    public static void Conv(QuickTableOptions options)
    {
        var layers = new (string Name, Conv2dShape Shape)[]
        {
            ("conv1 7x7/2 3->64 @224", Conv2dShape.Square(1, 3, 224, 64, 7, stride: 2, pad: 3)),
            ("3x3 64->64 @56", Conv2dShape.Square(1, 64, 56, 64, 3, pad: 1)),
            ("1x1 256->64 @56", Conv2dShape.Square(1, 256, 56, 64, 1)),
            ("1x1 64->256 @56", Conv2dShape.Square(1, 64, 56, 256, 1)),
            ("3x3/2 128->128 @56", Conv2dShape.Square(1, 128, 56, 128, 3, stride: 2, pad: 1)),
            ("3x3 256->256 @14", Conv2dShape.Square(1, 256, 14, 256, 3, pad: 1)),
            ("3x3 512->512 @7", Conv2dShape.Square(1, 512, 7, 512, 3, pad: 1)),
            ("depthwise 3x3 256 @28", Conv2dShape.Square(1, 256, 28, 256, 3, pad: 1, groups: 256)),
            ("batch 4: depthwise 3x3 192 @28", Conv2dShape.Square(4, 192, 28, 192, 3, pad: 1, groups: 192)),
            ("batch 4: depthwise 3x3/2 144 @56", Conv2dShape.Square(4, 144, 56, 144, 3, stride: 2, pad: 1, groups: 144)),
            ("batch 4: 3x3 64->64 @56", Conv2dShape.Square(4, 64, 56, 64, 3, pad: 1)),
            ("batch 4: 3x3 512->512 @7", Conv2dShape.Square(4, 512, 7, 512, 3, pad: 1)),
            // ResNet-18's layers at batch 8 (--graphs b8), as vs-torch trains it.
            ("b8 conv1 7x7/2 3->64 @224", Conv2dShape.Square(8, 3, 224, 64, 7, stride: 2, pad: 3)),
            ("b8 3x3 64->64 @56", Conv2dShape.Square(8, 64, 56, 64, 3, pad: 1)),
            ("b8 3x3/2 64->128 @56", Conv2dShape.Square(8, 64, 56, 128, 3, stride: 2, pad: 1)),
            ("b8 3x3 128->128 @28", Conv2dShape.Square(8, 128, 28, 128, 3, pad: 1)),
            ("b8 3x3 256->256 @14", Conv2dShape.Square(8, 256, 14, 256, 3, pad: 1)),
            ("b8 3x3 512->512 @7", Conv2dShape.Square(8, 512, 7, 512, 3, pad: 1)),
        };
        Console.WriteLine($"Conv2d float32 NCHW, batch 1 unless stated, GEMM kernel {PackedGemm.BestKernel}");
        Console.WriteLine("| layer | threads | clock | fwd ms | fwd GFLOP/s | bwd-data GFLOP/s | bwd-weight GFLOP/s |");
        Console.WriteLine("|:--|---:|:--|---:|---:|---:|---:|");
        int saved = KernelOptions.MaxDegreeOfParallelism;
        try
        {
            foreach (var (name, s) in layers.Where(l => options.Graphs is null || options.Graphs.Any(g => l.Name.Contains(g,
                StringComparison.OrdinalIgnoreCase))))
            {
                float[] x = Fill((int)s.InputLength, 1), w = Fill((int)s.WeightLength, 2);
                float[] y = new float[s.OutputLength], gx = new float[s.InputLength], gw = new float[s.WeightLength];
                float[] bias = Fill(s.OutChannels, 3), gb = new float[s.OutChannels];
                double flops = 2.0 * s.MultiplyAdds;
                foreach (int threads in options.Threads)
                {
                    KernelOptions.MaxDegreeOfParallelism = threads;
                    // One thread: thread CPU time (robust on a shared machine); more threads: wall clock.
                    Func<Action, double, double> time = threads == 1 ? QuickTimer.BestCpu : QuickTimer.Best;
                    double fwd = time(() => Conv2d.Forward(s, x, w, bias, y), options.SecondsPerRow);
                    double bwdData = time(() => Conv2d.BackwardData(s, y, w, gx), options.SecondsPerRow);
                    double bwdWeight = time(() => Conv2d.BackwardWeights(s, x, y, gw, gb), options.SecondsPerRow);
                    Console.WriteLine(string.Format(Inv, "| {0} | {1} | {2} | {3:F2} | {4:F1} | {5:F1} | {6:F1} |",
                        name, threads, threads == 1 ? "CPU" : "wall", fwd * 1e3, flops / fwd / 1e9, flops / bwdData / 1e9,
                        flops / bwdWeight / 1e9));
                }
            }
        }
        finally
        {
            KernelOptions.MaxDegreeOfParallelism = saved;
        }
    }

    /// <summary>Measures the core's FMA throughput with independent register accumulators (the GEMM ceiling).</summary>
    public static void Peak(QuickTableOptions options)
    {
        if (!Avx512F.IsSupported)
        {
            Console.WriteLine("AVX-512F not supported; no peak measurement.");
            return;
        }
        const int iterations = 20_000_000;
        double seconds = QuickTimer.Best(() => FmaLoop(iterations), options.SecondsPerRow);
        double cpu = QuickTimer.BestCpu(() => FmaLoop(iterations), options.SecondsPerRow);
        double flops = 2.0 * 16 * 12 * iterations;
        Console.WriteLine(string.Format(Inv,
            "AVX-512 FMA peak, one thread: {0:F1} GFLOP/s by wall clock, {1:F1} GFLOP/s by thread CPU time ({2:F2} 512-bit FMA per CPU ns)",
            flops / seconds / 1e9, flops / cpu / 1e9, 12.0 * iterations / cpu / 1e9));
    }

    private static float FmaLoop(int iterations)
    {
        var x = Vector512.Create(1.0000001f);
        var y = Vector512.Create(0.9999999f);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default;
        Vector512<float> a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(x, y, a0); a1 = Avx512F.FusedMultiplyAdd(x, y, a1);
            a2 = Avx512F.FusedMultiplyAdd(x, y, a2); a3 = Avx512F.FusedMultiplyAdd(x, y, a3);
            a4 = Avx512F.FusedMultiplyAdd(x, y, a4); a5 = Avx512F.FusedMultiplyAdd(x, y, a5);
            a6 = Avx512F.FusedMultiplyAdd(x, y, a6); a7 = Avx512F.FusedMultiplyAdd(x, y, a7);
            a8 = Avx512F.FusedMultiplyAdd(x, y, a8); a9 = Avx512F.FusedMultiplyAdd(x, y, a9);
            a10 = Avx512F.FusedMultiplyAdd(x, y, a10); a11 = Avx512F.FusedMultiplyAdd(x, y, a11);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    internal static float[] Fill(int length, int seed)
    {
        var rng = new Random(seed);
        var data = new float[length];
        for (int i = 0; i < length; i++) data[i] = (float)(rng.NextDouble() - 0.5);
        return data;
    }
}
