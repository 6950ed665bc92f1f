using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;
using Recompute.Reporting;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute report</c>: sweeps budgets and solvers, writes plots, tables and a page.</summary>
public sealed class ReportCommand : ICommand
{
    public string Name => "report";
    public string Summary => "budget sweep: pareto.svg/png, timeline.svg/png, report.html, report.json, report.csv, graph.dot";
    public string Usage =>
        "recompute report <graph> -o <dir> [--solvers a,b,..] [--points N] [--batch N] [--budget B] [--time-limit S]\n" +
        "  -o, --output DIR   folder for the report files (created if missing)\n" +
        "  --solvers LIST     store-all, per-block, chen, dp-approx, dp-approx/memory, dp, optimal, auto (default: every applicable\n" +
        "                     one; optimal and auto on graphs of at most 100 planned tensors)\n" +
        "  --points N         budgets from the smallest feasible one to the store-all peak (default 25)\n" +
        "  --batch N          re-infer shapes for this batch size (ONNX)\n" +
        "  --budget B         budget of the plan drawn on the timeline, e.g. 2GiB or 40% (default: the middle of the sweep)\n" +
        "  --time-limit S     seconds the optimal solver may spend at each budget (default 3; it runs by default on graphs\n" +
        "                     of at most 100 planned tensors, and on any graph when --solvers names it)\n" +
        "Stops cleanly on Ctrl-C: report.json keeps the points finished so far.";

    private static readonly HashSet<string> ValueOptions = ["-o", "--output", "--solvers", "--points", "--batch", "--budget", "--time-limit"];

    public int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        var a = new CliArguments(args, ValueOptions, new HashSet<string>());
        a.ExpectPositionals(1, Usage.Split('\n')[0]);
        string path = a.Positional(0, "graph file");
        if (a.Has("-o") && a.Has("--output")) throw new UsageException("give the output folder once (-o or --output)");
        string dir = a.Value("-o") ?? a.Value("--output") ?? throw new UsageException("missing -o <dir>: the folder to write the report into");
        if (string.IsNullOrWhiteSpace(dir)) throw new Recompute.Planner.Files.OutputRefusedException(dir, "the folder name is empty", "-o");
        var dirKind = Recompute.Planner.Files.FileStatus.Of(dir, followLinks: true).Kind;
        if (dirKind is not (Recompute.Planner.Files.FileKind.Missing or Recompute.Planner.Files.FileKind.Directory))
            throw new Recompute.Planner.Files.OutputRefusedException(dir, $"it is {Recompute.Planner.Files.FileStatus.Describe(dirKind)}; -o needs a folder", "-o");
        int? batch = a.Has("--batch") ? a.Int("--batch", 1, 1, 1 << 24) : null;
        var options = new SweepOptions
        {
            Points = a.Int("--points", 25, 1, 1000),
            TimeLimit = TimeSpan.FromSeconds(a.Double("--time-limit", 3, 0.1, 86_400)),
            Solvers = a.Value("--solvers")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            TimelineBudget = a.Value("--budget"),
        };
        if (options.Solvers is { Count: 0 }) throw new UsageException("--solvers needs at least one solver name");
        if (options.TimelineBudget is { } budgetText) CheckSize("--budget", budgetText);

        var graph = GraphLoader.Load(path, new GraphLoadOptions { Batch = batch });
        // Every file the report may write, claimed now: none may be the graph read (`report rep/report.json -o rep`).
        foreach (var name in ReportFileNames.All) CommandSupport.ClaimOutput(Path.Combine(dir, name), "-o " + dir);
        bool interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        return Execute(graph, options, dir, stdout, stderr, interactive, cancellation);
    }

    /// <summary>
    /// Runs the sweep on a loaded graph and writes the report. The progress bar (carriage returns) is drawn only
    /// when <paramref name="interactive"/> is set: the caller passes true only for a terminal.
    /// </summary>
    public static int Execute(ComputationGraph graph, SweepOptions options, string dir, TextWriter stdout, TextWriter stderr,
        bool interactive, CancellationToken cancellation)
    {
        try { Directory.CreateDirectory(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFileException($"cannot create the report folder '{dir}': {e.Message}", e);
        }
        var progress = new ProgressBar(stderr, interactive);
        progress.Say($"finding the range of budgets for {graph.Name} ...");
        BudgetReport report;
        try
        {
            report = BudgetSweep.Run(new PlanningProblem(graph), options,
                onReport: r => ReportFiles.WriteJson(r, dir),
                onProgress: progress.Update,
                cancellation: cancellation);
        }
        catch (ArgumentException e) when (e.ParamName == BudgetSweep.SolversParameter)
        {
            throw new UsageException(e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal));
        }
        catch (FormatException e)
        {
            throw new UsageException($"--budget: {e.Message}");
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Stopped while finding the range of budgets, before the first point.
            stderr.WriteLine("recompute report: interrupted before the first point finished; nothing was written");
            return ExitCodes.Interrupted;
        }
        finally { progress.Finish(); }

        if (!report.Complete)
        {
            stderr.WriteLine($"recompute report: interrupted after {report.Points.Length} of {report.Series.Length * report.Budgets.Length} points; " +
                             $"{Path.Combine(dir, ReportFileNames.Json)} keeps them");
            return ExitCodes.Interrupted;
        }
        var written = ReportFiles.WriteAll(report, graph, dir);
        stdout.Write(ReportSummary.Format(report));
        stdout.WriteLine();
        stdout.WriteLine($"open {Path.Combine(dir, ReportFileNames.Html)} in a browser; also written: {string.Join(", ", written.Select(Path.GetFileName).Where(f => f != ReportFileNames.Html))}");
        return ExitCodes.Success;
    }

    private static void CheckSize(string option, string text)
    {
        try { ByteSize.Parse(text, percentOf: 1L << 40); }
        catch (FormatException e) { throw new UsageException($"{option}: {e.Message}"); }
    }

    /// <summary>A one-line progress bar redrawn with carriage returns; silent when not interactive.</summary>
    private sealed class ProgressBar(TextWriter writer, bool interactive)
    {
        private int _width;

        public void Update(SweepProgress p)
        {
            const int bar = 30;
            int filled = p.Total == 0 ? bar : p.Done * bar / p.Total;
            Say(string.Create(CultureInfo.InvariantCulture,
                $"[{new string('#', filled)}{new string('.', bar - filled)}] {p.Done}/{p.Total} {p.Series} at {ByteSize.Format(p.BudgetBytes)}"));
        }

        /// <summary>Replaces the current status line.</summary>
        public void Say(string line)
        {
            if (!interactive) return;
            writer.Write("\r" + line.PadRight(_width));
            _width = Math.Max(_width, line.Length);
            writer.Flush();
        }

        public void Finish()
        {
            if (!interactive || _width == 0) return;
            writer.Write("\r" + new string(' ', _width) + "\r");
            writer.Flush();
        }
    }
}
