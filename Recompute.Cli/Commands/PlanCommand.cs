using System.CommandLine;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Cli.Commands;

/// <summary><c>recompute plan</c>: plan under a budget (or find the smallest budget), prove it by simulation, write the schedule.</summary>
public sealed class PlanCommand : CliCommand
{
    private readonly GraphInput _input;
    private readonly Option<SizeValue?> _budget = CliOptions.Size("--budget",
        "bytes, KB/MB/GB (10^3), KiB/MiB/GiB (2^10), or a percentage of the store-all peak (\"40%\")");
    private readonly Option<bool> _minMemory = CliOptions.Flag("--min-memory", $"the smallest budget the solver plans at (by simulation; also in the paper model for {SolverName.Dp} and {SolverName.DpApprox})");
    private readonly SolverSettings _solver = new(AutoPortfolio.Name);
    private readonly OffloadSettings _offload = new();
    private readonly Option<string?> _output = CliOptions.Output("FILE", "write the schedule as JSON (read back by `recompute simulate`)");
    private readonly Option<string?> _dot = CliOptions.Text("--dot", "FILE", "write the graph in Graphviz DOT: kept, boundary and recomputed tensors coloured");
    private readonly Option<string> _format = CliOptions.Format();
    private readonly Option<bool> _asGiven = CliOptions.Flag("--as-given",
        $"schedule the file's DAG as given (Checkmate/Moccasin protocol): every node one task, no derived gradients; \"%\" budgets are of the file's order run once. {SolverName.Chen}, {SolverName.DpApprox} and {SolverName.Dp} decline graphs without backward nodes");

    public PlanCommand() : base("plan", "plan under a budget (--budget B) or find the smallest feasible one (--min-memory)",
        "plan <graph> (--budget <B> | --min-memory) [options]")
    {
        _input = new GraphInput();
        Arguments.Add(_input.Graph);
        Add(_budget, _minMemory);
        _solver.AddTo(this);
        Add(_output, _dot, _format, _input.Batch, _input.TimeFile, _input.Device, _input.DType, _asGiven);
        _offload.AddTo(this);
    }

    /// <summary>The least time a searching solver is given when reading the graph took all of --time-limit: it then
    /// answers at once (greedy: store-all if it fits).</summary>
    private static readonly TimeSpan MinimumSearch = TimeSpan.FromMilliseconds(1);

    /// <summary>The least time the search for the smallest feasible budget gets after a plan that used the whole limit.</summary>
    private static readonly TimeSpan HintGrace = TimeSpan.FromSeconds(1);

    public override int Execute(ParseResult parse, CommandContext context)
    {
        var (stdout, stderr, cancellation) = (context.Stdout, context.Stderr, context.Cancellation);
        var threadAtStart = CommandStop.ThreadTime();
        var format = parse.GetValue(_format);
        bool minMemory = parse.GetValue(_minMemory);
        var budgetValue = parse.GetValue(_budget);
        if (minMemory == budgetValue is not null) throw new UsageException("give exactly one of --budget <B> and --min-memory");
        var output = parse.GetValue(_output);
        var solverName = parse.GetValue(_solver.Solver)!;

        var graph = _input.Load(parse, context);
        CommandSupport.ClaimOutput(output, CommandSupport.GivenAs(parse, _output));
        CommandSupport.ClaimOutput(parse.GetValue(_dot), "--dot");
        var problem = new PlanningProblem(graph, parse.GetValue(_asGiven));
        if (!RecomputePlanner.Applies(problem, solverName)) throw new UsageException(RecomputePlanner.NotApplicableReason(problem, solverName));
        var offload = _offload.Read(parse, _input.Profile);
        if (offload is not null && OffloadPlanner.NotApplicableReason(problem) is { } noOffload) throw new UsageException($"--offload: {noOffload}");
        long? storeAllPeak = null;
        long StoreAll() => storeAllPeak ??= RecomputePlanner.StoreAllPeak(problem);
        long budget = minMemory ? SolverOptions.UnlimitedBudget : budgetValue!.Resolve(StoreAll);
        var options = _solver.Read(parse, graph, budget);
        // An option the solver does not read is said, not silently dropped (the plan is the same without it).
        if (_solver.Unread(parse, minMemory ? SolverKnobs.TimeLimit : SolverKnobs.None) is { } unread) stderr.WriteLine($"recompute plan: {unread}");
        // For greedy and optimal, --time-limit bounds the whole command: reading the graph and the store-all reference
        // count against it, and so does the search for the smallest budget below. Auto spends fixed shares of the
        // limit as work (so the same input gives the same plan however long reading took): it gets the limit as given.
        var described = SolverRegistry.Describe(solverName);
        bool timed = described.Can(SolverCapabilities.Searches);
        var limit = options.TimeLimit;
        TimeSpan Left() => limit - context.Elapsed;
        if (timed) options = options with { TimeLimit = Left() > MinimumSearch ? Left() : MinimumSearch };
        // Auto spends shares of the limit as counted work; the wall clock stops it where the limit ends (and CommandStop.Grace),
        // less what reading the graph took and what writing the answer will.
        CommandStop? stopAt = null;
        if (!minMemory && described.Can(SolverCapabilities.Portfolio) && limit < TimeSpan.FromDays(1))
        {
            // The command's thread must also have spent the limit on the processor (reading the graph included): a
            // process starved by others is not cut, so its plan stays the one the same input gives anywhere.
            stopAt = CommandStop.ForAuto(limit, context.Elapsed, threadAtStart + context.SetupThreadTime, problem.Training.Count);
            options = options with { Stop = stopAt.Token };
        }
        using var stopping = stopAt;

        PlanResult plan;
        long? minBudget = null;
        long? smallestFeasible = null;
        long? keepOrRecomputeMin = null;
        // On a terminal, what is being done and for how long (silent when piped or with --format json).
        string doing = minMemory
            ? $"{solverName}: finding the smallest feasible budget"
            : $"{solverName}: planning under {Planner.Units.ByteSize.Format(budget)}" +
              (timed || described.Can(SolverCapabilities.Portfolio) ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $" (time limit {limit.TotalSeconds:0.#} s)") : "");
        using var status = LiveStatus.Begin(context, format == "table", doing);
        // The optimal solver (alone or in auto) tells the status its best plan so far and the gap, live.
        options = options with { Progress = status.SolverListener(doing, graph.TimeUnit) };
        // --min-memory runs every search to its end, so the answer is the same on any machine; a --time-limit given
        // bounds it as the whole command (the same stop as auto's: a process starved by others is not cut before its
        // thread has had the limit), and a search it cuts ends the command without an answer rather than with one
        // that depends on the machine's speed.
        using var minDeadline = minMemory && parse.GetValue(_solver.TimeLimit) is not null
            ? new CommandStop(Left(), limit - (CommandStop.ThreadTime() - threadAtStart)) : null;
        using var minEither = CancellationTokenSource.CreateLinkedTokenSource(cancellation, minDeadline?.Token ?? CancellationToken.None);
        var minToken = minEither.Token;
        try
        {
            if (minMemory && offload is not null)
            {
                status.Say($"{solverName}: finding the smallest feasible budget with offloading to host memory");
                var found = OffloadPlanner.MinMemory(problem, solverName, options, offload, minToken)
                    ?? throw new UsageException($"solver '{solverName}' found no plan at any budget");
                (minBudget, plan, keepOrRecomputeMin) = (found.Found.MinBudgetBytes, found.Found.Plan, found.KeepOrRecomputeBytes);
                smallestFeasible = minBudget;
            }
            else if (minMemory)
            {
                var min = SmallestBudget.MinMemory(problem, solverName, options, minToken);
                minBudget = min.MinBudgetBytes;
                plan = min.Plan;
                // The simulated figure beside the solver's own (the paper model's for the DPs): the same service as
                // the infeasible answer's.
                smallestFeasible = solverName is AutoPortfolio.Name or SolverName.Greedy ? minBudget
                    : SmallestBudget.Bytes(problem, solverName, options, minToken);
            }
            else plan = RecomputePlanner.Plan(problem, solverName, offload is null ? options : OffloadPlanner.KeepOrRecomputeOptions(solverName, options), cancellation);
            if (offload is not null && !minMemory)
            {
                status.Say($"{solverName}: planning with offloading to host memory");
                plan = OffloadPlanner.Improve(problem, plan, options, offload, cancellation);
            }
        }
        catch (ArgumentException e) when (e.Message.Contains("minimum-memory")) { throw new UsageException(e.Message); }
        catch (OperationCanceledException) when (minDeadline is { Token.IsCancellationRequested: true } && !cancellation.IsCancellationRequested)
        {
            status.Dispose();
            stderr.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"recompute plan: the search for the smallest budget did not end within --time-limit {limit.TotalSeconds:0.###} s (raise --time-limit, or leave it out: --min-memory then runs every search to its end)"));
            return ExitCodes.Infeasible;
        }
        // A searching solver stopped by Ctrl-C or SIGTERM returns its best plan so far, as on its time limit; the
        // command was interrupted all the same: exit 130 and write nothing rather than pass it off as a finished run.
        cancellation.ThrowIfCancellationRequested();
        // A solver with nothing to plan on this graph (per-block without module paths): not a budget problem.
        if (plan.Solver.Status == PlanStatus.NotApplicable) throw new UsageException(plan.Solver.Reason ?? $"solver '{solverName}' does not apply to this graph");

        if (plan.Feasible && output is not null) ScheduleFormat.Write(plan.Schedule!, output, Metadata(plan));
        if (plan.Feasible && parse.GetValue(_dot) is { } dot) Recompute.Planner.Reporting.DotWriter.Write(graph, plan.Schedule, dot);

        long? smallest = null;
        string? smallestSolver = null;
        // When the time limit cut the search: the least budget known to plan by then (not the smallest), and whose.
        long? feasible = null;
        string? feasibleSolver = null;
        bool hintCut = false;
        if (!plan.Feasible && options.BudgetBytes != SolverOptions.UnlimitedBudget)
        {
            status.Say($"{solverName}: no plan fits; finding the smallest feasible budget");
            // --time-limit bounds the whole command, the search for the smallest budget included: it gets what is left
            // of the limit, and at least HintGrace, so that a plan that used the whole limit still gets a hint, and
            // the command ends within the limit plus that. Cut, it says so and gives the least budget that plans
            // among those found by then.
            var left = Left() > HintGrace ? Left() : HintGrace;
            using var hintLimit = new CancellationTokenSource();
            if (limit < TimeSpan.FromDays(1)) hintLimit.CancelAfter(left);
            // Auto's members keep the limit as given (it spends shares of it as work, so the same input gives the same
            // hint whenever the search ends in time); the searching solvers get what is left by the clock.
            var hint = SmallestBudget.ForInfeasible(problem, solverName, plan, timed ? options with { TimeLimit = left } : options,
                hintLimit.Token, cancellation);
            (smallest, smallestSolver, feasible, feasibleSolver, hintCut) = (hint.SmallestBytes, hint.SmallestSolver, hint.FeasibleBytes, hint.FeasibleSolver, hint.Cut);
        }
        cancellation.ThrowIfCancellationRequested();

        status.Dispose();
        // No schedule needs less than its largest step: how far a smallest budget can be from the least possible.
        long? floor = (minBudget is not null || !plan.Feasible) && problem.Training.Count > 0 ? problem.Floor.Bytes : null;
        if (format == "json") WriteJson(stdout, plan, minBudget, smallestFeasible, smallest, smallestSolver, feasible, feasibleSolver, floor, output, graph.ActivationDType, offload, keepOrRecomputeMin);
        else WriteTable(stdout, context.Interactive, graph, plan, minBudget, smallestFeasible, floor, output, offload, keepOrRecomputeMin);

        if (!plan.Feasible)
        {
            stderr.WriteLine($"recompute plan: no plan fits the budget of {CommandSupport.Bytes(budget)}: {Recompute.Planner.Files.TerminalText.Escape(plan.Solver.Reason ?? "infeasible")}" +
                // The optimal solver's reason already names the smallest budget it found; say it once.
                (smallest is { } s && !(smallestSolver == solverName && plan.Solver.MinFeasibleBudgetBytes == s)
                    ? $"; the smallest feasible budget is {CommandSupport.Bytes(s)}" +
                    (smallestSolver != solverName ? $" with --solver {smallestSolver}" : "") : "") +
                (hintCut ? feasible is { } f
                    ? $"; a budget of {CommandSupport.Bytes(f)} plans{(feasibleSolver != solverName ? $" with --solver {feasibleSolver}" : "")} (the time limit ended the search for the smallest feasible budget: raise --time-limit for it)"
                    : "; the time limit ran out before the smallest feasible budget was found (raise --time-limit)" : "") +
                (budgetValue?.BareNumberHint() ?? ""));
            return ExitCodes.Infeasible;
        }
        return ExitCodes.Success;
    }

    /// <summary>
    /// The status in words ("optimal", "within 0.10% of the best training step", "best found, no bound", "no plan
    /// fits"); JSON keeps the machine-readable <c>status</c>.
    /// </summary>
    internal static string StatusWords(SolverResult r) => r.Status switch
    {
        PlanStatus.Optimal => "optimal",
        PlanStatus.CanonicalOptimal => "optimal among checkpoint chains (the DP's family); other schedules may cost less",
        PlanStatus.Feasible when r.Gap is { } gap => $"within {CommandSupport.Percent(gap)} of the best training step (a proven bound)",
        PlanStatus.Feasible => "best found, no bound",
        PlanStatus.Infeasible => "no plan fits",
        PlanStatus.NotApplicable => "does not apply to this graph",
        _ => "no plan found within the time limit",
    };


    private static Dictionary<string, object?> Metadata(PlanResult plan)
    {
        var metadata = new Dictionary<string, object?>
        {
            ["peakBytes"] = plan.Simulation!.PeakBytes,
            ["storeAllPeakBytes"] = plan.StoreAllPeakBytes,
            ["overhead"] = plan.Simulation.Overhead,
        };
        if (plan.Schedule!.HasTransfers)
        {
            metadata["hostPeakBytes"] = plan.Simulation.HostPeakBytes;
            metadata["offloadBytes"] = plan.Simulation.OffloadBytes;
            metadata["predictedStepSeconds"] = plan.Simulation.StepSeconds;
        }
        return metadata;
    }

    private static void WriteJson(TextWriter stdout, PlanResult plan, long? minBudget, long? smallestFeasible, long? smallest, string? smallestSolver, long? feasible, string? feasibleSolver, long? floor, string? output, string? dtype, OffloadOptions? offload, long? keepOrRecomputeMin)
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
        if (minBudget is not null) j.Field("minBudgetBytes", minBudget).Field("smallestFeasibleBudgetBytes", smallestFeasible).Field("peakLowerBoundBytes", floor);
        j.Field("peakBytes", sim?.PeakBytes)
            .Field("storeAllPeakBytes", plan.StoreAllPeakBytes)
            .Field("paperModelPeakBytes", plan.Solver.PaperModelPeakBytes)
            .Field("forwardTime", sim?.ForwardTime)
            .Field("recomputeTime", sim?.RecomputeTime)
            .Field("backwardTime", sim?.BackwardTime)
            .Field("overhead", sim?.Overhead)
            .Field("paperModelOverhead", plan.Solver.PaperModelOverhead)
            .Field("computeOverhead", sim is null ? (double?)null : sim.StepOverhead)
            .Field("lowerBound", plan.Solver.LowerBound)
            .Field("gap", plan.Solver.Gap)
            .Field("recomputeGap", plan.Solver.RecomputeGap)
            .Field("boundSource", plan.Solver.BoundSource?.ToText())
            .Field("boundCovers", plan.Solver.BoundCovers)
            .Field("generalLowerBound", plan.Solver.GeneralLowerBound)
            .Field("generalRecomputeGap", plan.Solver.GeneralRecomputeGap)
            .Field("totalCost", plan.Solver.TotalCost)
            .Field("totalLowerBound", plan.Solver.TotalLowerBound)
            .Field("solveSeconds", plan.SolveSeconds)
            .Field("scheduleFile", plan.Feasible ? output : null)
            .Field("timeUnit", plan.Schedule?.Training.Graph.TimeUnit)
            .Field("device", plan.Schedule?.Training.Graph.Device)
            .Field("steps", (long?)plan.Schedule?.Steps.Length)
            .Field("recomputedTensors", plan.Schedule is null ? [] : plan.Schedule.RecomputedNodes.Select(n => plan.Schedule.Training.Graph[n].Name));
        if (plan.Solver.Note is { } note) j.Field("note", note);
        if (!plan.Feasible) j.Field("reason", plan.Solver.Reason).Field("smallestFeasibleBudgetBytes", smallest).Field("smallestFeasibleSolver", smallest is null ? null : smallestSolver)
            .Field("peakLowerBoundBytes", floor);
        // The time limit ended the search for the smallest: a budget that plans, found by then (not the smallest).
        if (!plan.Feasible && feasible is not null) j.Field("feasibleBudgetBytes", feasible).Field("feasibleBudgetSolver", feasibleSolver);
        if (dtype is not null) j.Field("dtype", dtype);
        if (offload is not null) OffloadJson(j, plan, offload);
        // With --min-memory --offload: the smallest budget without offloading, beside the one with it.
        if (keepOrRecomputeMin is not null) j.Field("keepOrRecomputeMinBudgetBytes", keepOrRecomputeMin);
        j.WriteTo(stdout);
    }

    /// <summary>The offload fields: what moves to the host, the link, and the step time beside the plan without offloading.</summary>
    internal static void OffloadJson(JsonOutput j, PlanResult plan, OffloadOptions offload)
    {
        var sim = plan.Simulation;
        j.Field("offloadedTensors", plan.Schedule is null ? [] : plan.Schedule.OffloadedNodes.Select(n => plan.Schedule.Training.Graph[n].Name))
            .Field("offloadBytes", sim?.OffloadBytes)
            .Field("hostPeakBytes", sim?.HostPeakBytes)
            .Field("hostBudgetBytes", offload.HostBudgetBytes == SolverOptions.UnlimitedBudget ? null : offload.HostBudgetBytes)
            .Field("transferSeconds", sim?.TransferSeconds)
            .Field("stallSeconds", sim?.StallSeconds)
            .Field("predictedStepSeconds", sim?.StepSeconds)
            .Field("linkBytesPerSecond", offload.Link.BytesPerSecond)
            .Field("linkLatencySeconds", offload.Link.LatencySeconds)
            .Field("keepOrRecomputeFeasible", plan.KeepOrRecompute?.Feasible ?? plan.Feasible)
            .Field("keepOrRecomputeStepSeconds", plan.KeepOrRecompute is { Feasible: true } kr ? kr.Simulation!.StepSeconds : null)
            .Field("keepOrRecomputeSolver", plan.KeepOrRecompute is { Feasible: true } ks ? ks.Solver.WinningSolver ?? ks.Solver.Solver : null);
    }

    private static void OffloadRows(TextTable t, ComputationGraph graph, PlanResult plan, OffloadOptions offload)
    {
        t.Row("host link", OffloadSettings.Describe(offload.Link) +
            (offload.HostBudgetBytes == SolverOptions.UnlimitedBudget ? ", host memory unlimited" : $", host memory {CommandSupport.Bytes(offload.HostBudgetBytes)}"));
        if (plan.Simulation is not { } sim) return;
        var offloaded = plan.Schedule!.OffloadedNodes;
        t.Row("offloaded", offloaded.Length == 0 ? "nothing (offloading did not shorten the step)"
            : $"{offloaded.Length} tensors, {CommandSupport.Bytes(sim.OffloadBytes)}; host peak {CommandSupport.Bytes(sim.HostPeakBytes)}; transfers {CommandSupport.Time(sim.TransferSeconds, graph.TimeUnit)}, stalls {CommandSupport.Time(sim.StallSeconds, graph.TimeUnit)}");
        t.Row("predicted step", CommandSupport.Time(sim.StepSeconds, graph.TimeUnit) +
            (plan.KeepOrRecompute is { Feasible: true } k && offloaded.Length > 0 ? $" (keep-or-recompute: {CommandSupport.Time(k.Simulation!.StepSeconds, graph.TimeUnit)})"
             : plan.KeepOrRecompute is { Feasible: false } && offloaded.Length > 0 ? " (no keep-or-recompute plan fits)" : ""));
    }

    private static void WriteTable(TextWriter stdout, bool terminal, ComputationGraph graph, PlanResult plan, long? minBudget, long? smallestFeasible, long? floor, string? output, OffloadOptions? offload, long? keepOrRecomputeMin)
    {
        var sim = plan.Simulation;
        var t = new TextTable()
            .Row("graph", graph.Name + (graph.ActivationDType is { } dt ? $" (floating activations as {dt})" : ""))
            .Row("solver", $"{plan.Solver.Solver}: {StatusWords(plan.Solver)}" + (plan.Solver.WinningSolver is { } w ? $" (the plan of {w})" : ""));
        if (plan.Solver.Claim is { } claim) t.Row("claim", claim);
        if (minBudget is not null)
        {
            t.Row("smallest feasible budget", smallestFeasible is { } f ? CommandSupport.Bytes(f) + " (simulated)" : "none found");
            if (minBudget != smallestFeasible)
                t.Row("smallest budget", CommandSupport.Bytes(minBudget.Value) + (plan.Solver.PaperModelPeakBytes is not null ? " (paper model)" : ""));
            if (keepOrRecomputeMin is { } kr) t.Row("without offloading", $"{CommandSupport.Bytes(kr)} (the smallest keep-or-recompute budget)");
            if (floor is { } least) t.Row("no schedule below", $"{CommandSupport.Bytes(least)} (the largest step: one task's output and inputs together)");
        }
        else t.Row("budget", CommandSupport.Bytes(plan.BudgetBytes));
        t.Row("store-all peak", CommandSupport.Bytes(plan.StoreAllPeakBytes));
        if (sim is not null)
        {
            // An infeasible answer shows the closest schedule found: say so, or its figures read as a plan.
            if (!plan.Feasible) t.Row("closest schedule", $"{plan.Schedule!.Solver}'s, which does not fit the budget (its figures follow)");
            t.Row("simulated peak", $"{CommandSupport.Bytes(sim.PeakBytes)}, {CommandSupport.Percent((double)sim.PeakBytes / plan.StoreAllPeakBytes)} of store-all");
            if (plan.Solver.PaperModelPeakBytes is { } pm) t.Row("paper-model peak", CommandSupport.Bytes(pm));
            t.Row("forward time", CommandSupport.Time(sim.ForwardTime, graph.TimeUnit))
             .Row("recompute time", $"{CommandSupport.Time(sim.RecomputeTime, graph.TimeUnit)}: overhead {CommandSupport.Percent(sim.StepOverhead)} of the training step ({CommandSupport.Percent(sim.Overhead)} of the forward)");
            var recomputed = plan.Schedule!.RecomputedNodes;
            if (recomputed.Length == 0) t.Row("recomputed", "nothing");
            else
            {
                // The table names the first few; the JSON and the schedule file (-o) keep every one.
                const int Shown = 10;
                var names = recomputed.Take(Shown).Select(n => graph[n].Name).ToList();
                if (recomputed.Length > Shown) names.Add($"and {recomputed.Length - Shown} more (all in --format json and -o)");
                t.List("recomputed", $"{recomputed.Length} tensors:", names);
            }
        }
        if (plan.Solver.LowerBound is { } lb)
            t.Row("lower bound", $"{CommandSupport.Time(lb, graph.TimeUnit)} of recomputation (gap {CommandSupport.Percent(plan.Solver.Gap ?? 0)} of total compute, {CommandSupport.Percent(plan.Solver.RecomputeGap ?? 0)} of recomputation)" +
                (plan.Solver.BoundSource is { } source ? $", from {source.ToText()}" : "") + (plan.Solver.BoundCovers is { } covers ? $"; holds for {covers}" : ""));
        if (plan.Solver.GeneralLowerBound is { } general && general != plan.Solver.LowerBound)
            t.Row("bound for every schedule", $"{CommandSupport.Time(general, graph.TimeUnit)} of recomputation (gap {CommandSupport.Percent(plan.Solver.GeneralRecomputeGap ?? 0)} of recomputation)");
        if (offload is not null) OffloadRows(t, graph, plan, offload);
        if (plan.Solver.Note is { } note) t.Row("note", note);
        t.Row("solve time", $"{plan.SolveSeconds:0.000} s");
        if (plan.Feasible && output is not null) t.Row("schedule", output);
        t.WriteTo(stdout, terminal);
    }
}
