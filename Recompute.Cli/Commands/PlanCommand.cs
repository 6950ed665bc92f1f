using Recompute.Cli.Output;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute plan</c>: plan under a budget (or find the smallest budget), prove it by simulation, write the schedule.</summary>
public sealed class PlanCommand : ICommand
{
    public string Name => "plan";
    public string Summary => "plan under a budget (--budget B) or find the smallest feasible one (--min-memory)";
    public string Usage => $"""
        recompute plan <graph> (--budget <B> | --min-memory) [--solver S] [--objective time|memory] [-o schedule.json] [--format table|json]
          --budget B           bytes, KB/MB/GB (10^3), KiB/MiB/GiB (2^10), or a percentage of the store-all peak ("40%")
          --min-memory         the smallest budget the solver plans at (by simulation; also in the paper model for dp and dp-approx)
          --solver S           {string.Join(", ", SolverRegistry.Names)} (default auto: the best plan of the others)
          --objective O        time: least recomputation (default); memory: coarsest chain that fits (canonical DPs)
          -o FILE              write the schedule as JSON (read back by `recompute simulate`)
          --dot FILE           write the graph in Graphviz DOT: kept, boundary and recomputed tensors coloured
          --keep a,b           tensors never to recompute;  --recompute a,b: tensors never to keep
          --time-limit S       seconds for searching solvers (default 30; auto: 5);  --threads N;  --seed N
          --max-lower-sets N   stop the exact DP past this many lower sets (default 1000000)
          --batch N            re-infer an ONNX graph for another batch size;  --time-file F: measured per-node times
          --as-given           schedule the file's DAG as given (Checkmate/Moccasin protocol): every node one task, no
                               derived gradients; "%" budgets are of the file's order run once. chen, dp-approx and dp
                               decline graphs without backward nodes
        """;

    public int Run(IReadOnlyList<string> argv, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        var args = new CliArguments(argv,
            CommandSupport.Set(CommandSupport.GraphOptions, CommandSupport.SolverValueOptions, ["--budget", "-o", "--output", "--format", "--dot"]),
            CommandSupport.Set(["--min-memory", "--as-given"]));
        args.ExpectPositionals(1, Usage.Split('\n')[0]);
        var format = CommandSupport.Format(args);
        bool minMemory = args.Flag("--min-memory");
        if (minMemory == args.Has("--budget")) throw new UsageException("give exactly one of --budget <B> and --min-memory");
        if (args.Has("-o") && args.Has("--output")) throw new UsageException("-o and --output are the same option; give one");
        var output = args.Value("-o") ?? args.Value("--output");
        var solverName = CommandSupport.SolverName(args, AutoPortfolio.Name);

        var graph = CommandSupport.LoadGraph(args, args.Positional(0, "graph file"));
        CommandSupport.ClaimOutput(output, args.Has("-o") ? "-o" : "--output");
        CommandSupport.ClaimOutput(args.Value("--dot"), "--dot");
        var problem = new PlanningProblem(graph, args.Flag("--as-given"));
        if (!RecomputePlanner.Applies(problem, solverName)) throw new UsageException(RecomputePlanner.NotApplicableReason(problem, solverName));
        long? storeAllPeak = null;
        long StoreAll() => storeAllPeak ??= RecomputePlanner.StoreAllPeak(problem);
        long budget = minMemory ? long.MaxValue : CommandSupport.ParseSize("--budget", args.Value("--budget")!, StoreAll);
        var options = CommandSupport.SolverOptions(args, graph, budget, CommandSupport.DefaultTimeLimit(solverName));

        PlanResult plan;
        long? minBudget = null;
        long? smallestFeasible = null;
        try
        {
            if (minMemory)
            {
                var min = RecomputePlanner.MinMemory(problem, solverName, options, cancellation);
                minBudget = min.MinBudgetBytes;
                plan = min.Plan;
                // The simulated figure beside the solver's own (the paper model's for the DPs): the same service as
                // the infeasible answer's.
                smallestFeasible = solverName is AutoPortfolio.Name or "greedy" ? minBudget
                    : FeasibleBudget.Smallest(problem, solverName, options, cancellation)?.BudgetBytes;
            }
            else plan = RecomputePlanner.Plan(problem, solverName, options, cancellation);
        }
        catch (LowerSetLimitException e) { throw new UsageException(e.Message); }
        catch (ArgumentException e) when (e.Message.Contains("minimum-memory")) { throw new UsageException(e.Message); }
        // A searching solver stopped by Ctrl-C or SIGTERM returns its best plan so far, as on its time limit; the
        // command was interrupted all the same: exit 130 and write nothing rather than pass it off as a finished run.
        cancellation.ThrowIfCancellationRequested();

        if (plan.Feasible && output is not null) ScheduleFormat.Write(plan.Schedule!, output, Metadata(plan));
        if (plan.Feasible && args.Value("--dot") is { } dot) Recompute.Planner.Reporting.DotWriter.Write(graph, plan.Schedule, dot);

        long? smallest = null;
        string? smallestSolver = null;
        if (!plan.Feasible && options.BudgetBytes != long.MaxValue)
        {
            // The optimal solver reports the least budget it found feasible (its own search includes greedy's and
            // the DPs'); every other solver asks the one service, for itself, and auto's answer stands in when the
            // solver has none.
            if (solverName == "optimal" && plan.Solver.MinFeasibleBudgetBytes is { } own) (smallest, smallestSolver) = (own, solverName);
            else if (FeasibleBudget.Smallest(problem, solverName, options, cancellation) is { } found) (smallest, smallestSolver) = (found.BudgetBytes, solverName);
            else if (solverName != AutoPortfolio.Name && FeasibleBudget.Smallest(problem, AutoPortfolio.Name, options, cancellation) is { } any)
                (smallest, smallestSolver) = (any.BudgetBytes, AutoPortfolio.Name);
            // The solver's best schedule over the budget may itself be below that figure: then its peak is the answer.
            if (plan.Simulation is { } over && (smallest is null || over.PeakBytes < smallest) &&
                RecomputePlanner.Plan(problem, solverName, options with { BudgetBytes = over.PeakBytes }, cancellation).Feasible)
                (smallest, smallestSolver) = (over.PeakBytes, solverName);
        }

        if (format == "json") WriteJson(stdout, plan, minBudget, smallestFeasible, smallest, smallestSolver, output);
        else WriteTable(stdout, graph, plan, minBudget, smallestFeasible, output);

        if (!plan.Feasible)
        {
            stderr.WriteLine($"recompute plan: no plan fits the budget of {CommandSupport.Bytes(budget)}: {plan.Solver.Reason ?? "infeasible"}" +
                // The optimal solver's reason already names the smallest budget it found; say it once.
                (smallest is { } s && !(smallestSolver == solverName && plan.Solver.MinFeasibleBudgetBytes == s)
                    ? $"; the smallest feasible budget is {CommandSupport.Bytes(s)}" +
                    (smallestSolver != solverName ? $" with --solver {smallestSolver}" : "") : ""));
            return ExitCodes.Infeasible;
        }
        return ExitCodes.Success;
    }

    /// <summary>Recomputation over one run of every task (forward and backward): the Checkmate/Moccasin overhead.</summary>
    private static double ComputeOverhead(SimulationResult sim) =>
        sim.ForwardTime + sim.BackwardTime > 0 ? sim.RecomputeTime / (sim.ForwardTime + sim.BackwardTime) : 0;

    private static Dictionary<string, object?> Metadata(PlanResult plan) => new()
    {
        ["peakBytes"] = plan.Simulation!.PeakBytes,
        ["storeAllPeakBytes"] = plan.StoreAllPeakBytes,
        ["overhead"] = plan.Simulation.Overhead,
    };

    private static void WriteJson(TextWriter stdout, PlanResult plan, long? minBudget, long? smallestFeasible, long? smallest, string? smallestSolver, string? output)
    {
        var sim = plan.Simulation;
        var j = new JsonOutput()
            .Field("solver", plan.Solver.Solver)
            .Field("status", plan.Solver.Status.ToText());
        if (plan.Solver.WinningSolver is { } winner) j.Field("winningSolver", winner);
        if (plan.Solver.Claim is { } claim) j.Field("claim", claim);
        j
            .Field("feasible", plan.Feasible)
            .Field("budgetBytes", minBudget ?? plan.BudgetBytes);
        if (minBudget is not null) j.Field("minBudgetBytes", minBudget).Field("smallestFeasibleBudgetBytes", smallestFeasible);
        j.Field("peakBytes", sim?.PeakBytes)
            .Field("storeAllPeakBytes", plan.StoreAllPeakBytes)
            .Field("paperModelPeakBytes", plan.Solver.PaperModelPeakBytes)
            .Field("forwardTime", sim?.ForwardTime)
            .Field("recomputeTime", sim?.RecomputeTime)
            .Field("backwardTime", sim?.BackwardTime)
            .Field("overhead", sim?.Overhead)
            .Field("paperModelOverhead", plan.Solver.PaperModelOverhead)
            .Field("computeOverhead", sim is null ? (double?)null : ComputeOverhead(sim))
            .Field("lowerBound", plan.Solver.LowerBound)
            .Field("gap", plan.Solver.Gap)
            .Field("recomputeGap", plan.Solver.RecomputeGap)
            .Field("boundSource", plan.Solver.BoundSource)
            .Field("totalCost", plan.Solver.TotalCost)
            .Field("totalLowerBound", plan.Solver.TotalLowerBound)
            .Field("solveSeconds", plan.SolveSeconds)
            .Field("scheduleFile", plan.Feasible ? output : null)
            .Field("timeUnit", plan.Schedule?.Training.Graph.TimeUnit)
            .Field("steps", (long?)plan.Schedule?.Steps.Length)
            .Field("recomputedTensors", plan.Schedule is null ? [] : plan.Schedule.RecomputedNodes.Select(n => plan.Schedule.Training.Graph[n].Name));
        if (plan.Solver.Note is { } note) j.Field("note", note);
        if (!plan.Feasible) j.Field("reason", plan.Solver.Reason).Field("smallestFeasibleBudgetBytes", smallest).Field("smallestFeasibleSolver", smallest is null ? null : smallestSolver);
        j.WriteTo(stdout);
    }

    private static void WriteTable(TextWriter stdout, ComputationGraph graph, PlanResult plan, long? minBudget, long? smallestFeasible, string? output)
    {
        var sim = plan.Simulation;
        var t = new TextTable()
            .Row("graph", graph.Name)
            .Row("solver", $"{plan.Solver.Solver} ({plan.Solver.Status.ToText()})" + (plan.Solver.WinningSolver is { } w ? $": the plan of {w}" : ""));
        if (plan.Solver.Claim is { } claim) t.Row("claim", claim);
        if (minBudget is not null)
        {
            t.Row("smallest feasible budget", smallestFeasible is { } f ? CommandSupport.Bytes(f) + " (simulated)" : "none found");
            if (minBudget != smallestFeasible)
                t.Row("smallest budget", CommandSupport.Bytes(minBudget.Value) + (plan.Solver.PaperModelPeakBytes is not null ? " (paper model)" : ""));
        }
        else t.Row("budget", CommandSupport.Bytes(plan.BudgetBytes));
        t.Row("store-all peak", CommandSupport.Bytes(plan.StoreAllPeakBytes));
        if (sim is not null)
        {
            t.Row("simulated peak", $"{CommandSupport.Bytes(sim.PeakBytes)}, {CommandSupport.Percent((double)sim.PeakBytes / plan.StoreAllPeakBytes)} of store-all");
            if (plan.Solver.PaperModelPeakBytes is { } pm) t.Row("paper-model peak", CommandSupport.Bytes(pm));
            t.Row("forward time", CommandSupport.Time(sim.ForwardTime, graph.TimeUnit))
             .Row("recompute time", $"{CommandSupport.Time(sim.RecomputeTime, graph.TimeUnit)} (overhead {CommandSupport.Percent(sim.Overhead)})");
            var recomputed = plan.Schedule!.RecomputedNodes;
            t.Row("recomputed", recomputed.Length == 0 ? "nothing" : $"{recomputed.Length} tensors: " + string.Join(", ", recomputed.Take(12).Select(n => graph[n].Name)) + (recomputed.Length > 12 ? ", ..." : ""));
        }
        if (sim is not null && plan.Schedule!.Training.HasBackward)
            t.Row("extra compute", $"{CommandSupport.Percent(ComputeOverhead(sim))} of one run of every task");
        if (plan.Solver.LowerBound is { } lb)
            t.Row("lower bound", $"{CommandSupport.Time(lb, graph.TimeUnit)} of recomputation (gap {CommandSupport.Percent(plan.Solver.Gap ?? 0)} of total compute, {CommandSupport.Percent(plan.Solver.RecomputeGap ?? 0)} of recomputation)" +
                (plan.Solver.BoundSource is { } source ? $", from {source}" : ""));
        if (plan.Solver.Note is { } note) t.Row("note", note);
        t.Row("solve time", $"{plan.SolveSeconds:0.000} s");
        if (plan.Feasible && output is not null) t.Row("schedule", output);
        t.WriteTo(stdout);
    }
}
