using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Benchmarks;

/// <summary>
/// The optimal solver's measurement table (issue 5), in the Checkmate/Moccasin protocol: each graph is scheduled
/// as given (<see cref="PlanningProblem.AsGiven"/>), budgets are fractions of the peak of the file's order run once,
/// and overhead is the extra compute over that run (<c>recomputeTime / (forwardTime + backwardTime)</c>). Per graph
/// and budget: store-all, chen, dp-approx, dp, greedy and optimal, with the optimal solver's gap (relative to its
/// total compute), its gap relative to the recomputation, status and solve time. A Markdown table on the writer;
/// a slow run (up to a minute per row), so it is a named table of the benchmark program, never a test.
/// </summary>
public static class OptimalTable
{
    /// <summary>The cases first (file under <c>../shared/conformance/checkmate-graphs</c>, budget fractions),
    /// then the other training graphs.</summary>
    public static readonly (string File, double[] Fractions)[] Cases =
    [
        ("VGG16_256_train.json", [0.9, 0.8]),
        ("fcn_8_vgg_32_train.json", [0.9, 0.8]),
        ("random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json", [0.9, 0.8]),
        ("ResNet50_256_train.json", [0.8, 0.9]),
        ("random_layered_n250_w0.43_nlv0.75_ed0.2_scd0.14.json", [0.8]),
        ("random_layered_n500_w0.36_nlv0.75_ed0.2_scd0.14.json", [0.8]),
        ("VGG19_256_train.json", [0.9, 0.8]),
        ("segnet_32_train.json", [0.9, 0.8]),
        ("vgg_unet_32_train.json", [0.9, 0.8]),
        ("MobileNet_512_train.json", [0.9, 0.8]),
    ];

    /// <summary>The quick table <c>optimal</c>: <c>--seconds S</c> is the optimal solver's limit per row (below 5 s: 60 s).</summary>
    public static void Table(QuickTableOptions options) =>
        Run(Console.Out, options.SecondsPerRow >= 5 ? TimeSpan.FromSeconds(options.SecondsPerRow) : TimeSpan.FromSeconds(60));

    /// <summary>Writes the table for the Checkmate graphs (read with <see cref="CheckmateImporter"/>).</summary>
    public static void Run(TextWriter output, TimeSpan? timeLimit = null) => Run(output, CheckmateImporter.Load, timeLimit);

    /// <summary>Writes the table for the Checkmate graphs, loading each file with <paramref name="load"/>.</summary>
    /// <param name="output">Where the Markdown table goes.</param>
    /// <param name="load">Reads a graph file (<c>CheckmateImporter.Load</c>).</param>
    /// <param name="timeLimit">The optimal solver's limit per row (the proof target is 60 s).</param>
    public static void Run(TextWriter output, Func<string, ComputationGraph> load, TimeSpan? timeLimit = null)
    {
        string dir = RepositoryPaths.Conformance("checkmate-graphs");
        WriteHeader(output);
        foreach (var (file, fractions) in Cases)
        {
            string path = Path.Combine(dir, file);
            if (!File.Exists(path)) { output.WriteLine($"| {file} | missing | | | | | | | | | | | |"); continue; }
            Rows(output, Path.GetFileNameWithoutExtension(file), new PlanningProblem(load(path), asGiven: true), fractions, timeLimit
                ?? TimeSpan.FromSeconds(60));
        }
    }

    /// <summary>The table's header.</summary>
    public static void WriteHeader(TextWriter output)
    {
        output.WriteLine("| graph | tasks | budget | store-all | chen | dp-approx | dp | greedy | optimal | gap | recompute gap | status | solve s |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    }

    /// <summary>One row per budget fraction for one graph.</summary>
    public static void Rows(TextWriter output, string name, PlanningProblem problem, double[] fractions, TimeSpan timeLimit)
    {
        var (_, storeAll) = RecomputePlanner.StoreAll(problem);
        double total = storeAll.ForwardTime + storeAll.BackwardTime;
        foreach (var fraction in fractions)
        {
            long budget = (long)(storeAll.PeakBytes * fraction);
            var options = new SolverOptions { BudgetBytes = budget, TimeLimit = timeLimit, Seed = 1, MaxLowerSets = 20_000 };
            string Other(string solver)
            {
                if (!RecomputePlanner.Applies(problem, solver)) return "n/a";
                try
                {
                    var plan = RecomputePlanner.Plan(problem, solver, options);
                    return plan.Feasible ? Percent(plan.Simulation!.RecomputeTime, total) : "—";
                }
                catch (LowerSetLimitException) { return "> 20k sets"; }
            }
            var clock = Stopwatch.StartNew();
            var run = new OptimalSolver(PlannerPlanSource.Instance).Run(problem, options);
            clock.Stop();
            var r = run.Result;
            string optimal;
            if (r.Feasible)
            {
                var sim = Simulator.Simulate(r.Schedule!);
                if (sim.PeakBytes > budget) throw new InvalidOperationException($"{name}: optimal plan over budget");
                optimal = Percent(sim.RecomputeTime, total);
            }
            else optimal = r.MinFeasibleBudgetBytes is { } m ? string.Create(CultureInfo.InvariantCulture,
                $"infeasible (min {100.0 * m / storeAll.PeakBytes:F1}%)") : "none";
            string gap = r.Gap is { } g ? (100 * g).ToString("F2", CultureInfo.InvariantCulture) + "%" : "";
            string recomputeGap = r.RecomputeGap is { } rg ? (100 * rg).ToString("F1", CultureInfo.InvariantCulture) + "%" : "";
            string status = r.Status.ToText() + (run.FromWarmStart
                && run.WarmStart is { } w ? $" ({w})" : "") + (run.ExactDp.StartsWith("stopped", StringComparison.Ordinal) ? ", dp stopped" : "");
            string dp = Other(SolverName.Dp);
            string approx = Other(SolverName.DpApprox);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {problem.Training.Count} | {fraction * 100:F0}% | {Other(SolverName.StoreAll)} | {Other(SolverName.Chen)} | {approx} | {dp} | {Other(SolverName.Greedy)} | {optimal} | {gap} | {recomputeGap} | {status} | {clock.Elapsed.TotalSeconds:F1} |"));
            output.Flush();
        }
    }

    private static string Percent(double part, double whole) =>
        whole > 0 ? "+" + (100 * part / whole).ToString("F2", CultureInfo.InvariantCulture) + "%" : "0";
}
