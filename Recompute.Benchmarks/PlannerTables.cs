using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Benchmarks;

/// <summary>
/// Planner speed and quality on the paper's graphs and Checkmate's random layered graphs (issue 2):
/// smallest budgets (paper model), the time-centric exact DP's overhead at 1.25× and 2× the exact minimum, and
/// solve times. <c>dotnet run -c Release --project Recompute.Benchmarks -- planner</c>.
/// </summary>
public static class PlannerTables
{
    private static string Conformance => RepositoryPaths.Conformance("");

    public static void Paper(QuickTableOptions options)
    {
        Console.WriteLine("| graph | dp-approx min (GB) | s | dp min (GB) | s | overhead @1.25×: dp-approx / dp (paper model) / `plan --solver dp` (simulated) | dp s | plan s | overhead @2×: dp-approx / dp / plan | dp s | plan s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var name in new[] { "vgg19", "unet", "resnet50", "resnet152", "densenet", "googlenet", "pspnet" })
        {
            var path = Path.Combine(Conformance, "paper-graphs", $"cg_{name}.txt");
            if (!File.Exists(path)) { Console.WriteLine($"| {name} | missing: {path} |"); continue; }
            var problem = new PlanningProblem(GraphLoader.Load(path));
            var cells = new List<string> { name };
            var (approx, ta) = Time(() => new DpApproxSolver().MinimumBudget(problem, new SolverOptions())!.Value.Budget);
            cells.Add(Gb(approx)); cells.Add(S(ta));
            long? exactMin = null;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(options.SecondsPerRow * 120));
                var (exact, te) = Time(() => new DpSolver().MinimumBudget(problem, new SolverOptions { Threads = options.Threads.Max() },
                    cts.Token)!.Value.Budget);
                exactMin = exact;
                cells.Add(Gb(exact)); cells.Add(S(te));
            }
            catch (OperationCanceledException) { cells.Add("time limit"); cells.Add(""); }
            foreach (var factor in new[] { 1.25, 2.0 })
            {
                long budget = (long)((exactMin ?? approx) * factor);
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(options.SecondsPerRow * 120));
                    var threads = options.Threads.Max();
                    var approxAt = new DpApproxSolver().Solve(problem, new SolverOptions { BudgetBytes = budget, Threads = threads }, cts.Token);
                    var (r, t) = Time(() => new DpSolver().Solve(problem, new SolverOptions { BudgetBytes = budget, Threads = threads }, cts.Token));
                    var (plan, tp) = Time(() => RecomputePlanner.Plan(problem, SolverName.Dp, new SolverOptions { BudgetBytes = budget,
                        Threads = threads }, cts.Token));
                    double fwd = problem.Forward.Time.Sum();
                    cells.Add($"{approxAt.PaperModelOverhead / fwd:P1} / {r.PaperModelOverhead / fwd:P1} / {plan.Simulation?.Overhead:P1}");
                    cells.Add(S(t)); cells.Add(S(tp));
                }
                catch (OperationCanceledException) { cells.Add("time limit"); cells.Add(""); cells.Add(""); }
            }
            Console.WriteLine("| " + string.Join(" | ", cells) + " |");
        }
    }

    public static void Random(QuickTableOptions options)
    {
        Console.WriteLine("| graph | planned tensors | dp-approx plan at 60% of store-all (s) | simulated peak / budget | overhead |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var file in Directory.GetFiles(Path.Combine(Conformance, "checkmate-graphs"), "random_layered_*.json").Order(StringComparer.Ordinal))
        {
            var problem = new PlanningProblem(GraphLoader.Load(file));
            long budget = (long)(RecomputePlanner.StoreAllPeak(problem) * 0.6);
            var (plan, t) = Time(() => RecomputePlanner.Plan(problem, SolverName.DpApprox, new SolverOptions { BudgetBytes = budget }));
            Console.WriteLine($"| {Path.GetFileNameWithoutExtension(file)} | {problem.Forward.Count} | {S(t)} | " +
                $"{(plan.Simulation is { } s ? $"{(double)s.PeakBytes / budget:P1}" : "infeasible")} | {plan.Simulation?.Overhead:P1} |");
        }
    }

    private static (T, double) Time<T>(Func<T> f)
    {
        var sw = Stopwatch.StartNew();
        var r = f();
        return (r, sw.Elapsed.TotalSeconds);
    }

    private static string Gb(long b) => (b / 1e9).ToString("0.0000", CultureInfo.InvariantCulture);
    private static string S(double s) => s.ToString("0.00", CultureInfo.InvariantCulture);
}
