using BenchmarkDotNet.Attributes;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;

namespace Recompute.Benchmarks;

/// <summary>
/// Import time of each sample ONNX graph (parse, shape inference, costs, graph build): what <c>recompute inspect</c>
/// pays before printing. Target: under 2 s per graph (the limit for inspect), in practice a few ms.
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
    public void Setup()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Recompute.sln"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("run the benchmarks from inside the repository (Recompute.sln not found)");
        _path = Path.Combine(dir.FullName, "graphs", Model + Form + ".onnx");
    }

    [Benchmark]
    public ComputationGraph Import() => GraphLoader.Load(_path);

    [Benchmark]
    public TrainingGraph ImportAndDeriveTrainingGraph() => TrainingGraph.Derive(GraphLoader.Load(_path));
}
