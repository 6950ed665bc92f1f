using System.CommandLine;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute simulate &lt;graph&gt; &lt;schedule.json&gt;</c>: validate any schedule and report its exact peak and time.</summary>
public sealed class SimulateCommand : CliCommand
{
    private readonly GraphInput _input = new();
    private readonly Argument<string> _schedule = CliOptions.File("schedule", "a schedule written by `recompute plan -o`, or by another tool in the same format");
    private readonly Option<SizeValue?> _budget = CliOptions.Size("--budget", "also check the peak against this budget (default: the budget the schedule states, if any)");
    private readonly Option<string> _format = CliOptions.Format();
    private readonly Option<bool> _asGiven = CliOptions.Flag("--as-given", "the schedule is over the file's DAG as given (written by `plan --as-given`)");
    private readonly OffloadSettings _offload = new();

    public SimulateCommand() : base("simulate", "validate a schedule and report its peak memory and time", "simulate <graph> <schedule.json> [options]")
    {
        Arguments.Add(_input.Graph);
        Arguments.Add(_schedule);
        Add(_budget, _format, _input.Batch, _input.TimeFile, _input.Device, _asGiven);
        _offload.AddTo(this);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        var stdout = context.Stdout;
        var format = parse.GetValue(_format);
        var graph = _input.Load(parse, context);
        var path = parse.GetValue(_schedule)!;
        var problem = new PlanningProblem(graph, parse.GetValue(_asGiven));
        var schedule = ScheduleFormat.Read(path, problem.Training);
        if (parse.GetValue(_budget) is { } b)
            schedule = schedule with { BudgetBytes = b.Resolve(() => RecomputePlanner.StoreAllPeak(problem)) };
        // A version 2 schedule states its link and host budget; --offload and --host-memory replay it under others.
        if (_offload.Read(parse, _input.Profile) is { } offload)
            schedule = schedule with
            {
                Link = offload.Link,
                HostBudgetBytes = offload.HostBudgetBytes == SolverOptions.UnlimitedBudget ? schedule.HostBudgetBytes : offload.HostBudgetBytes,
            };

        SimulationResult sim;
        try { sim = Simulator.Simulate(schedule); }
        catch (InvalidScheduleException e) { throw new InputFileException($"{path}: invalid schedule: {e.Message}"); }
        long storeAll = RecomputePlanner.StoreAllPeak(problem);

        if (format == "json")
        {
            var json = new JsonOutput()
                .Field("valid", true)
                .Field("steps", (long)schedule.Steps.Length)
                .Field("budgetBytes", schedule.BudgetBytes)
                .Field("peakBytes", sim.PeakBytes)
                .Field("peakStep", (long)sim.PeakStep)
                .Field("storeAllPeakBytes", storeAll)
                .Field("forwardTime", sim.ForwardTime)
                .Field("recomputeTime", sim.RecomputeTime)
                .Field("backwardTime", sim.BackwardTime)
                .Field("overhead", sim.Overhead)
                .Field("timeUnit", graph.TimeUnit)
                .Field("recomputedTensors", schedule.RecomputedNodes.Select(n => graph[n].Name))
                .Field("predictedStepSeconds", graph.TimeUnit == "s" ? sim.StepSeconds : null);
            if (schedule.HasTransfers)
                json.Field("offloadedTensors", schedule.OffloadedNodes.Select(n => graph[n].Name))
                    .Field("offloadBytes", sim.OffloadBytes)
                    .Field("hostPeakBytes", sim.HostPeakBytes)
                    .Field("hostBudgetBytes", schedule.HostBudgetBytes)
                    .Field("transferSeconds", sim.TransferSeconds)
                    .Field("stallSeconds", sim.StallSeconds);
            json.WriteTo(stdout);
            return ExitCodes.Success;
        }
        var table = new TextTable()
            .Row("schedule", $"{path}: valid, {schedule.Steps.Length} steps")
            .Row("peak", $"{CommandSupport.Bytes(sim.PeakBytes)} at step {sim.PeakStep}, {CommandSupport.Percent((double)sim.PeakBytes / storeAll)} of store-all")
            .Row("budget", schedule.BudgetBytes is { } bb ? CommandSupport.Bytes(bb) : "not stated")
            .Row("forward time", CommandSupport.Time(sim.ForwardTime, graph.TimeUnit))
            .Row("recompute time", $"{CommandSupport.Time(sim.RecomputeTime, graph.TimeUnit)} (overhead {CommandSupport.Percent(sim.Overhead)})")
            .Row("backward time", CommandSupport.Time(sim.BackwardTime, graph.TimeUnit));
        if (schedule.HasTransfers)
            table.Row("host link", OffloadSettings.Describe(schedule.Link!))
                .Row("offloaded", $"{schedule.OffloadedNodes.Length} tensors, {CommandSupport.Bytes(sim.OffloadBytes)}; host peak {CommandSupport.Bytes(sim.HostPeakBytes)}")
                .Row("transfers", $"{CommandSupport.Time(sim.TransferSeconds, graph.TimeUnit)} on the link, {CommandSupport.Time(sim.StallSeconds, graph.TimeUnit)} of compute stalled")
                .Row("predicted step", CommandSupport.Time(sim.StepSeconds, graph.TimeUnit) + " (critical path: compute and stalls)");
        table.WriteTo(stdout, context.Interactive);
        return ExitCodes.Success;
    }
}
