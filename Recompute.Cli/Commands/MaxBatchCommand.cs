using System.CommandLine;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Import;
using Recompute.Planner.Reporting;
using Recompute.Planner.Units;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute maxbatch</c>: the largest batch whose training step fits a device, with and without the planner.</summary>
public sealed class MaxBatchCommand : CliCommand
{
    private readonly GraphInput _input = new();
    private readonly Option<SizeValue?> _memory = CliOptions.Size("--memory",
        "device memory, e.g. 16GiB: parameters, their gradients, optimizer state, inputs and the plan's peak must fit", allowPercent: false, helpName: "SIZE");
    private readonly Option<double?> _overhead = CliOptions.Parsed<double?>("--overhead", "P",
        "most recompute time the planner may add, as a percentage of forward time (20%) or a fraction (0.2)", t => ParseOverhead(t), null);
    private readonly Option<string> _optimizer = CliOptions.Choice("--optimizer", "adam (state 2x parameters, default) or sgd (momentum, 1x parameters)", "adam", "adam", "sgd");
    private readonly Option<string> _solver = CliOptions.Solver(Recompute.Planner.Planning.AutoPortfolio.Name);
    private readonly Option<string> _format = CliOptions.Format();

    public MaxBatchCommand() : base("maxbatch", "largest batch size that fits a device's memory, for store-all and for the planner",
        "maxbatch <graph.onnx> --memory <size> [options]", "Each answer is checked: the plan at that batch fits, the plan at batch + 1 does not.")
    {
        Arguments.Add(_input.Graph);
        Add(_memory, _overhead, _optimizer, _solver, _format);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        var (stdout, stderr, cancellation) = (context.Stdout, context.Stderr, context.Cancellation);
        string path = _input.Path(parse);
        var memoryValue = parse.GetValue(_memory) ?? throw new UsageException("missing --memory <size> (for example 16GiB)");
        long memory = memoryValue.Resolve(() => throw new UsageException("--memory is a size (16GiB), not a percentage"));
        var options = new MaxBatchOptions
        {
            Optimizer = parse.GetValue(_optimizer) == "sgd" ? OptimizerKind.Sgd : OptimizerKind.Adam,
            MaxOverhead = parse.GetValue(_overhead),
            Solver = parse.GetValue(_solver)!,
        };
        string format = parse.GetValue(_format)!;

        // Load once at the file's own batch so that a bad file fails before the search starts.
        var first = _input.Load(parse);
        var result = MaxBatchSearch.Find(b => GraphLoader.Load(path, new GraphLoadOptions { Batch = b }), memory, options, cancellation);
        stdout.Write(format == "json" ? MaxBatchFormat.Json(result, first.Name) : MaxBatchFormat.Table(result, first.Name));
        if (result.StoreAll.Batch == 0 && result.Planner.Batch == 0)
        {
            stderr.WriteLine($"recompute maxbatch: not even a batch of 1 fits in {ByteSize.Format(memory)}: {result.Planner.AtNext?.Reason}");
            return ExitCodes.Infeasible;
        }
        return ExitCodes.Success;
    }

    /// <summary>"20%" or "0.2" → 0.2.</summary>
    public static double ParseOverhead(string text)
    {
        var t = text.Trim();
        bool percent = t.EndsWith('%');
        if (percent) t = t[..^1];
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v < 0)
            throw new UsageException($"--overhead: '{text}' is not a percentage (20%) or a fraction (0.2)");
        return percent ? v / 100 : v;
    }
}
