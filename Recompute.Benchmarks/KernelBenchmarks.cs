using BenchmarkDotNet.Attributes;
using Recompute.Runtime.Kernels;

namespace Recompute.Benchmarks;

/// <summary>GEMM throughput (BenchmarkDotNet). 1024³ on one thread is the project's headline kernel figure.</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private float[] a = [], b = [], c = [];

    [Params(256, 1024)]
    public int Size { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        a = KernelTables.Fill(Size * Size, 1);
        b = KernelTables.Fill(Size * Size, 2);
        c = new float[Size * Size];
    }

    [Benchmark]
    public void Packed() => Gemm.Multiply(a, b, c, Size, Size, Size, false, false, 1f, 0f, Threads);
}

/// <summary>Convolution passes on ResNet-50 layer shapes (batch 1).</summary>
[MemoryDiagnoser]
public class ConvBenchmarks
{
    private Conv2dShape shape;
    private float[] x = [], w = [], y = [], gx = [], gw = [];

    [Params("3x3 64->64 @56", "1x1 256->64 @56", "3x3 512->512 @7", "7x7/2 3->64 @224")]
    public string Layer { get; set; } = "3x3 64->64 @56";

    [GlobalSetup]
    public void Setup()
    {
        shape = Layer switch
        {
            "3x3 64->64 @56" => Conv2dShape.Square(1, 64, 56, 64, 3, pad: 1),
            "1x1 256->64 @56" => Conv2dShape.Square(1, 256, 56, 64, 1),
            "3x3 512->512 @7" => Conv2dShape.Square(1, 512, 7, 512, 3, pad: 1),
            _ => Conv2dShape.Square(1, 3, 224, 64, 7, stride: 2, pad: 3),
        };
        x = KernelTables.Fill((int)shape.InputLength, 1);
        w = KernelTables.Fill((int)shape.WeightLength, 2);
        y = new float[shape.OutputLength];
        gx = new float[shape.InputLength];
        gw = new float[shape.WeightLength];
    }

    [Benchmark]
    public void Forward() => Conv2d.Forward(shape, x, w, ReadOnlySpan<float>.Empty, y);

    [Benchmark]
    public void BackwardData() => Conv2d.BackwardData(shape, y, w, gx);

    [Benchmark]
    public void BackwardWeights() => Conv2d.BackwardWeights(shape, x, y, gw, Span<float>.Empty);
}
