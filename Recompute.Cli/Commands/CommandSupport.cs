using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Cli.Commands;

/// <summary>Option handling shared by the commands that load a graph and plan it.</summary>
internal static class CommandSupport
{
    public static readonly string[] GraphOptions = ["--batch", "--time-file"];
    public static readonly string[] SolverValueOptions = ["--solver", "--objective", "--time-limit", "--threads", "--seed", "--max-lower-sets", "--keep", "--recompute", "--time-buckets"];

    public static HashSet<string> Set(params IEnumerable<string>[] groups) => groups.SelectMany(g => g).ToHashSet(StringComparer.Ordinal);

    /// <summary>Loads a graph, honouring <c>--batch</c> and <c>--time-file</c>.</summary>
    public static ComputationGraph LoadGraph(CliArguments args, string path)
    {
        int? batch = args.Has("--batch") ? args.Int("--batch", 1, 1, 1 << 20) : null;
        var timeFile = args.Value("--time-file");
        // The loader refuses missing files, directories, FIFOs, devices and files over the size limit of their kind.
        return GraphLoader.Load(path, new GraphLoadOptions { Batch = batch, TimeFile = timeFile });
    }

    /// <summary>
    /// Claims an output of the command before the work starts (after the inputs are read): refuses an empty path,
    /// a target that is not a regular file, an input of the command, or the output of another option.
    /// </summary>
    public static void ClaimOutput(string? path, string option)
    {
        if (path is null) return;
        if (Recompute.Planner.Files.CommandFiles.Current is { } files) files.ClaimOutput(path, option);
        else Recompute.Planner.Files.OutputTarget.Check(path, option);
    }

    public static string Format(CliArguments args)
    {
        var f = args.Value("--format") ?? "table";
        if (f is not ("table" or "json")) throw new UsageException($"--format must be 'table' or 'json', not '{f}'");
        return f;
    }

    /// <summary>Parses a size; percentages are of the store-all peak, computed only when needed.</summary>
    public static long ParseSize(string option, string text, Func<long> storeAllPeak)
    {
        try { return ByteSize.Parse(text, ByteSize.IsPercentage(text) ? storeAllPeak() : null); }
        catch (FormatException e) { throw new UsageException($"{option}: {e.Message}"); }
    }

    public static string SolverName(CliArguments args, string fallback)
    {
        var s = args.Value("--solver") ?? fallback;
        if (!Recompute.Planner.Planning.SolverRegistry.Exists(s))
            throw new UsageException($"unknown solver '{s}'; solvers: {string.Join(", ", Recompute.Planner.Planning.SolverRegistry.Names)}");
        return s;
    }

    /// <summary>Seconds of <c>--time-limit</c> when none is given: <see cref="AutoPortfolio.DefaultTimeLimit"/> for auto, 30 otherwise.</summary>
    public static double DefaultTimeLimit(string solverName) =>
        solverName == AutoPortfolio.Name ? AutoPortfolio.DefaultTimeLimit.TotalSeconds : 30;

    public static SolverOptions SolverOptions(CliArguments args, ComputationGraph graph, long budget, double defaultTimeLimit = 30)
    {
        var objective = (args.Value("--objective") ?? "time") switch
        {
            "time" => Objective.Time,
            "memory" => Objective.Memory,
            var o => throw new UsageException($"--objective must be 'time' or 'memory', not '{o}'"),
        };
        var keep = Pins(args, graph, "--keep");
        var recompute = Pins(args, graph, "--recompute");
        var both = keep.Intersect(recompute).ToList();
        if (both.Count > 0) throw new UsageException($"tensor '{graph[both[0]].Name}' is given to both --keep and --recompute");
        return new SolverOptions
        {
            BudgetBytes = budget,
            Objective = objective,
            TimeLimit = TimeSpan.FromSeconds(args.Double("--time-limit", defaultTimeLimit, 0.001, 86_400)),
            Threads = args.Int("--threads", 0, 0, 1024),
            Seed = args.Int("--seed", 0, 0, int.MaxValue),
            MaxLowerSets = args.Int("--max-lower-sets", 1_000_000, 1, int.MaxValue),
            TimeBuckets = args.Int("--time-buckets", 2000, 10, 1_000_000),
            Keep = keep,
            ForceRecompute = recompute,
        };
    }

    private static ImmutableHashSet<int> Pins(CliArguments args, ComputationGraph graph, string option)
    {
        var v = args.Value(option);
        if (v is null) return [];
        var ids = ImmutableHashSet.CreateBuilder<int>();
        foreach (var name in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!graph.TryFind(name, out int id)) throw new UsageException($"{option}: no tensor named '{name}' in {graph.Source ?? graph.Name}");
            if (!graph[id].IsPlanned) throw new UsageException($"{option}: '{name}' is a {graph[id].Kind.ToString().ToLowerInvariant()}, which is always resident");
            ids.Add(id);
        }
        return ids.ToImmutable();
    }

    /// <summary>Time values with their unit, e.g. "1234 paper units" or "3.2 GFLOP".</summary>
    public static string Time(double t, string unit) => unit switch
    {
        "flop" => t >= 1e12 ? $"{t / 1e12:0.00} TFLOP" : t >= 1e9 ? $"{t / 1e9:0.00} GFLOP" : t >= 1e6 ? $"{t / 1e6:0.00} MFLOP" : $"{t:0} FLOP",
        "s" => $"{t:0.000} s",
        _ => $"{t:0.###} {unit}",
    };

    public static string Percent(double ratio) => $"{ratio * 100:0.00}%";

    public static string Bytes(long b) => $"{ByteSize.Format(b)} ({b} B)";
}
