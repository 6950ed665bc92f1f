using BenchmarkDotNet.Running;

namespace Recompute.Benchmarks;

/// <summary>Runs the benchmarks chosen on the command line (<c>--filter *Onnx*</c>, <c>--list flat</c>, ...).</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
