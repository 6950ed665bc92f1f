using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Reporting;
using Recompute.Planner.Units;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute maxbatch</c>: the largest batch whose training step fits a device, with and without the planner.</summary>
public sealed class MaxBatchCommand : ICommand
{
    public string Name => "maxbatch";
    public string Summary => "largest batch size that fits a device's memory, for store-all and for the planner";
    public string Usage =>
        "recompute maxbatch <graph.onnx> --memory <size> [--overhead P] [--optimizer sgd|adam] [--solver NAME] [--format table|json]\n" +
        "  --memory SIZE      device memory, e.g. 16GiB: parameters, their gradients, optimizer state, inputs and the plan's peak must fit\n" +
        "  --overhead P       most recompute time the planner may add, as a percentage of forward time (20%) or a fraction (0.2)\n" +
        "  --optimizer KIND   adam (state 2x parameters, default) or sgd (momentum, 1x parameters)\n" +
        "  --solver NAME      the planner's solver (default auto, with a 1 s limit per batch size: no optimal phase)\n" +
        "Each answer is checked: the plan at that batch fits, the plan at batch + 1 does not.";

    private static readonly HashSet<string> ValueOptions = ["--memory", "--overhead", "--optimizer", "--solver", "--format"];

    public int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        var a = new CliArguments(args, ValueOptions, new HashSet<string>());
        a.ExpectPositionals(1, Usage.Split('\n')[0]);
        string path = a.Positional(0, "graph file");
        var memoryText = a.Value("--memory") ?? throw new UsageException("missing --memory <size> (for example 16GiB)");
        if (ByteSize.IsPercentage(memoryText)) throw new UsageException("--memory is a size (16GiB), not a percentage");
        long memory;
        try { memory = ByteSize.Parse(memoryText); }
        catch (FormatException e) { throw new UsageException($"--memory: {e.Message}"); }
        var options = new MaxBatchOptions
        {
            Optimizer = a.Value("--optimizer") switch
            {
                null or "adam" => OptimizerKind.Adam,
                "sgd" => OptimizerKind.Sgd,
                var other => throw new UsageException($"--optimizer: '{other}' is not sgd or adam"),
            },
            MaxOverhead = a.Value("--overhead") is { } o ? ParseOverhead(o) : null,
            Solver = a.Value("--solver") ?? Recompute.Planner.Planning.AutoPortfolio.Name,
        };
        if (!Recompute.Planner.Planning.SolverRegistry.Exists(options.Solver))
            throw new UsageException($"unknown solver '{options.Solver}'; solvers: {string.Join(", ", Recompute.Planner.Planning.SolverRegistry.Names)}");
        string format = a.Value("--format") ?? "table";
        if (format is not ("table" or "json")) throw new UsageException($"--format: '{format}' is not table or json");

        // Load once at the file's own batch so that a bad file fails before the search starts.
        var first = GraphLoader.Load(path);
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
