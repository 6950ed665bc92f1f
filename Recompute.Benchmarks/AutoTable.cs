using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Benchmarks;

/// <summary>
/// The quick table <c>auto</c> (issue 11): on every shipped ONNX graph at 30/40/50/60/70/100 % of store-all, auto
/// against each single solver (overhead = recompute / forward time of the simulated plan, "—" where no plan fits),
/// auto's computeOverhead, peak, solve seconds, winner, bound and recompute gap. Auto runs with its command-line
/// default limit (<see cref="AutoPortfolio.DefaultTimeLimit"/>); the single solvers with the same options.
/// <c>--seconds S</c> (at least 1) overrides the limit. <c>command s</c> is the whole <c>recompute plan GRAPH --budget
/// BYTES --format json</c> as a user runs it (the Release build, its own process: start-up, reading the graph,
/// planning, writing), to hold against the limit plus 1 s; "-" when that build is missing. One <c>inspect</c> runs
/// first, so that the one-time measurement of this CPU for the <c>cpu</c> profile (a few seconds after each build, then
/// cached) is not counted in the first row. The last column checks
/// auto ≤ every solver in the row.
/// </summary>
public static class AutoTable
{
    /// <summary>The shipped ONNX graphs (with intermediate shapes).</summary>
    public static readonly string[] Graphs =
        ["resnet18-b32.onnx", "resnet50-b64.onnx", "mobilenetv2-b64.onnx", "vgg16-b32.onnx", "unet-b8-256.onnx", "gpt2-124m-b8-t1024.onnx"];

    /// <summary>Budgets as fractions of the store-all peak.</summary>
    public static readonly double[] Fractions = [0.3, 0.4, 0.5, 0.6, 0.7, 1.0];

    private static readonly string[] Singles = [SolverName.Chen, SolverName.PerBlock, SolverName.DpApprox, SolverName.Dp, SolverName.Greedy];

    /// <summary>Budgets of the <c>exports</c> table: the range the planner's gap is held to (issue 32).</summary>
    public static readonly double[] ExportFractions = [0.3, 0.4, 0.5, 0.6, 0.7];

    /// <summary>How to make the files of the <c>exports</c> table.</summary>
    public const string ExportsHowTo =
        "generate them with /usr/bin/python3 Recompute.Benchmarks/export_torchvision.py DIR (Debian's python3-torch, python3-torchvision " +
        "and python3-onnx; a few minutes), then run: exports --dir DIR";

    public static void Table(QuickTableOptions options) =>
        Rows(options, (options.Graphs ?? Graphs).Select(RepositoryPaths.Graph).ToList(), options.Fractions ?? Fractions, notes: false);

    /// <summary>
    /// The quick table <c>exports</c>: the same rows on every <c>.onnx</c> file of <c>--dir DIR</c> (torchvision models
    /// exported as training graphs by <c>export_torchvision.py</c>, not shipped; <c>--graphs</c> picks files of DIR) at
    /// 30–70 % of store-all, with two more columns: whether auto's schedule simulates valid within the budget, and
    /// auto's note (why a plan has no bound beyond one run of every task, among others). A file that does not import
    /// is a row saying why. Without <c>--dir</c>, or with no file there, a <see cref="FormatException"/> says how to make them.
    /// </summary>
    public static void Exports(QuickTableOptions options)
    {
        if (options.Directory is not { } dir) throw new FormatException($"exports needs --dir DIR, a directory of exported graphs: {ExportsHowTo}");
        var files = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*.onnx").Where(f => options.Graphs is null || options.Graphs.Contains(Path.GetFileName(f)))
                .Order(StringComparer.Ordinal).ToList()
            : [];
        if (files.Count == 0) throw new FormatException($"no .onnx file in {dir}: {ExportsHowTo}");
        Rows(options, files, options.Fractions ?? ExportFractions, notes: true);
    }

    private static void Rows(QuickTableOptions options, IReadOnlyList<string> paths, IReadOnlyList<double> fractions, bool notes)
    {
        // Auto's default limit unless --seconds says otherwise (the quick tables' 1 s default is not auto's: the table
        // was measured at 1 s until 2026-12-04, where the optimal phase does not run).
        var limit = options.SecondsGiven ? TimeSpan.FromSeconds(options.SecondsPerRow) : AutoPortfolio.DefaultTimeLimit;
        var o = Console.Out;
        var cli = CliProcess.Binary();
        if (cli is null) Console.Error.WriteLine("note: build the command line (dotnet build -c Release Recompute.Cli) for the command s column");
        else CliProcess.Run(cli, ["inspect", paths[0]]);
        string extra = notes ? " simulates | note |" : "";
        o.WriteLine($"| graph | budget | {string.Join(" | ", Singles)} | auto | auto computeOverhead | auto peak (MiB) | auto s | command s | winner | status | recompute gap | bound from | bound covers | auto ≤ all |{extra}");
        o.WriteLine($"|---|---:|{string.Concat(Singles.Select(_ => "---:|"))}---:|---:|---:|---:|---:|---|---|---:|---|---|---|{(notes ? "---|---|" : "")}");
        foreach (var path in paths)
        {
            string name = Path.GetFileNameWithoutExtension(path);
            PlanningProblem problem;
            try { problem = new PlanningProblem(GraphLoader.Load(path)); }
            catch (Exception e) when (notes)
            {
                // A file that does not import is the importer's to fix (a GraphFormatException names the node); anything
                // else is a crash: either way a row says so and the other files still run.
                o.WriteLine($"| {name} | | import failed ({e.GetType().Name}): {e.Message.Replace('|', '/')} |");
                o.Flush();
                continue;
            }
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in fractions)
            {
                var options1 = new SolverOptions { BudgetBytes = (long)(storeAll * fraction), TimeLimit = limit };
                var cells = new List<string>();
                double? least = null;
                foreach (var solver in Singles)
                {
                    PlanResult plan;
                    try { plan = RecomputePlanner.Plan(problem, solver, options1); }
                    catch (LowerSetLimitException) { cells.Add("n/a"); continue; }
                    cells.Add(plan.Feasible ? $"{plan.Simulation!.Overhead:P2}" : "—");
                    if (plan.Feasible) least = Math.Min(least ?? double.MaxValue, plan.Simulation!.Overhead);
                }
                var clock = Stopwatch.StartNew();
                var auto = RecomputePlanner.Plan(problem, AutoPortfolio.Name, options1);
                double seconds = clock.Elapsed.TotalSeconds;
                var sim = auto.Simulation;
                string autoCell = auto.Feasible ? $"{sim!.Overhead:P2}" : "—";
                string compute = auto.Feasible ? $"{sim!.StepOverhead:P2}" : "";
                string peak = auto.Feasible ? $"{sim!.PeakBytes / 1048576.0:F1}" : "";
                string command = "-";
                if (cli is not null)
                {
                    string[] args = ["plan", path, "--budget", options1.BudgetBytes.ToString(CultureInfo.InvariantCulture), "--format", "json"];
                    if (options.SecondsGiven) args = [.. args, "--time-limit", options.SecondsPerRow.ToString(CultureInfo.InvariantCulture)];
                    command = CliProcess.Run(cli, args).Seconds.ToString("F1", CultureInfo.InvariantCulture);
                }
                bool ok = least is null || (auto.Feasible && sim!.Overhead <= least.Value + 1e-12);
                o.Write($"| {name} | {fraction:P0} | {string.Join(" | ", cells)} | {autoCell} | {compute} | {peak} | {seconds:F1} | {command} | " +
                        $"{auto.Solver.WinningSolver ?? ""} | {auto.Solver.Status.ToText()} | {(auto.Solver.RecomputeGap is { } g ? $"{g:P1}" : "")} | {auto.Solver.BoundSource?.ToText() ?? ""} | {auto.Solver.BoundCovers ?? ""} | {(ok ? "yes" : "NO")} |");
                if (notes)
                    o.Write($" {Simulates(auto)} | {(auto.Feasible ? auto.Solver.Note : auto.Solver.Reason)?.Replace('|', '/') ?? ""} |");
                o.WriteLine();
                o.Flush();
            }
        }
    }

    /// <summary>"yes" when auto's schedule replays valid within the budget with the recomputation its plan states (as
    /// <c>recompute simulate</c> checks a schedule file); the simulator's objection otherwise; empty without a plan.</summary>
    private static string Simulates(PlanResult auto)
    {
        if (!auto.Feasible) return "";
        try
        {
            var sim = Simulator.Simulate(auto.Schedule! with { BudgetBytes = auto.BudgetBytes });
            return sim.RecomputeTime == auto.Simulation!.RecomputeTime && sim.PeakBytes == auto.Simulation.PeakBytes
                ? "yes" : $"NO: replays to peak {sim.PeakBytes}, recompute {sim.RecomputeTime:G6}";
        }
        catch (InvalidScheduleException e) { return $"NO: {e.Message.Replace('|', '/')}"; }
    }
}
