using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Recompute.Planner.Import;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;
using Recompute.Plots;

namespace Recompute.Benchmarks;

/// <summary>
/// Wall time of <c>recompute report &lt;graph&gt; --solvers dp-approx,chen</c> (25 budgets): import, sweep (every plan
/// lowered and simulated), plots, tables and page. Targets (issue 6): resnet50-b64 under 10 s, gpt2-124m under 30 s.
/// Few iterations: one report is seconds long.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class ReportBenchmarks
{
    [Params("resnet50-b64", "gpt2-124m-b8-t1024")]
    public string Model { get; set; } = "";

    private string _path = "";
    private string _output = "";

    [GlobalSetup]
    public void Setup()
    {
        _path = RepositoryPaths.Graph(Model + ".onnx");
        _output = Path.Combine(Path.GetTempPath(), "recompute-report-bench-" + Model);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (Directory.Exists(_output)) Directory.Delete(_output, recursive: true);
    }

    [Benchmark]
    public int Report()
    {
        var graph = GraphLoader.Load(_path);
        var report = BudgetSweep.Run(new PlanningProblem(graph), new SweepOptions { Solvers = [SolverName.DpApprox, SolverName.Chen] });
        return ReportFiles.WriteAll(report, graph, _output).Count;
    }
}
