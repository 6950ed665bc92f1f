using BenchmarkDotNet.Attributes;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;

namespace Recompute.Benchmarks;

/// <summary>
/// Import time of each sample ONNX graph (parse, shape inference, costs, graph build): what <c>recompute inspect</c>
/// pays before printing. Target: under 2 s per graph (the issue's limit for inspect), in practice a few ms.
/// </summary>
[MemoryDiagnoser]
public class OnnxImportBenchmarks
{
    [Params("resnet18-b32", "resnet50-b64", "vgg16-b32", "mobilenetv2-b64", "unet-b8-256", "gpt2-124m-b8-t1024")]
    public string Model { get; set; } = "";

    [Params("", "-noshapes")]
    public string Form { get; set; } = "";

    private string _path = "";

    [GlobalSetup]
    public void Setup() => _path = GraphPath(Model + Form);

    private static string GraphPath(string name) => RepositoryPaths.Graph(name + ".onnx");

    /// <summary>
    /// Quick table (<c>dotnet run -c Release --project Recompute.Benchmarks -- onnx-import</c>): per sample graph, the
    /// first import in the process (includes JIT) and the best of repeated imports, in milliseconds.
    /// </summary>
    public static void Table(QuickTableOptions options)
    {
        Console.WriteLine($"{"graph",-32} {"tensors",8} {"first ms",9} {"best ms",8}");
        foreach (var model in new[] { "resnet18-b32", "resnet50-b64", "vgg16-b32", "mobilenetv2-b64", "unet-b8-256", "gpt2-124m-b8-t1024" })
            foreach (var form in new[] { "", "-noshapes" })
            {
                string path = GraphPath(model + form);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var graph = GraphLoader.Load(path);
                double first = clock.Elapsed.TotalMilliseconds;
                double best = QuickTimer.Best(() => GraphLoader.Load(path), options.SecondsPerRow) * 1e3;
                Console.WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture, "{0,-32} {1,8} {2,9:F1} {3,8:F1}",
                    model + form, graph.Count, first, best));
            }
    }

    [Benchmark]
    public ComputationGraph Import() => GraphLoader.Load(_path);

    [Benchmark]
    public TrainingGraph ImportAndDeriveTrainingGraph() => TrainingGraph.Derive(GraphLoader.Load(_path));
}
