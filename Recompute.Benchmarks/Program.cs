using System.Globalization;
using BenchmarkDotNet.Running;

namespace Recompute.Benchmarks;

/// <summary>
/// Entry point. <c>dotnet run -c Release --project Recompute.Benchmarks -- NAME [options]</c> prints a quick table
/// (a few seconds, best-of-N timing) for a named table; anything else goes to BenchmarkDotNet's switcher
/// (e.g. <c>-- --filter *Gemm*</c>).
/// </summary>
public static class Program
{
    /// <summary>Quick tables by name: add one line per table.</summary>
    private static readonly IReadOnlyDictionary<string, Action<QuickTableOptions>> QuickTables =
        new Dictionary<string, Action<QuickTableOptions>>(StringComparer.Ordinal)
        {
            ["gemm"] = KernelTables.Gemm,
            ["conv"] = KernelTables.Conv,
            ["pool"] = PoolTable.Table,
            ["peak"] = KernelTables.Peak,
            ["gemm-tune"] = KernelTables.GemmTune,
            ["onnx-import"] = OnnxImportBenchmarks.Table,
            ["planner"] = PlannerTables.Paper,
            ["planner-random"] = PlannerTables.Random,
            ["optimal"] = OptimalTable.Table,
            ["bounds"] = BoundsTable.Table,
            ["auto"] = AutoTable.Table,
            ["cut-probe"] = CutProbe.Table,
            ["defer-probe"] = DeferProbe.Table,
            ["lns"] = LocalSearchProbe.Table,
            ["exports"] = AutoTable.Exports,
            ["dp-work"] = DpWorkTable.Table,
            ["overhead"] = OverheadTable.Table,
            ["scale"] = ScaleTable.Table,
            ["scale-chain"] = ScaleTable.Chain,
            ["scale-chain-1m"] = ScaleTable.MillionChain,
            ["scale-dag"] = ScaleTable.Dag,
            ["wide"] = WideTable.Table,
            ["sample-graphs"] = SampleGraphFiles.Write,
            ["training"] = TrainingThroughputTable.Table,
            ["device-profile"] = DeviceProfileTable.Table,
            ["vs-torch"] = VsTorchTable.Table,
            ["step-alloc"] = VsTorchTable.Allocation,
        };

    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var rest = args.Where(a => a != "--quick").ToArray();
        if (rest.Length > 0 && QuickTables.TryGetValue(rest[0], out var table))
        {
            QuickTableOptions options;
            try
            {
                options = QuickTableOptions.Parse(rest.Skip(1).ToArray());
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            try
            {
                table(options);
            }
            catch (FormatException e)
            {
                // A table's own usage error (exports without its directory of graphs).
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            return 0;
        }
        if (args.Contains("--quick"))
        {
            Console.Error.WriteLine($"error: unknown quick table; known: {string.Join(", ", QuickTables.Keys.Order())}");
            return 2;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}

/// <summary>
/// Options shared by quick tables: <c>--threads 1,2</c>, <c>--seconds S</c> (time per row), and for the tables that
/// take them <c>--graphs a.onnx,b.onnx</c> (shipped graphs) and <c>--fractions 0.3,0.5</c> (budgets of store-all);
/// <c>--dir DIR</c> for the tables that read graphs from a directory (<c>exports</c>).
/// </summary>
public sealed record QuickTableOptions(IReadOnlyList<int> Threads, double SecondsPerRow)
{
    /// <summary>Whether <c>--seconds</c> was given (tables with a default of their own, such as auto's 5 s, keep it otherwise).</summary>
    public bool SecondsGiven { get; init; }

    public IReadOnlyList<string>? Graphs { get; init; }
    public IReadOnlyList<double>? Fractions { get; init; }

    /// <summary><c>--dir DIR</c>: a directory of graph files (the <c>exports</c> table's generated exports).</summary>
    public string? Directory { get; init; }

    /// <summary><c>--ops</c> (a flag): tables that can also print a per-op split of their timings.</summary>
    public bool Ops { get; init; }

    public static QuickTableOptions Parse(string[] args)
    {
        IReadOnlyList<int> threads = new[] { 1, 2 };
        double seconds = 1.0;
        bool secondsGiven = false;
        IReadOnlyList<string>? graphs = null;
        IReadOnlyList<double>? fractions = null;
        string? directory = null;
        bool ops = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--ops") { ops = true; continue; }
            string value = i + 1 < args.Length ? args[i + 1] : throw new FormatException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--threads":
                    threads = value.Split(',').Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int t) && t > 0
                        ? t : throw new FormatException($"--threads: '{s}' is not a positive integer")).ToArray();
                    break;
                case "--seconds":
                    seconds = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0
                        ? s : throw new FormatException($"--seconds: '{value}' is not a positive number");
                    secondsGiven = true;
                    break;
                case "--graphs":
                    graphs = value.Split(',');
                    break;
                case "--dir":
                    directory = value;
                    break;
                case "--fractions":
                    fractions = value.Split(',').Select(f => double.TryParse(f, NumberStyles.Float, CultureInfo.InvariantCulture,
                        out double x) && x > 0
                        ? x : throw new FormatException($"--fractions: '{f}' is not a positive number")).ToArray();
                    break;
                default:
                    throw new FormatException($"unknown option '{args[i]}'");
            }
            i++;
        }
        return new QuickTableOptions(threads, seconds) { Graphs = graphs, Fractions = fractions, Directory = directory, SecondsGiven = secondsGiven, Ops = ops };
    }
}
