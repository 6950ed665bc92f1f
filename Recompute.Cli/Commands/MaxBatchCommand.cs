using System.CommandLine;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
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
    private readonly Option<string?> _overhead = CliOptions.Parsed<string?>("--overhead", "P",
        "most recompute time the planner may add, as a percentage of the training step (20%) or a fraction (0.2)", t => { ParseOverhead(t); return t; }, null);
    private readonly Option<string> _optimizer = CliOptions.Choice("--optimizer", "adam (state 2x parameters, default) or sgd (momentum, 1x parameters)", "adam", "adam", "sgd");
    private readonly Option<string> _solver = CliOptions.Solver(Recompute.Planner.Planning.AutoPortfolio.Name);
    private readonly Option<string> _format = CliOptions.Format();
    private readonly OffloadSettings _offload = new();

    public MaxBatchCommand() : base("maxbatch", "largest batch size that fits a device's memory, for store-all and for the planner",
        "maxbatch <graph.onnx> --memory <size> [options]", "Each answer is checked: the plan at that batch fits, the plan at batch + 1 does not.")
    {
        Arguments.Add(_input.Graph);
        Add(_memory, _overhead, _optimizer, _solver, _input.Device, _input.DType, _format);
        _offload.AddTo(this);
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
            MaxOverhead = parse.GetValue(_overhead) is { } o ? ParseOverhead(o) : null,
            Solver = parse.GetValue(_solver)!,
        };
        string format = parse.GetValue(_format)!;

        // Load once at the file's own batch so that a bad file fails before the search starts.
        var first = _input.Load(parse, context);
        Recompute.Planner.Graph.LossRule.Check(first);
        if (_offload.Read(parse, _input.Profile) is { } offload)
        {
            if (Recompute.Planner.Planning.OffloadPlanner.NotApplicableReason(new Recompute.Planner.Solvers.PlanningProblem(first)) is { } noOffload)
                throw new UsageException($"--offload: {noOffload}");
            options = options with { Offload = offload };
        }
        MaxBatchResult result;
        // On a terminal: the batch size being tried and the elapsed time (silent when piped or with --format json).
        using (var status = LiveStatus.Begin(context, format == "table", $"{options.Solver}: largest batch in {ByteSize.Format(memory)}"))
            result = MaxBatchSearch.Find(b =>
            {
                status.Say(string.Create(CultureInfo.InvariantCulture, $"{options.Solver}: trying batch {b} in {ByteSize.Format(memory)}"));
                return _input.Prepare(parse, context, GraphLoader.Load(path, new GraphLoadOptions { Batch = b }));
            }, memory, options, cancellation);
        stdout.Write(format == "json" ? MaxBatchFormat.Json(result, first.Name, first.ActivationDType)
            : MaxBatchFormat.Table(result, first.Name + (first.ActivationDType is { } dt ? $" (floating activations as {dt})" : ""), parse.GetValue(_overhead) is { } text ? DescribeOverhead(text, options.MaxOverhead!.Value) : null));
        if (result.StoreAll.Batch == 0 && result.Planner.Batch == 0)
        {
            stderr.WriteLine($"recompute maxbatch: not even a batch of 1 fits in {ByteSize.Format(memory)}: {Recompute.Planner.Files.TerminalText.Escape(result.Planner.AtNext?.Reason)}{memoryValue.BareNumberHint(allowPercent: false)}");
            return ExitCodes.Infeasible;
        }
        return ExitCodes.Success;
    }

    /// <summary>"20%" or "0.2" → 0.2. A bare number above 1 is refused: "20" would be 2000 %, which nobody means.</summary>
    public static double ParseOverhead(string text)
    {
        var t = text.Trim();
        bool percent = t.EndsWith('%');
        if (percent) t = t[..^1];
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v < 0)
            throw new UsageException($"--overhead: '{text}' is not a percentage (20%) or a fraction (0.2)");
        if (!percent && v > 1)
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--overhead: '{text}' as a fraction would be {v * 100:0.##}% of the training step; write {v:0.##}% for a percentage, or a fraction such as 0.2"));
        return percent ? v / 100 : v;
    }

    /// <summary>How an <c>--overhead</c> value was read: "20% of the training step (0.2 read as a fraction)".</summary>
    public static string DescribeOverhead(string text, double value)
    {
        string percent = string.Create(CultureInfo.InvariantCulture, $"{value * 100:0.##}%");
        return text.Trim().EndsWith('%') ? $"{percent} of the training step" : $"{percent} of the training step ({text.Trim()} read as a fraction)";
    }
}
