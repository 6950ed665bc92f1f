using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Cli.Commands;

/// <summary>The graph argument and the options that change how it is loaded (<c>--batch</c>, <c>--time-file</c>),
/// shared by the commands that read a graph.</summary>
internal sealed class GraphInput
{
    public Argument<string> Graph { get; } = CliOptions.Graph();

    public Option<int?> Batch { get; } = CliOptions.OptionalInt("--batch", "re-infer an ONNX graph's shapes for another batch size", 1, 1 << 20);

    public Option<string?> TimeFile { get; } = CliOptions.Text("--time-file", "FILE",
        "measured per-tensor times (recompute calibrate) for the planner instead of the FLOP model");

    /// <summary>
    /// <c>--dtype fp32|bf16|fp16</c>: plan as if the floating-point activations had that width (planning commands only:
    /// the runtime computes in fp32, so train and eval do not take it).
    /// </summary>
    public Option<string> DType { get; } = CliOptions.Choice("--dtype",
        "plan as if the floating activations were fp32, bf16 or fp16 (default: as the file has them)", "", [.. ActivationDTypes.Names]);

    /// <summary>Declares the graph argument, <c>--batch</c> and, unless told otherwise, <c>--time-file</c>.</summary>
    public GraphInput AddTo(Command command, bool timeFile = true)
    {
        command.Arguments.Add(Graph);
        command.Options.Add(Batch);
        if (timeFile) command.Options.Add(TimeFile);
        return this;
    }

    public string Path(ParseResult parse) => parse.GetValue(Graph)!;

    /// <summary>True when the command being run declares the option (maxbatch, for one, has no --batch).</summary>
    private static bool Declared(ParseResult parse, Option option) => parse.CommandResult.Command.Options.Contains(option);

    /// <summary>
    /// <c>--device NAME|FILE</c>: the device whose seconds the planner minimises (see <see cref="DeviceChoice"/>);
    /// declared by the planning commands. Train plans with the default (this CPU) without the option.
    /// </summary>
    public Option<string?> Device { get; } = CliOptions.Text("--device", "NAME|FILE", DeviceChoice.Help);

    /// <summary>True for commands that plan in seconds of the default device without declaring <c>--device</c> (train).</summary>
    public bool PlansOnDefaultDevice { get; init; }

    private (bool Resolved, Recompute.Planner.Devices.DeviceProfile? Profile) _device;

    /// <summary>The device profile the last <see cref="Prepare"/> applied, or null (none, or not applicable).</summary>
    public Recompute.Planner.Devices.DeviceProfile? Profile => _device.Profile;

    /// <summary>Loads the graph, honouring <c>--batch</c>, <c>--time-file</c>, <c>--dtype</c> and the device.</summary>
    public ComputationGraph Load(ParseResult parse, CommandContext context, int? batch = null, bool fusePatterns = true)
    {
        var path = Path(parse);
        var timeFile = Declared(parse, TimeFile) ? parse.GetValue(TimeFile) : null;
        // The loader refuses missing files, directories, FIFOs, devices and files over the size limit of their kind.
        var graph = GraphLoader.Load(path, new GraphLoadOptions
        {
            Batch = batch ?? (Declared(parse, Batch) ? parse.GetValue(Batch) : null), TimeFile = timeFile, FusePatterns = fusePatterns,
        });
        return Prepare(parse, context, graph);
    }

    /// <summary>
    /// A loaded graph as the command plans it: floating activations at <c>--dtype</c>'s width, then times in the
    /// device's seconds when the graph's times are the FLOP model's (measured times and the times a file states stay).
    /// </summary>
    public ComputationGraph Prepare(ParseResult parse, CommandContext context, ComputationGraph graph)
    {
        graph = Declared(parse, DType) && parse.GetValue(DType) is { Length: > 0 } dtype ? ActivationDTypes.Retype(graph, dtype) : graph;
        bool option = Declared(parse, Device);
        if (!option && !PlansOnDefaultDevice) return graph;
        string? given = option ? parse.GetValue(Device) : null;
        if (!Recompute.Planner.Devices.DeviceProfile.CanApply(graph))
        {
            if (given is not null && !string.Equals(given, Recompute.Planner.Devices.DeviceProfile.FlopModel, StringComparison.OrdinalIgnoreCase))
                context.Stderr.WriteLine($"recompute {parse.CommandResult.Command.Name}: --device {Recompute.Planner.Files.TerminalText.Escape(given)} does not apply: " +
                    $"{Recompute.Planner.Files.TerminalText.Escape(graph.Name)} has {Recompute.Planner.Units.TimeUnits.Describe(graph.TimeUnit)} as its times");
            return graph;
        }
        if (!_device.Resolved)
            _device = (true, DeviceChoice.Resolve(given ?? DeviceChoice.DefaultName(), parse.CommandResult.Command.Name, context.Stderr,
                context.Cancellation, context));
        return DeviceChoice.Apply(_device.Profile, graph);
    }
}

/// <summary>The options every planning command passes to its solver.</summary>
internal sealed class SolverSettings(string defaultSolver = AutoPortfolio.Name)
{
    public Option<string> Solver { get; } = CliOptions.Solver(defaultSolver);

    public Option<string> Objective { get; } = CliOptions.Choice("--objective",
        "time: least recomputation (default); memory: coarsest chain that fits (canonical DPs)", "time", "time", "memory");

    public Option<double?> TimeLimit { get; } = CliOptions.OptionalDouble("--time-limit",
        $"seconds for the searching solvers ({string.Join(", ", SolverRegistry.Descriptors.Where(d => d.Can(SolverCapabilities.Searches) || d.Can(SolverCapabilities.Portfolio)).Select(d => d.Name))}) and for the search of the smallest feasible budget after an infeasible plan " + CommandSupport.TimeLimitDefaults, 0.001, 86_400, "S");

    public Option<int> Threads { get; } = CliOptions.Int("--threads", "solver threads (0: all processors)", 0, 0, 1024);

    public Option<int> Seed { get; } = CliOptions.Int("--seed", "random seed of searching solvers", 0, 0, int.MaxValue);

    public Option<int> MaxLowerSets { get; } = CliOptions.Int("--max-lower-sets", "stop the exact DP past this many lower sets", 1_000_000,
        1, int.MaxValue);

    public Option<string?> Keep { get; } = CliOptions.Text("--keep", "a,b", "tensors never to recompute");

    public Option<string?> Recompute { get; } = CliOptions.Text("--recompute", "a,b", "tensors never to keep");

    public Option<int> TimeBuckets { get; } = CliOptions.Int("--time-buckets", "time resolution of the DPs over real-valued costs", 2000,
        10, 1_000_000);

    /// <summary>
    /// The options given on the command line that the solver chosen does not read (its descriptor's
    /// <see cref="SolverDescriptor.Knobs"/>; <c>--objective memory</c> for a solver without the memory objective), in
    /// one sentence for stderr, or null when every option given has an effect.
    /// </summary>
    /// <param name="parse">The command line.</param>
    /// <param name="command">Knobs the command itself reads whatever the solver (<c>plan --min-memory</c> reads
    /// <c>--time-limit</c> as its own bound).</param>
    public string? Unread(ParseResult parse, SolverKnobs command = SolverKnobs.None)
    {
        var described = SolverRegistry.Describe(parse.GetValue(Solver)!);
        // The knobs' options by the names SolverKnobText gives them: one table of which option is which knob.
        var declared = new Option[] { TimeLimit, Threads, Seed, MaxLowerSets, TimeBuckets }.ToDictionary(o => o.Name);
        var unread = SolverKnobText.Options.Where(k => parse.GetResult(declared[k.Option]) is { Implicit: false } && ((described.Knobs | command) & k.Knob) == 0)
            .Select(k => k.Option).ToList();
        if (parse.GetValue(Objective) == "memory" && !described.Can(SolverCapabilities.MemoryObjective)
            && !described.Can(SolverCapabilities.Portfolio))
            unread.Insert(0, "--objective memory");
        if (unread.Count == 0) return null;
        return $"{string.Join(", ", unread)} {(unread.Count == 1 ? "does" : "do")} not affect solver '{described.Name}' (it reads {described.Knobs.ToText()}" +
               (described.Can(SolverCapabilities.MemoryObjective) || described.Can(SolverCapabilities.Portfolio) ? " and --objective" : "") + ")";
    }

    public SolverSettings AddTo(Command command)
    {
        foreach (var o in new Option[] { Solver, Objective, Keep, Recompute, TimeLimit, Threads, Seed, MaxLowerSets,
            TimeBuckets }) command.Options.Add(o);
        return this;
    }

    /// <summary>The solver's options for a loaded graph (pins are tensor names, checked against it).</summary>
    public SolverOptions Read(ParseResult parse, ComputationGraph graph, long budget)
    {
        var keep = Pins(parse, Keep, graph);
        var recompute = Pins(parse, Recompute, graph);
        var both = keep.Intersect(recompute).ToList();
        if (both.Count > 0) throw new UsageException($"tensor '{graph[both[0]].Name}' is given to both --keep and --recompute");
        return new SolverOptions
        {
            BudgetBytes = budget,
            Objective = parse.GetValue(Objective) == "memory" ? Planner.Solvers.Objective.Memory : Planner.Solvers.Objective.Time,
            TimeLimit = TimeSpan.FromSeconds(CommandSupport.TimeLimitSeconds(parse, TimeLimit, parse.GetValue(Solver)!)),
            Threads = parse.GetValue(Threads),
            Seed = parse.GetValue(Seed),
            MaxLowerSets = parse.GetValue(MaxLowerSets),
            TimeBuckets = parse.GetValue(TimeBuckets),
            Keep = keep,
            ForceRecompute = recompute,
        };
    }

    private static ImmutableHashSet<int> Pins(ParseResult parse, Option<string?> option, ComputationGraph graph)
    {
        var v = parse.GetValue(option);
        if (v is null) return [];
        var ids = ImmutableHashSet.CreateBuilder<int>();
        foreach (var name in v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!graph.TryFind(name,
                out int id)) throw new UsageException($"{option.Name}: no tensor named '{name}' in {graph.Source ?? graph.Name}");
            if (!graph[id].IsPlanned) throw new UsageException($"{option.Name}: '{name}' is a {graph[id].Kind.ToString().ToLowerInvariant()}, which is always resident");
            ids.Add(id);
        }
        return ids.ToImmutable();
    }
}

/// <summary>Formatting and checks shared by the commands.</summary>
internal static class CommandSupport
{
    /// <summary>Seconds of <c>--time-limit</c> when none is given: the solver's <see
    /// cref="SolverDescriptor.DefaultTimeLimit"/> (auto: 5, others: 30).</summary>
    public static double DefaultTimeLimit(string solverName) =>
        SolverRegistry.Exists(solverName) ? SolverRegistry.Describe(solverName).DefaultTimeLimit.TotalSeconds : 30;

    /// <summary>The help's words for the time limit's defaults, from the descriptors: "[default: 5 for auto, 30 for the others]".</summary>
    public static string TimeLimitDefaults => string.Create(CultureInfo.InvariantCulture,
        $"[default: {DefaultTimeLimit(SolverName.Auto)} for auto, {DefaultTimeLimit(SolverName.Greedy)} for the others]");

    /// <summary>The <c>--time-limit</c> given, or the solver's default (<see cref="DefaultTimeLimit"/>) when it was not.</summary>
    public static double TimeLimitSeconds(ParseResult parse, Option<double?> option, string solverName) =>
        parse.GetValue(option) ?? DefaultTimeLimit(solverName);

    /// <summary>
    /// Claims an output of the command before the work starts (after the inputs are read): refuses an empty path,
    /// a target that is not a regular file, an input of the command, the output of another option, or a folder that
    /// cannot take it (missing, a file, read-only).
    /// </summary>
    public static void ClaimOutput(string? path, string option, bool folderMadeLater = false)
    {
        if (path is null) return;
        if (CommandFiles.Current is { } files) files.ClaimOutput(path, option, folderMadeLater);
        else
        {
            Recompute.Planner.Files.OutputTarget.Check(path, option);
            if (!folderMadeLater) Recompute.Planner.Files.OutputTarget.CheckFolder(path);
        }
    }

    /// <summary>The name the option was given under ("-o" or "--output"), for messages.</summary>
    public static string GivenAs(ParseResult parse, Option option) => parse.GetResult(option)?.IdentifierToken?.Value ?? option.Name;

    /// <summary>Time values with their unit, e.g. "1234 paper units" or "3.20 GFLOP".</summary>
    public static string Time(double t, string unit) => TimeUnits.Format(t, unit);

    public static string Percent(double ratio) => $"{ratio * 100:0.00}%";

    /// <summary>"1.25 GiB (1342177280 B)"; below a KiB just "40 B".</summary>
    public static string Bytes(long b) => b < 1024 ? ByteSize.Format(b) : $"{ByteSize.Format(b)} ({b} B)";
}
