using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Benchmarks;

/// <summary>
/// <c>dp-work</c>: calibrates <see cref="DpWork.UnitsPerSecond"/>, the rate that turns <c>auto</c>'s share of the
/// time limit for the exact DP into a work limit. For each paper graph and shipped ONNX graph with at most
/// <see cref="AutoOptions.ExactLowerSetLimit"/> lower sets (and the graphs given with <c>--graphs</c>), the exact DP
/// plans at each fraction of store-all (default 50 %) with an unlimited meter; the table shows the work it counted,
/// the seconds it took, and their ratio. The constant should sit near the lower ratios, so that on this machine a
/// share of the limit rarely costs more than that share.
/// </summary>
public static class DpWorkTable
{
    private static readonly string[] PaperGraphs = ["cg_resnet50.txt", "cg_resnet152.txt", "cg_densenet.txt", "cg_unet.txt",
        "cg_vgg19.txt", "cg_pspnet.txt", "cg_googlenet.txt"];

    public static void Table(QuickTableOptions options)
    {
        var files = options.Graphs?.Select(RepositoryPaths.Graph).ToList()
            ?? PaperGraphs.Select(g => RepositoryPaths.Conformance(Path.Combine("paper-graphs", g)))
                .Concat(AutoTable.Graphs.Select(RepositoryPaths.Graph)).Where(File.Exists).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"reference rate: {DpWork.UnitsPerSecond:0.###e0} units/s"));
        Console.WriteLine("| graph | lower sets | budget | work units | seconds | units/s | seconds at the reference rate |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var file in files)
        {
            var problem = new PlanningProblem(GraphLoader.Load(file));
            long? sets = LowerSetFamily.CountAll(problem.Forward, AutoOptions.Default.ExactLowerSetLimit);
            if (sets is null) continue;
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in options.Fractions ?? [0.5])
            {
                var work = new DpWork(long.MaxValue / 2);
                var clock = Stopwatch.StartNew();
                RecomputePlanner.Plan(problem, SolverName.Dp, new SolverOptions { BudgetBytes = (long)(storeAll * fraction), DpWork = work });
                double seconds = clock.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {Path.GetFileName(file)} | {sets} | {fraction:P0} | {work.Done} | {seconds:0.00} | {work.Done / Math.Max(seconds, 1e-3):0.###e0} | {work.Done / DpWork.UnitsPerSecond:0.00} |"));
            }
        }
    }
}
