using Recompute.Cli.Output;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute simulate &lt;graph&gt; &lt;schedule.json&gt;</c>: validate any schedule and report its exact peak and time.</summary>
public sealed class SimulateCommand : ICommand
{
    public string Name => "simulate";
    public string Summary => "validate a schedule and report its peak memory and time";
    public string Usage => """
        recompute simulate <graph> <schedule.json> [--budget B] [--format table|json] [--batch N] [--time-file F]
          --budget B   also check the peak against this budget (default: the budget the schedule states, if any)
          --as-given   the schedule is over the file's DAG as given (written by `plan --as-given`)
        """;

    public int Run(IReadOnlyList<string> argv, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        var args = new CliArguments(argv, CommandSupport.Set(CommandSupport.GraphOptions, ["--format", "--budget"]), CommandSupport.Set(["--as-given"]));
        args.ExpectPositionals(2, Usage.Split('\n')[0]);
        var format = CommandSupport.Format(args);
        var graph = CommandSupport.LoadGraph(args, args.Positional(0, "graph file"));
        var path = args.Positional(1, "schedule file");
        var problem = new PlanningProblem(graph, args.Flag("--as-given"));
        var schedule = ScheduleFormat.Read(path, problem.Training);
        if (args.Value("--budget") is { } b)
            schedule = schedule with { BudgetBytes = CommandSupport.ParseSize("--budget", b, () => RecomputePlanner.StoreAllPeak(problem)) };

        SimulationResult sim;
        try { sim = Simulator.Simulate(schedule); }
        catch (InvalidScheduleException e) { throw new InputFileException($"{path}: invalid schedule: {e.Message}"); }
        long storeAll = RecomputePlanner.StoreAllPeak(problem);

        if (format == "json")
        {
            new JsonOutput()
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
                .WriteTo(stdout);
            return ExitCodes.Success;
        }
        new TextTable()
            .Row("schedule", $"{path}: valid, {schedule.Steps.Length} steps")
            .Row("peak", $"{CommandSupport.Bytes(sim.PeakBytes)} at step {sim.PeakStep}, {CommandSupport.Percent((double)sim.PeakBytes / storeAll)} of store-all")
            .Row("budget", schedule.BudgetBytes is { } bb ? CommandSupport.Bytes(bb) : "not stated")
            .Row("forward time", CommandSupport.Time(sim.ForwardTime, graph.TimeUnit))
            .Row("recompute time", $"{CommandSupport.Time(sim.RecomputeTime, graph.TimeUnit)} (overhead {CommandSupport.Percent(sim.Overhead)})")
            .Row("backward time", CommandSupport.Time(sim.BackwardTime, graph.TimeUnit))
            .WriteTo(stdout);
        return ExitCodes.Success;
    }
}
