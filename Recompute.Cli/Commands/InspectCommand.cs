using System.CommandLine;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute inspect &lt;graph&gt;</c>: what the graph holds and what store-all training costs.</summary>
public sealed class InspectCommand : CliCommand
{
    private readonly GraphInput _input;
    private readonly Option<string> _format = CliOptions.Format();
    private readonly Option<bool> _noFuse = new("--no-fuse")
    {
        Description = "ONNX: the file node by node, as ONNX's own shape inference counts it (default: decomposed LayerNorm and GELU as the fused ops frameworks run)",
    };
    private readonly Option<int> _maxLowerSets = CliOptions.Int("--max-lower-sets", "count lower sets up to this many", 100_000, 1, int.MaxValue);

    public InspectCommand() : base("inspect", "nodes, edges, op histogram, activation/parameter bytes, lower-set count", "inspect <graph> [options]")
    {
        _input = new GraphInput().AddTo(this);
        Add(_format, _maxLowerSets, _noFuse, _input.Device, _input.DType);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        var stdout = context.Stdout;
        var format = parse.GetValue(_format);
        var graph = _input.Load(parse, context, fusePatterns: !parse.GetValue(_noFuse));
        var problem = new PlanningProblem(graph);
        long limit = parse.GetValue(_maxLowerSets);
        long? lowerSets;
        try { lowerSets = LowerSetFamily.All(problem.Forward, limit).Count; }
        catch (LowerSetLimitException e)
        {
            // Past the limit, or past what fits in memory (then the count known to be exceeded is lower).
            lowerSets = null;
            limit = e.Limit;
        }
        var storeAll = RecomputePlanner.StoreAll(problem);
        // Planned bytes with views aliased to their base (a view owns no buffer); activationBytes stays the logical sum.
        long physical = problem.Training.Tasks.Where(t => t.Kind == TaskKind.Forward).Aggregate(0L, (sum, t) => checked(sum + t.Bytes));
        var ops = graph.OperationHistogram;
        int operations = ops.Values.Sum();

        if (format == "json")
        {
            var json = new JsonOutput()
                .Field("graph", graph.Name)
                .Field("nodes", (long)operations)
                .Field("edges", (long)graph.EdgeCount)
                .Field("tensors", (long)graph.Count)
                .Field("plannedTensors", (long)problem.Forward.Count)
                .Field("activationBytes", graph.OperationOutputBytes)
                .Field("plannedBytes", graph.ActivationBytes)
                .Field("physicalPlannedBytes", physical)
                .Field("parameterBytes", graph.ParameterBytes)
                .Field("inputBytes", graph.InputBytes)
                .Field("constantBytes", graph.ConstantBytes)
                .Field("ops", ops)
                .Field("lowerSets", lowerSets)
                .Field("lowerSetLimit", limit)
                .Field("storeAllPeakBytes", storeAll.Simulation.PeakBytes)
                .Field("fusedPatterns", (long)graph.FusedPatterns)
                .Field("timeUnit", graph.TimeUnit)
                .Field("device", graph.Device)
                .Field("forwardTime", storeAll.Simulation.ForwardTime)
                .Field("backwardTime", storeAll.Simulation.BackwardTime)
                .Field("explicitBackward", graph.HasExplicitBackward);
            if (graph.ActivationDType is { } dtype) json.Field("dtype", dtype);
            json.WriteTo(stdout);
            return ExitCodes.Success;
        }
        new TextTable()
            .Row("graph", $"{graph.Name} ({graph.Source})" + (graph.ActivationDType is { } dt ? $", floating activations as {dt} (--dtype)" : ""))
            .Row("operations",
                operations.ToString() + (graph.FusedPatterns > 0 ? $" ({graph.FusedPatterns} decomposed LayerNorm and GELU patterns planned as fused ops; --no-fuse: the file as written)" : ""))
            .Row("tensors", $"{graph.Count} ({problem.Forward.Count} planned, the rest inputs, parameters and constants)")
            .Row("edges", graph.EdgeCount.ToString())
            .Row("activations",
                CommandSupport.Bytes(graph.OperationOutputBytes) + $", {ByteSize.Format(graph.ActivationBytes)} of them planned, {ByteSize.Format(physical)} in buffers of their own (views share their base's)")
            .Row("parameters", CommandSupport.Bytes(graph.ParameterBytes))
            .Row("inputs", CommandSupport.Bytes(graph.InputBytes))
            .Row("lower sets", lowerSets?.ToString() ?? $"more than {limit}")
            .Row("store-all peak", CommandSupport.Bytes(storeAll.Simulation.PeakBytes) + " (activations and their gradients)")
            .Row("forward time", CommandSupport.Time(storeAll.Simulation.ForwardTime,
                graph.TimeUnit) + (graph.Device is { } device ? $" on {device} (backward {CommandSupport.Time(storeAll.Simulation.BackwardTime, graph.TimeUnit)})" : ""))
            .Row("backward", graph.HasExplicitBackward ? "explicit in the file" : "derived from the forward graph")
            .WriteTo(stdout, context.Interactive);
        stdout.WriteLine();
        var table = new ColumnTable("op", "count");
        foreach (var (op, count) in ops.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)) table.Add(op,
            count.ToString());
        table.WriteTo(stdout, context.Interactive, false, true);
        return ExitCodes.Success;
    }
}
