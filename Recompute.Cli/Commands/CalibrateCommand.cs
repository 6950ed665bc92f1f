using System.CommandLine;
using System.Globalization;
using Recompute.Planner.Files;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Graph;
using Recompute.Runtime.Execution;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>recompute calibrate</c>: runs the graph's ops forward and backward on the runtime with the real shapes and
/// writes the median per-tensor times as a time file that <c>--time-file</c> of plan/simulate/train/inspect accepts.
/// </summary>
public sealed class CalibrateCommand : CliCommand
{
    private readonly GraphInput _input = new();
    private readonly Option<string?> _output = CliOptions.Output("FILE",
        "the time file to write: {\"unit\":\"s\",\"times\":{...},\"backwardTimes\":{...}} (docs/time-file.md)");
    private readonly Option<int> _repeat = CliOptions.Int("--repeat",
        "measured store-all training steps; each time is the median over them", 5, 1, 10_000, "K");
    private readonly Option<int> _warmup = CliOptions.Int("--warmup", "unmeasured steps first", 1, 0, 10_000, "W");
    private readonly Option<int> _seed = CliOptions.Int("--seed", "seed of weights and the synthetic batch", 1, 0, int.MaxValue);
    private readonly Option<int?> _threads = CliOptions.OptionalInt("--threads", "threads per kernel (default: all processors)", 1, 1024);
    private readonly Option<string> _clock = CliOptions.Choice("--clock",
        "wall-clock time (default) or the thread's CPU time (Linux; with --threads 1), which other processes on a busy machine do not inflate", "wall", "wall", "cpu");

    public CalibrateCommand() : base("calibrate", "measure per-op forward and backward times on this machine and write a time file (-o costs.json)",
        "calibrate <graph> -o <costs.json> [options]", "Use the file with: recompute plan|train <graph> --time-file costs.json (and the same --batch).")
    {
        Arguments.Add(_input.Graph);
        Add(_output, _input.Batch, _repeat, _warmup, _seed, _threads, _clock);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        var (stdout, stderr, cancellation) = (context.Stdout, context.Stderr, context.Cancellation);
        var output = parse.GetValue(_output) ?? throw new UsageException("-o <costs.json> is required");
        int repeat = parse.GetValue(_repeat);
        int warmup = parse.GetValue(_warmup);
        int seed = parse.GetValue(_seed);
        var clock = parse.GetValue(_clock) == "cpu" ? ExecutionClock.ThreadCpu : ExecutionClock.WallClock;
        int threads = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        if (clock == ExecutionClock.ThreadCpu && threads != 1)
            throw new UsageException("--clock cpu measures the calling thread only: give --threads 1");
        if (clock == ExecutionClock.ThreadCpu && !OperatingSystem.IsLinux()) throw new UsageException("--clock cpu is available on Linux only");
        var path = _input.Path(parse);
        var outputDir = Path.GetDirectoryName(Path.GetFullPath(output));
        if (outputDir is not null
            && !Directory.Exists(outputDir)) throw new InputFileException($"{output}: the folder {outputDir} does not exist (-o)");
        var graph = _input.Load(parse, context);
        CommandSupport.ClaimOutput(output, CommandSupport.GivenAs(parse, _output));

        CalibrationResult result;
        int previousThreads = Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism;
        try
        {
            Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = threads;
            result = Calibration.Measure(graph, new CalibrationOptions { Repeat = repeat, WarmUp = warmup, Seed = seed, Clock = clock },
                cancellation);
        }
        catch (InvalidOperationException e)
        {
            // An op the runtime cannot run with these attributes or values (a 1-D convolution, a label out of range).
            stderr.WriteLine($"recompute calibrate: {Recompute.Planner.Files.TerminalText.Escape($"{path}: {e.Message}")}");
            return ExitCodes.BadInput;
        }
        finally { Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = previousThreads; }
        var metadata = new List<KeyValuePair<string, string>> { new("source", Path.GetFileName(path)), new("threads",
            threads.ToString(CultureInfo.InvariantCulture)) };
        if (parse.GetValue(_input.Batch) is { } batch) metadata.Add(new("batch", batch.ToString(CultureInfo.InvariantCulture)));
        try { AtomicFile.WriteAllText(output, result.ToJson(metadata)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not Recompute.Planner.Files.OutputRefusedException)
        {
            throw new InputFileException($"{output}: cannot write the time file: {e.Message}");
        }

        var inv = CultureInfo.InvariantCulture;
        stdout.WriteLine($"graph             {Recompute.Planner.Files.TerminalText.Escape(graph.Name)} ({GraphCounts.Of(graph)})");
        stdout.WriteLine(string.Create(inv,
            $"forward           {result.TotalForwardSeconds:0.000000} s (sum of per-tensor medians over {repeat} steps)"));
        stdout.WriteLine(string.Create(inv, $"backward          {result.TotalBackwardSeconds:0.000000} s"));
        stdout.WriteLine(string.Create(inv, $"store-all step    {result.StepSeconds:0.000000} s (median, forward and backward)"));
        stdout.WriteLine("slowest ops (forward + backward, summed over tensors):");
        foreach (var (op, seconds) in graph.Nodes.Where(n => n.IsPlanned)
                     .GroupBy(n => n.Op, StringComparer.Ordinal)
                     .Select(g => (g.Key, g.Sum(n => result.ForwardSeconds[n.Id] + result.BackwardSeconds[n.Id])))
                     .OrderByDescending(x => x.Item2).ThenBy(x => x.Key, StringComparer.Ordinal).Take(5))
            stdout.WriteLine(string.Create(inv, $"  {Recompute.Planner.Files.TerminalText.Escape(op),-24} {seconds:0.000000} s"));
        stdout.WriteLine($"wrote             {Recompute.Planner.Files.TerminalText.Escape(output)}");
        return ExitCodes.Success;
    }
}
