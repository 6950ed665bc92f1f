using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Benchmarks;

/// <summary>
/// The optimal solver's lower bounds on the graphs where CP-SAT does not bound the exact stage model (issue 5):
/// per graph and budget, the plan's extra compute, the proven recomputation bound, the status, and what proved the bound (CP-SAT on
/// the exact model, the <see cref="StageRelaxation"/>, or one run of every task), the relaxation's CP-SAT status,
/// decisions and time, and the solve time. Only the optimal solver runs (the <c>optimal</c> table has the others).
/// </summary>
public static class BoundsTable
{
    /// <summary>Graphs (under <c>../shared/conformance/checkmate-graphs</c>) and budget fractions.</summary>
    public static readonly (string File, double[] Fractions)[] Cases =
    [
        ("MobileNet_512_train.json", [0.9, 0.8]),
        ("ResNet50_256_train.json", [0.8, 0.9]),
        ("random_layered_n500_w0.36_nlv0.75_ed0.2_scd0.14.json", [0.8]),
    ];

    /// <summary>The quick table <c>bounds</c>: <c>--seconds S</c> is the optimal solver's limit per row (below 5 s: 60 s).</summary>
    public static void Table(QuickTableOptions options)
    {
        var limit = options.SecondsPerRow >= 5 ? TimeSpan.FromSeconds(options.SecondsPerRow) : TimeSpan.FromSeconds(60);
        var output = Console.Out;
        string dir = RepositoryPaths.Conformance("checkmate-graphs");
        output.WriteLine("| graph | tasks | budget | optimal | lower bound | gap | recompute gap | status | bound from | relaxation | solve s |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|");
        foreach (var (file, fractions) in Cases)
        {
            string path = Path.Combine(dir, file);
            if (!File.Exists(path)) { output.WriteLine($"| {file} | missing | | | | | | | | | |"); continue; }
            var problem = new PlanningProblem(CheckmateImporter.Load(path), asGiven: true);
            var (_, storeAll) = RecomputePlanner.StoreAll(problem);
            double total = storeAll.ForwardTime + storeAll.BackwardTime;
            foreach (var fraction in fractions)
            {
                long budget = (long)(storeAll.PeakBytes * fraction);
                var solverOptions = new SolverOptions { BudgetBytes = budget, TimeLimit = limit, Seed = 1, MaxLowerSets = 20_000 };
                var clock = Stopwatch.StartNew();
                var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, solverOptions);
                clock.Stop();
                var r = run.Result;
                string plan = r.Feasible ? Percent(Simulator.Simulate(r.Schedule!).RecomputeTime, total) : "none";
                string lb = r.LowerBound is { } b ? Percent(b, total) : "";
                string gap = r.Gap is { } g ? (100 * g).ToString("F2", CultureInfo.InvariantCulture) + "%" : "";
                string rgap = r.RecomputeGap is { } rg ? (100 * rg).ToString("F1", CultureInfo.InvariantCulture) + "%" : "";
                string relax = run.Relaxation is { } x
                    ? string.Create(CultureInfo.InvariantCulture, $"{x.CpStatus}, {x.Decisions} dec, {x.Elapsed.TotalSeconds:F1} s")
                    : "not run";
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {Path.GetFileNameWithoutExtension(file)} | {problem.Training.Count} | {fraction * 100:F0}% | {plan} | {lb} | {gap} | {rgap} | {r.Status.ToText()}{(run.FromWarmStart && run.WarmStart is { } w ? $" ({w})" : "")} | {run.BoundSource.ToText()} | {relax} | {clock.Elapsed.TotalSeconds:F1} |"));
                output.Flush();
            }
        }
    }

    private static string Percent(double part, double whole) =>
        whole > 0 ? "+" + (100 * part / whole).ToString("F2", CultureInfo.InvariantCulture) + "%" : "0";
}
