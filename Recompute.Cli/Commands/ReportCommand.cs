using System.CommandLine;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;
using Recompute.Plots;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute report</c>: sweeps budgets and solvers, writes plots, tables and a page.</summary>
public sealed class ReportCommand : CliCommand
{
    private readonly GraphInput _input = new();
    private readonly Option<string?> _output = CliOptions.Output("DIR", "folder for the report files (created if missing)");
    private static readonly string[] SeriesNames = [.. BudgetSweep.SolverNames, "dp-approx/memory"];
    private readonly Option<string[]?> _solvers = CliOptions.Parsed<string[]?>("--solvers", "a,b,..",
        $"{string.Join(", ", SeriesNames)} (default: every applicable one but greedy)", ParseSolvers, null);
    private readonly Option<int> _points = CliOptions.Int("--points", "budgets from the smallest feasible one to the store-all peak", 25, 1, 1000);
    private readonly Option<SizeValue?> _budget = CliOptions.Size("--budget", "budget of the plan drawn on the timeline, e.g. 2GiB or 40% (default: the middle of the sweep)");
    private readonly Option<double> _timeLimit = CliOptions.Double("--time-limit",
        "seconds auto and the optimal solver may spend at each budget (auto runs by default on every graph; optimal on graphs of at most 100 planned tensors, and on any graph when --solvers names it)",
        3, 0.1, 86_400, "S");
    private readonly Option<long[]?> _memory = CliOptions.Parsed<long[]?>("--memory", "SIZE,..",
        "device sizes for the budget guide besides 16, 24, 40 and 80 GiB, e.g. 12GiB,48GB", ParseMemory, null);
    private readonly Option<string?> _maxOverhead = CliOptions.Parsed<string?>("--max-overhead", "P",
        "the most recompute time you accept, as a share of the training step (20%) or a fraction (0.2): the guide's largest batches and the recommended budget keep within it [default: 20%]",
        t => { MaxBatchCommand.ParseOverhead(t); return t; }, null);
    private readonly Option<string> _optimizer = CliOptions.Choice("--optimizer",
        "optimizer state in the budget guide: adam (2x parameters, default) or sgd (momentum, 1x parameters)", "adam", "adam", "sgd");

    public ReportCommand() : base("report", "budget sweep: pareto.svg/png, timeline.svg/png, report.html, report.json, report.csv, graph.dot",
        "report <graph> -o <dir> [options]", "Stops cleanly on Ctrl-C: report.json keeps the points finished so far.")
    {
        Arguments.Add(_input.Graph);
        Add(_output, _solvers, _points, _input.Batch, _input.TimeFile, _input.Device, _input.DType, _budget, _timeLimit, _memory, _maxOverhead, _optimizer);
        _offload.AddTo(this);
    }

    private readonly OffloadSettings _offload = new();

    public override int Execute(ParseResult parse, CommandContext context)
    {
        string dir = parse.GetValue(_output) ?? throw new UsageException("missing -o <dir>: the folder to write the report into");
        if (string.IsNullOrWhiteSpace(dir)) throw new Recompute.Planner.Files.OutputRefusedException(dir, "the folder name is empty", "-o");
        var dirKind = Recompute.Planner.Files.FileStatus.Of(dir, followLinks: true).Kind;
        if (dirKind is not (Recompute.Planner.Files.FileKind.Missing or Recompute.Planner.Files.FileKind.Directory))
            throw new Recompute.Planner.Files.OutputRefusedException(dir, $"it is {Recompute.Planner.Files.FileStatus.Describe(dirKind)}; -o needs a folder", "-o");
        var graph = _input.Load(parse, context);
        var offload = _offload.Read(parse, _input.Profile);
        if (offload is not null && OffloadPlanner.NotApplicableReason(new PlanningProblem(graph)) is { } noOffload) throw new UsageException($"--offload: {noOffload}");
        var options = new SweepOptions
        {
            Offload = offload,
            Points = parse.GetValue(_points),
            TimeLimit = TimeSpan.FromSeconds(parse.GetValue(_timeLimit)),
            // System.CommandLine gives an absent array-typed option as an empty array: that means the default set.
            Solvers = parse.GetValue(_solvers) is { Length: > 0 } solvers ? solvers : null,
            TimelineBudget = parse.GetValue(_budget)?.Text,
            Guide = Guide(parse, context, graph),
        };

        // Every file the report may write, claimed now: none may be the graph read (`report rep/report.json -o rep`).
        // A folder still to be made must be makeable where it goes: its parent is checked as an output's folder is.
        bool made = dirKind == Recompute.Planner.Files.FileKind.Missing;
        try { if (made) Recompute.Planner.Files.OutputTarget.CheckFolder(dir); }
        catch (Recompute.Planner.Files.OutputRefusedException e) { throw new InputFileException($"cannot create the report folder '{dir}': {e.Reason}", e); }
        foreach (var name in ReportFileNames.All) CommandSupport.ClaimOutput(Path.Combine(dir, name), "-o " + dir, folderMadeLater: made);
        return Execute(graph, options, dir, context.Stdout, context.Stderr, context.Interactive, context.Cancellation);
    }

    /// <summary>
    /// The budget guide's settings: the common device sizes and <c>--memory</c>'s, the optimizer, and for an ONNX file
    /// the graph at other batch sizes (re-inferred as <c>--batch</c> does); other formats have sizes only.
    /// </summary>
    private GuideOptions Guide(ParseResult parse, CommandContext context, ComputationGraph graph)
    {
        var devices = GuideOptions.CommonDevices.Concat(parse.GetValue(_memory) ?? []).ToList();
        var optimizer = parse.GetValue(_optimizer) == "sgd" ? OptimizerKind.Sgd : OptimizerKind.Adam;
        string path = _input.Path(parse);
        var guide = new GuideOptions
        {
            Devices = devices, Optimizer = optimizer,
            MaxOverhead = MaxBatchCommand.ParseOverhead(parse.GetValue(_maxOverhead) ?? "20%"),
        };
        if (!string.Equals(Path.GetExtension(path), ".onnx", StringComparison.OrdinalIgnoreCase)) return guide;
        string? timeFile = parse.GetValue(_input.TimeFile);
        long batch = parse.GetValue(_input.Batch) ?? Recompute.Planner.Import.Onnx.OnnxImporter.Import(path, new() { TimeFile = timeFile }).FileBatch;
        if (batch <= 0 || batch > int.MaxValue)
            return guide with { NoBatchReason = $"the ONNX graph {graph.Name} has no batch dimension on its inputs to re-infer" };
        return guide with
        {
            // Each batch size planned as the graph itself is: the same --dtype, the same device's seconds.
            Family = new BatchFamily((int)batch, b => _input.Prepare(parse, context, Recompute.Planner.Import.GraphLoader.Load(path, new() { Batch = b, TimeFile = timeFile }))),
        };
    }

    /// <summary>"12GiB,48GB" → bytes; sizes only (a percentage has no device to be a share of).</summary>
    private static long[] ParseMemory(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new UsageException("--memory needs at least one size, e.g. 12GiB");
        return parts.Select(part =>
        {
            var size = new SizeValue("--memory", part);
            if (size.IsPercentage) throw new UsageException($"--memory: '{part}' is a percentage; give a device size such as 12GiB");
            return size.Resolve(() => 0);
        }).ToArray();
    }

    /// <summary>"chen,dp" → the names, each one a solver or series a report knows.</summary>
    private static string[] ParseSolvers(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new UsageException("--solvers needs at least one solver name");
        foreach (var name in names)
            if (!SeriesNames.Contains(name, StringComparer.Ordinal))
                throw new UsageException($"unknown solver '{name}' for a report; use {string.Join(", ", SeriesNames)}" + Suggestions.DidYouMean(name, SeriesNames));
        return names;
    }

    /// <summary>
    /// Runs the sweep on a loaded graph and writes the report. The live status (Spectre.Console, on
    /// <paramref name="stdout"/>, cleared at the end) is drawn only when <paramref name="interactive"/> is set: the
    /// caller passes true only for a terminal.
    /// </summary>
    /// <param name="observe">Sees every finished point (after the status shows it).</param>
    public static int Execute(ComputationGraph graph, SweepOptions options, string dir, TextWriter stdout, TextWriter stderr,
        bool interactive, CancellationToken cancellation, Action<SweepProgress>? observe = null)
    {
        // The graph's own faults (a loss that is not a scalar) before the folder is made: nothing half-written.
        var problem = new PlanningProblem(graph);
        try { Directory.CreateDirectory(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFileException($"cannot create the report folder '{dir}': {e.Message}", e);
        }
        BudgetReport report;
        try
        {
            report = LiveStatus.Run(new CommandContext(stdout, stderr, cancellation, interactive), enabled: true,
                $"finding the range of budgets for {graph.Name}",
                status => BudgetSweep.Run(problem, options,
                    onReport: r => ReportFiles.WriteJson(r, dir),
                    onProgress: p =>
                    {
                        status.Progress(p.Done, p.Total, string.Create(CultureInfo.InvariantCulture,
                            $"{p.Done}/{p.Total} points; last: {p.Series} at {ByteSize.Format(p.BudgetBytes)}"));
                        observe?.Invoke(p);
                    },
                    cancellation: cancellation, onActivity: status.Say));
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

        if (!report.Complete)
        {
            stderr.WriteLine($"recompute report: interrupted after {report.Points.Length} of {report.Series.Length * report.Budgets.Length} points; " +
                             $"{Recompute.Planner.Files.TerminalText.Escape(Path.Combine(dir, ReportFileNames.Json))} keeps them");
            return ExitCodes.Interrupted;
        }
        var written = ReportFiles.WriteAll(report, graph, dir);
        TerminalTables.WriteSummary(stdout, ReportSummary.Blocks(report), interactive);
        stdout.WriteLine();
        stdout.WriteLine(Recompute.Planner.Files.TerminalText.Escape($"open {Path.Combine(dir, ReportFileNames.Html)} in a browser; also written: {string.Join(", ", written.Select(Path.GetFileName).Where(f => f != ReportFileNames.Html))}"));
        return ExitCodes.Success;
    }
}
