using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Planner.Reporting;
using Recompute.Runtime.Execution;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>recompute calibrate</c>: runs the graph's ops forward and backward on the runtime with the real shapes and
/// writes the median per-tensor times as a time file that <c>--time-file</c> of plan/simulate/train/inspect accepts.
/// </summary>
public sealed class CalibrateCommand : ICommand
{
    public string Name => "calibrate";
    public string Summary => "measure per-op forward and backward times on this machine and write a time file (-o costs.json)";
    public string Usage => """
        recompute calibrate <graph> -o <costs.json> [--batch N] [--repeat K] [--warmup W] [--seed N] [--threads N] [--clock wall|cpu]
          -o, --output F       the time file to write: {"unit":"s","times":{...},"backwardTimes":{...}} (docs/time-file.md)
          --batch N            re-infer an ONNX graph for another batch size (plan with the same --batch)
          --repeat K           measured store-all training steps; each time is the median over them (default 5)
          --warmup W           unmeasured steps first (default 1)
          --seed N             seed of weights and the synthetic batch (default 1)
          --threads N          threads per kernel (default: all processors)
          --clock wall|cpu     wall-clock time (default) or the thread's CPU time (Linux; with --threads 1), which other
                               processes on a busy machine do not inflate
        Use the file with: recompute plan|train <graph> --time-file costs.json (and the same --batch).
        """;

    public int Run(IReadOnlyList<string> argv, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        var args = new CliArguments(argv,
            new HashSet<string>(["-o", "--output", "--batch", "--repeat", "--warmup", "--seed", "--threads", "--clock"], StringComparer.Ordinal),
            new HashSet<string>(StringComparer.Ordinal));
        args.ExpectPositionals(1, Usage.Split('\n')[0]);
        if (args.Has("-o") && args.Has("--output")) throw new UsageException("-o and --output are the same option; give one");
        var output = args.Value("-o") ?? args.Value("--output") ?? throw new UsageException("-o <costs.json> is required");
        int repeat = args.Int("--repeat", 5, 1, 10_000);
        int warmup = args.Int("--warmup", 1, 0, 10_000);
        int seed = args.Int("--seed", 1, 0, int.MaxValue);
        var clock = (args.Value("--clock") ?? "wall") switch
        {
            "wall" => ExecutionClock.WallClock,
            "cpu" => ExecutionClock.ThreadCpu,
            var c => throw new UsageException($"--clock must be 'wall' or 'cpu', not '{c}'"),
        };
        int threads = args.Int("--threads", Environment.ProcessorCount, 1, 1024);
        if (clock == ExecutionClock.ThreadCpu && threads != 1)
            throw new UsageException("--clock cpu measures the calling thread only: give --threads 1");
        if (clock == ExecutionClock.ThreadCpu && !OperatingSystem.IsLinux()) throw new UsageException("--clock cpu is available on Linux only");
        var path = args.Positional(0, "graph file");
        var outputDir = Path.GetDirectoryName(Path.GetFullPath(output));
        if (outputDir is not null && !Directory.Exists(outputDir)) throw new InputFileException($"{output}: the folder {outputDir} does not exist (-o)");
        var graph = CommandSupport.LoadGraph(args, path);
        CommandSupport.ClaimOutput(output, args.Has("-o") ? "-o" : "--output");

        CalibrationResult result;
        int previousThreads = Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism;
        try
        {
            Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = threads;
            result = Calibration.Measure(graph, new CalibrationOptions { Repeat = repeat, WarmUp = warmup, Seed = seed, Clock = clock }, cancellation);
        }
        catch (InvalidOperationException e)
        {
            // An op the runtime cannot run with these attributes or values (a 1-D convolution, a label out of range).
            stderr.WriteLine($"recompute calibrate: {path}: {e.Message}");
            return ExitCodes.BadInput;
        }
        finally { Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = previousThreads; }
        var metadata = new List<KeyValuePair<string, string>> { new("source", Path.GetFileName(path)), new("threads", threads.ToString(CultureInfo.InvariantCulture)) };
        if (args.Has("--batch")) metadata.Add(new("batch", args.Int("--batch", 1, 1, 1 << 20).ToString(CultureInfo.InvariantCulture)));
        try { AtomicFile.WriteAllText(output, result.ToJson(metadata)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not Recompute.Planner.Files.OutputRefusedException)
        {
            throw new InputFileException($"{output}: cannot write the time file: {e.Message}");
        }

        var inv = CultureInfo.InvariantCulture;
        int planned = graph.Nodes.Count(n => n.IsPlanned);
        stdout.WriteLine($"graph             {graph.Name} ({planned} planned tensors)");
        stdout.WriteLine(string.Create(inv, $"forward           {result.TotalForwardSeconds:0.000000} s (sum of per-tensor medians over {repeat} steps)"));
        stdout.WriteLine(string.Create(inv, $"backward          {result.TotalBackwardSeconds:0.000000} s"));
        stdout.WriteLine(string.Create(inv, $"store-all step    {result.StepSeconds:0.000000} s (median, forward and backward)"));
        stdout.WriteLine("slowest ops (forward + backward, summed over tensors):");
        foreach (var (op, seconds) in graph.Nodes.Where(n => n.IsPlanned)
                     .GroupBy(n => n.Op, StringComparer.Ordinal)
                     .Select(g => (g.Key, g.Sum(n => result.ForwardSeconds[n.Id] + result.BackwardSeconds[n.Id])))
                     .OrderByDescending(x => x.Item2).ThenBy(x => x.Key, StringComparer.Ordinal).Take(5))
            stdout.WriteLine(string.Create(inv, $"  {op,-24} {seconds:0.000000} s"));
        stdout.WriteLine($"wrote             {output}");
        return ExitCodes.Success;
    }
}
