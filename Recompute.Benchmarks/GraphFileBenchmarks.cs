using BenchmarkDotNet.Attributes;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;

namespace Recompute.Benchmarks;

/// <summary>
/// Import time of the paper's graphs and the Checkmate/Moccasin graphs (read from <c>../shared/conformance</c>),
/// and the native format's write and read of the same graphs: what <c>recompute inspect|plan</c> pays before
/// planning. Expected: milliseconds per graph (the largest file is 0.4 MB).
/// </summary>
[MemoryDiagnoser]
public class GraphFileBenchmarks
{
    [Params("paper-graphs/cg_googlenet.txt", "paper-graphs/cg_densenet.txt", "checkmate-graphs/ResNet50_256_train.json",
        "checkmate-graphs/random_layered_n1000_w0.31_nlv0.75_ed0.2_scd0.14.json")]
    public string File { get; set; } = "";

    private string _path = "";
    private string _native = "";
    private ComputationGraph _graph = null!;

    [GlobalSetup]
    public void Setup()
    {
        _path = RepositoryPaths.Conformance(File);
        if (!System.IO.File.Exists(_path)) throw new InvalidOperationException($"../shared/conformance/{File} not found");
        _graph = GraphLoader.Load(_path);
        _native = Path.Combine(Path.GetTempPath(), $"recompute-bench-{Guid.NewGuid():N}.json");
        NativeGraphFormat.Save(_graph, _native);
    }

    [GlobalCleanup]
    public void Cleanup() => System.IO.File.Delete(_native);

    [Benchmark(Baseline = true)]
    public ComputationGraph Import() => GraphLoader.Load(_path);

    [Benchmark]
    public string WriteNative() => NativeGraphFormat.ToJson(_graph);

    [Benchmark]
    public ComputationGraph ReadNative() => GraphLoader.Load(_native);
}

/// <summary>
/// Scale (issue 7): a 100,000-node chain in the native format and as Checkmate node-link JSON, loaded end to end
/// (parse, validation, graph build). Target: well under the 30 s budget of the whole import-plan-simulate pipeline.
/// </summary>
[MemoryDiagnoser]
public class LargeGraphImportBenchmarks
{
    private string _native = "";
    private string _nodeLink = "";

    [Params(100_000)]
    public int Nodes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var b = new GraphBuilder("chain");
        int prev = b.Input("x", 4096);
        for (int i = 1; i < Nodes - 1; i++) prev = b.Activation($"a{i}", "Relu", [prev], 4096, 1);
        b.Loss("loss", "Sum", [prev], 4, 1);
        _native = Path.Combine(Path.GetTempPath(), $"recompute-chain-{Guid.NewGuid():N}.json");
        NativeGraphFormat.Save(b.Build(), _native);

        var sb = new System.Text.StringBuilder("{\"directed\": true, \"multigraph\": false, \"graph\": {}, \"nodes\": [");
        for (int i = 0; i < Nodes; i++)
            sb.Append(i == 0 ? "" : ", ").Append("{\"id\": ").Append(i).Append(", \"name\": \"n").Append(i).Append("\", \"backward\": false, \"cost_cpu\": 1, \"cost_ram\": 4096}");
        sb.Append("], \"links\": [");
        for (int i = 1; i < Nodes; i++)
            sb.Append(i == 1 ? "" : ", ").Append("{\"source\": ").Append(i - 1).Append(", \"target\": ").Append(i).Append('}');
        sb.Append("]}");
        _nodeLink = Path.Combine(Path.GetTempPath(), $"recompute-chain-{Guid.NewGuid():N}.json");
        System.IO.File.WriteAllText(_nodeLink, sb.ToString());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        System.IO.File.Delete(_native);
        System.IO.File.Delete(_nodeLink);
    }

    [Benchmark]
    public ComputationGraph NativeChain() => GraphLoader.Load(_native);

    [Benchmark]
    public ComputationGraph NodeLinkChain() => GraphLoader.Load(_nodeLink);
}
