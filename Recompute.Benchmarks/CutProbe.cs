using System.Diagnostics;
using System.Globalization;
using Google.OrTools.Sat;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Benchmarks;

/// <summary>
/// The quick table <c>cut-probe</c>: the cut relaxation (<see cref="CutRelaxation"/>) of a shipped graph at a budget,
/// on chains of cuts chosen by hand, to see how much a relaxation proves with more work than the bound's share.
/// <c>--graphs</c> and <c>--fractions</c> choose the rows (default ResNet-50 at 30 %), <c>--seconds S</c> is CP-SAT's
/// wall-clock limit per chain (two workers, no work limit). The chains come from the environment, since they are
/// positions on the row's cut path (<see cref="CutAnalysis.Path"/>): <c>PROBE_WINDOWS="153;153,281-300;100-300-10"</c>
/// (chains separated by <c>;</c>, each a list of positions and ranges <c>a-b</c> or <c>a-b-step</c>);
/// <c>PROBE_PATH=1</c> lists the path (position, task, excess, pending buffers); <c>PROBE_DROPS=1</c> lists what the
/// best solution found drops at each cut; <c>PROBE_LOWER=1</c> lowers what it drops at the chain's first cut
/// (<see cref="GuidedLowering"/>, each order and window, and its fitted lowering) and prints each schedule's recompute
/// time and peak, writing the cheapest that fits to <c>PROBE_LOWER_OUT</c> when set; <c>PROBE_SCHEDULE=FILE</c> lists
/// a schedule's recompute steps by op and by buffer, the steps where its live memory is within 1 % of its budget and, with
/// <c>PROBE_LIVE_AT=TASK</c>, the buffers live when that backward task runs (<c>PROBE_LOWER_LIST=1</c> lists the lowering of
/// the first order that keeps every recomputed buffer the same way); <c>PROBE_DROPS=1</c> also lists each cut's kept
/// buffers and each interval's re-runs by op; <c>PROBE_GROW=N</c> grows each chain by up to N cuts where its solution
/// overflows (<see cref="CutGrowth.Grow"/>), each round searched within <c>--seconds</c>, or work-limited to
/// <c>PROBE_GROW_DET</c> deterministic seconds when set; <c>PROBE_BOUNDWINDOWS=1</c> lists the bound's windows
/// (<see cref="GeneralBound.Windows"/>) with their linear relaxations' optima; with <c>PROBE_LOWER=1</c> and
/// <c>PROBE_LOWER_CUT=POSITION</c> each grown chain's drop set at that path position's cut is lowered too;
/// <c>PROBE_DET=D</c> limits each chain's search as work, to D deterministic seconds; <c>PROBE_CUT_NAMES</c> (task
/// names, <c>;</c>-separated) adds those tasks to every chain as cuts; <c>PROBE_TASKS</c> (names, a trailing <c>*</c>
/// a prefix) lists each task's inputs and readers; <c>PROBE_EXTRA_DROP</c> (names) adds buffers to every drop set
/// lowered; <c>PROBE_FIT_TRACE=1</c> prints each round of the fitted lowering (its first overflow and what it frees);
/// <c>PROBE_STEPS=a-b</c> lists those steps of the listed lowering with the live memory after each. A chain's positions
/// may also be task ids (<c>t799</c>) or task names (<c>=grad(...)</c>). With <c>PROBE_LOWER</c>: <c>PROBE_LOWER_MASKS=1</c>
/// also drops the buffers the solution leaves for after the cut (<see cref="CutRelaxation.LeftForLaterAt(CpSolver, int)"/>:
/// masks and statistics first run where the backward pass needs them), <c>PROBE_LOWER_DEFER=1</c> moves each lowering's
/// first runs that are freed unread (<see cref="FirstRuns.Defer"/>), <c>PROBE_DEEP_FIRST=1</c> lowers deepest input first
/// (<see cref="GuidedLowering.Lower"/>), <c>PROBE_LOWER_LP=1</c> lowers the linear relaxation's point as well,
/// <c>PROBE_LOWER_OVER="order K window W"</c> lists what is live where that lowering overflows most; <c>PROBE_SHRINK=N</c>
/// gives each chain's relaxation N bytes less than the budget (a lowering then has that much room for what the
/// relaxation does not count). <c>PROBE_BOUND=1</c> proves the general bound as auto does at its default limit
/// (<see cref="GeneralBound.Prove"/> with the bound's share) and prints it, the cuts that proved it, CP-SAT's status and
/// the seconds of wall clock and of processor time (with <c>PROBE_PLAN=FILE</c>, that schedule, read first, as auto's plan so far); <c>PROBE_HINT=FILE</c> hints each
/// chain's search with the point that schedule maps to (<see cref="CutRelaxation.Hint"/>); a lowering that overflows names the step where it peaks and the first step over the budget. Per chain: cuts, decisions, the linear relaxation's optimum, CP-SAT's status, bound and
/// best objective (time units), seconds and deterministic seconds.
/// </summary>
public static class CutProbe
{
    /// <summary>Prints the probe for each graph and fraction.</summary>
    public static void Table(QuickTableOptions options)
    {
        var o = Console.Out;
        foreach (var file in options.Graphs ?? ["resnet50-b64.onnx"])
        {
            var problem = new PlanningProblem(GraphLoader.Load(RepositoryPaths.Graph(file)));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in options.Fractions ?? [0.3])
            {
                long budget = (long)(storeAll * fraction);
                var analysis = new CutAnalysis(problem.Training, budget);
                var tasks = problem.Training.Tasks;
                o.WriteLine($"{file} {fraction} budget {budget} path {analysis.Path.Count}");
                if (Environment.GetEnvironmentVariable("PROBE_PATH") == "1")
                    for (int i = 0; i < analysis.Path.Count; i++)
                    {
                        int x = analysis.Path[i];
                        o.WriteLine($"  {i} t{x} {tasks[x].Name} excess {analysis.Excess[x] / 1048576.0:F0} MiB pending {analysis.Pending[x]}");
                    }
                // PROBE_TASKS: task names (';'-separated, a name ending in '*' a prefix): each one's inputs and readers.
                foreach (var name in (Environment.GetEnvironmentVariable("PROBE_TASKS") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
                    foreach (var t in tasks.Where(t => name.EndsWith('*') ? t.Name.StartsWith(name[..^1], StringComparison.Ordinal) : t.Name == name))
                    {
                        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  task t{t.Id} {t.Name} {t.Kind} {OpOf(problem.Training, t.Id)} {t.Bytes} B {t.Time:E3}"));
                        foreach (int i in t.Inputs) o.WriteLine($"    in  t{i} {tasks[i].Name}");
                        foreach (int r in problem.Training.Readers(t.Id)) o.WriteLine($"    out t{r} {tasks[r].Name}");
                    }
                if (Environment.GetEnvironmentVariable("PROBE_BOUNDWINDOWS") == "1")
                    foreach (var window in GeneralBound.Windows(analysis, GeneralBound.WindowDecisions))
                    {
                        var relaxation = new CutRelaxation(analysis, window, new HashSet<int>());
                        double? lp = LinearRelaxation.Bound(relaxation.Model, CancellationToken.None) is { } l ? relaxation.ToTime(l) : null;
                        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  bound window {analysis.Path.ToList().IndexOf(window[0])}-{analysis.Path.ToList().IndexOf(window[^1])}: {relaxation.DecisionCount} decisions, lp {lp:E3}"));
                    }
                if (Environment.GetEnvironmentVariable("PROBE_SCHEDULE") is { Length: > 0 } scheduleFile)
                    ListRecomputation(o, ScheduleFormat.Read(scheduleFile, problem.Training));
                if (Environment.GetEnvironmentVariable("PROBE_GUIDE") == "1") Guide(o, problem.Training, analysis, budget);
                // PROBE_PLAN with PROBE_PLANCUT=1: the cut GeneralBound.PlanCut pairs with each of the most exceeding path tasks.
                if (Environment.GetEnvironmentVariable("PROBE_PLAN") is { Length: > 0 } planCutFile && Environment.GetEnvironmentVariable("PROBE_PLANCUT") == "1")
                {
                    var planned = ScheduleFormat.Read(planCutFile, problem.Training);
                    var path = analysis.Path.ToList();
                    foreach (int x in path.OrderByDescending(x => analysis.Excess[x]).ThenBy(x => x).Take(GeneralBound.SingleCuts))
                        o.WriteLine($"  plan cut for {path.IndexOf(x)}: {(GeneralBound.PlanCut(analysis, planned, x) is { } y ? $"{path.IndexOf(y)} {tasks[y].Name}" : "none")}");
                }
                if (Environment.GetEnvironmentVariable("PROBE_BOUND") == "1")
                {
                    // The general bound as auto proves it at its default limit (its share, two workers, seed 0).
                    var boundOptions = new SolverOptions { BudgetBytes = budget, TimeLimit = AutoPortfolio.DefaultTimeLimit, Threads = 2 };
                    var plan = Environment.GetEnvironmentVariable("PROBE_PLAN") is { Length: > 0 } planFile ? ScheduleFormat.Read(planFile, problem.Training) : null;
                    var boundClock = Stopwatch.StartNew();
                    var processor = Process.GetCurrentProcess().TotalProcessorTime;
                    var run = GeneralBound.Prove(problem.Training, budget, new HashSet<int>(), boundOptions.TimeLimit * AutoPortfolio.Shares.Bound,
                        boundOptions.RelaxationWorkers, boundOptions.Seed, CancellationToken.None, plan: plan);
                    processor = Process.GetCurrentProcess().TotalProcessorTime - processor;
                    o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  bound {run?.Bound:E4} cuts {run?.Cuts} at path positions {string.Join(",", (run?.CutTasks ?? []).Select(t => analysis.Path.ToList().IndexOf(t)))} (excess rank {string.Join(",", (run?.CutTasks ?? []).Select(t => analysis.Path.OrderByDescending(x => analysis.Excess[x]).ThenBy(x => x).ToList().IndexOf(t)))}) {run?.CpStatus}{(run?.WallClockCut == true ? " (a search cut by the wall clock)" : "")}, {boundClock.Elapsed.TotalSeconds:F2} s, {processor.TotalSeconds:F2} s of processor time"));
                }
                var spec = Environment.GetEnvironmentVariable("PROBE_WINDOWS") ?? "";
                foreach (var part in spec.Split(';', StringSplitOptions.RemoveEmptyEntries))
                {
                    var cuts = new List<int>();
                    foreach (var piece in part.Split(','))
                    {
                        if (piece.StartsWith('t')) { cuts.Add(int.Parse(piece[1..], CultureInfo.InvariantCulture)); continue; }
                        if (piece.StartsWith('=')) { cuts.Add(tasks.First(t => t.Name == piece[1..]).Id); continue; }
                        var ab = piece.Split('-');
                        int a = int.Parse(ab[0], CultureInfo.InvariantCulture), b = ab.Length > 1 ? int.Parse(ab[1], CultureInfo.InvariantCulture) : a;
                        int step = ab.Length > 2 ? int.Parse(ab[2], CultureInfo.InvariantCulture) : 1;
                        for (int i = a; i <= b; i += step) cuts.Add(analysis.Path[i]);
                    }
                    // PROBE_CUT_NAMES: tasks (';'-separated names) added to every chain as cuts (a chain still: each a
                    // descendant of the one before).
                    foreach (var name in (Environment.GetEnvironmentVariable("PROBE_CUT_NAMES") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
                        cuts.Add(tasks.First(t => t.Name == name).Id);
                    cuts = cuts.Distinct().Order().ToList();
                    long? memory = long.TryParse(Environment.GetEnvironmentVariable("PROBE_SHRINK"), out long shrink) ? budget - shrink : null;
                    var relaxation = new CutRelaxation(analysis, cuts, new HashSet<int>(), memory);
                    double? lp = LinearRelaxation.Bound(relaxation.Model, CancellationToken.None) is { } l ? relaxation.ToTime(l) : null;
                    var settings = double.TryParse(Environment.GetEnvironmentVariable("PROBE_DET"), CultureInfo.InvariantCulture, out double det)
                        ? new CpSatSettings(TimeSpan.FromSeconds(det / GeneralBound.SingleCutRate), 2, 1) { Threads = 2, WorkLimited = true, DeterministicRate = GeneralBound.SingleCutRate }
                        : new CpSatSettings(TimeSpan.FromSeconds(options.SecondsPerRow), 2, 1) { Threads = 2 };
                    // PROBE_HINT=FILE: CP-SAT is hinted with the point that schedule maps to (CutRelaxation.Hint).
                    if (Environment.GetEnvironmentVariable("PROBE_HINT") is { Length: > 0 } hintFile)
                        o.WriteLine($"  hinted: {relaxation.Hint(ScheduleFormat.Read(hintFile, problem.Training))}");
                    using var solver = new CpSolver { StringParameters = settings.ToParameterText() };
                    var clock = Stopwatch.StartNew();
                    var status = solver.Solve(relaxation.Model);
                    o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  window {part}: {cuts.Count} cuts, {relaxation.DecisionCount} decisions, lp {lp:E3}, cp {status} bound {relaxation.ToTime(solver.BestObjectiveBound):E3} obj {(status is CpSolverStatus.Optimal or CpSolverStatus.Feasible ? relaxation.ToTime(solver.ObjectiveValue) : double.NaN):E3}, {clock.Elapsed.TotalSeconds:F1} s, det {solver.Response?.DeterministicTime:F2}"));
                    if (int.TryParse(Environment.GetEnvironmentVariable("PROBE_GROW"), out int growRounds) && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible)
                    {
                        var growClock = Stopwatch.StartNew();
                        var chain = cuts;
                        foreach (var round in CutGrowth.Grow(analysis, relaxation, solver, budget, c => new CutRelaxation(analysis, c, new HashSet<int>()),
                            double.TryParse(Environment.GetEnvironmentVariable("PROBE_GROW_DET"), CultureInfo.InvariantCulture, out double growDet)
                                ? new GrowthWork(TimeSpan.FromSeconds(growDet / GeneralBound.SingleCutRate), Shared: false, WorkLimited: true)
                                : new GrowthWork(TimeSpan.FromSeconds(options.SecondsPerRow), Shared: false, WorkLimited: false), new SearchWorkers(2, 2), 1,
                            CancellationToken.None, growRounds))
                        {
                            var added = round.Relaxation.Cuts.Except(chain).Single();
                            chain = [.. round.Relaxation.Cuts];
                            bool solved = round.Status is CpSolverStatus.Optimal or CpSolverStatus.Feasible;
                            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                $"    grown +{analysis.Path.ToList().IndexOf(added)} {tasks[added].Name}: {chain.Count} cuts, {round.Relaxation.DecisionCount} decisions, cp {round.Status} bound {round.Relaxation.ToTime(round.Solver.BestObjectiveBound):E3} obj {(solved ? round.Relaxation.ToTime(round.Solver.ObjectiveValue) : double.NaN):E3}, {growClock.Elapsed.TotalSeconds:F1} s, det {round.Solver.Response?.DeterministicTime:F2}"));
                            o.Flush();
                            growClock.Restart();
                            // PROBE_LOWER with PROBE_LOWER_CUT=POSITION: each grown chain's drop set at that path position's cut.
                            if (Environment.GetEnvironmentVariable("PROBE_LOWER") == "1" && solved
                                && int.TryParse(Environment.GetEnvironmentVariable("PROBE_LOWER_CUT"), out int lowerAt) && chain.IndexOf(analysis.Path[lowerAt]) is var at and >= 0)
                                Lower(o, problem.Training, budget, round.Relaxation.DroppedAt(round.Solver, at).Where(t => tasks[t].Kind == TaskKind.Forward).ToHashSet());
                        }
                    }
                    if (Environment.GetEnvironmentVariable("PROBE_DROPS") == "1" && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible)
                        for (int c = 0; c < cuts.Count; c++)
                            o.WriteLine($"    cut {tasks[cuts[c]].Name}: drops {string.Join(", ", relaxation.DroppedAt(solver, c).Select(t => $"{tasks[t].Name} ({tasks[t].Time:E2})"))}");
                    if (Environment.GetEnvironmentVariable("PROBE_DROPS") == "1" && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible)
                        for (int c = 0; c < cuts.Count; c++)
                        {
                            var rerun = relaxation.RerunIn(solver, c);
                            foreach (int t in relaxation.KeptAt(solver, c))
                                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    kept {tasks[t].Name} {tasks[t].Bytes}"));
                            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    interval {c}: reruns {rerun.Count}, {rerun.Sum(t => tasks[t].Time):E4}"));
                            foreach (var g in rerun.GroupBy(t => (tasks[t].Kind, OpOf(problem.Training, t))).OrderByDescending(g => g.Sum(t => tasks[t].Time)))
                                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      {g.Key.Kind} {g.Key.Item2}: {g.Count()}, {g.Sum(t => tasks[t].Time):E3}, {g.Sum(t => tasks[t].Bytes) / 1048576.0:F1} MiB"));
                            foreach (int t in rerun.OrderByDescending(t => tasks[t].Time))
                                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      {tasks[t].Name} ({OpOf(problem.Training, t)}, {tasks[t].Bytes / 1048576.0:F2} MiB, {tasks[t].Time:E2})"));
                        }
                    bool masks = Environment.GetEnvironmentVariable("PROBE_LOWER_MASKS") == "1";
                    if (Environment.GetEnvironmentVariable("PROBE_LOWER") == "1" && Environment.GetEnvironmentVariable("PROBE_LOWER_LP") == "1"
                        && LinearRelaxation.Solve(relaxation.Model) is { } point)
                    {
                        o.WriteLine("    the linear relaxation's point:");
                        Lower(o, problem.Training, budget, relaxation.DroppedAt(point, 0).Concat(masks ? relaxation.LeftForLaterAt(point, 0) : [])
                            .Where(t => tasks[t].Kind == TaskKind.Forward).ToHashSet());
                    }
                    if (Environment.GetEnvironmentVariable("PROBE_LOWER") == "1" && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible)
                        Lower(o, problem.Training, budget, relaxation.DroppedAt(solver, 0).Concat(masks ? relaxation.LeftForLaterAt(solver, 0) : [])
                            .Where(t => tasks[t].Kind == TaskKind.Forward).ToHashSet());
                    o.Flush();
                }
            }
        }
    }

    /// <summary>
    /// <c>PROBE_GUIDE=1</c>: the relaxation guide's single cut at each headroom, searched as the guide searches it (auto's
    /// full work, two interleaved workers, seed 0), with its status, objective, proved bound and deterministic time, then
    /// the guide's plans (<see cref="RelaxationGuide.Plans"/>) from the cut alone and from the grown chains.
    /// </summary>
    private static void Guide(TextWriter o, TrainingGraph training, CutAnalysis analysis, long budget)
    {
        var none = new HashSet<int>();
        int cut = analysis.Path.MaxBy(x => (analysis.Excess[x], -x));
        o.WriteLine($"  guide cut {training.Tasks[cut].Name}");
        foreach (double headroom in RelaxationGuide.Headrooms)
        {
            var relaxation = new CutRelaxation(analysis, [cut], none, (long)(budget * headroom), backwardOnlyBuffers: false);
            var settings = new CpSatSettings(RelaxationGuide.WorkShare, 2, 0) { Threads = 0, WorkLimited = true, DeterministicRate = GeneralBound.SingleCutRate };
            using var cp = new CpSolver { StringParameters = settings.ToParameterText() };
            var status = cp.Solve(relaxation.Model);
            double? lp = LinearRelaxation.Bound(relaxation.Model, CancellationToken.None) is { } l ? relaxation.ToTime(l) : null;
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    headroom {headroom}: {relaxation.DecisionCount} decisions, lp {lp:E4}, cp {status} obj {(status is CpSolverStatus.Optimal or CpSolverStatus.Feasible ? relaxation.ToTime(cp.ObjectiveValue) : double.NaN):E4} bound {relaxation.ToTime(cp.BestObjectiveBound):E4}, det {cp.Response?.DeterministicTime:F3}"));
        }
        var (single, grown) = RelaxationGuide.Plans(training, budget, none, none, new SearchWorkers(2, 0), 0, "probe", double.MaxValue, CancellationToken.None, 1, out bool cutByClock);
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"    guide plans: single {single?.Simulation.RecomputeTime:E4}, grown {grown?.Simulation.RecomputeTime:E4}{(cutByClock ? " (a search cut by the wall clock)" : "")}"));
    }

    /// <summary>The buffers live at a schedule's step, by kind and op, then one by one.</summary>
    private static void ListLive(TextWriter o, Schedule schedule, int at)
    {
        var training = schedule.Training;
        var tasks = training.Tasks;
        var live = new HashSet<int>();
        for (int i = 0; i <= at; i++)
        {
            var step = schedule.Steps[i];
            if (step.Allocates) live.Add(step.Task);
            else if (step.Frees) live.Remove(step.Task);
        }
        var peak = schedule.Steps[at];
        o.WriteLine($"        step {at}: {Step.KindName(peak.Kind)} {tasks[peak.Task].Name}");
        foreach (var g in live.GroupBy(t => (tasks[t].Kind, OpOf(training, t))).OrderByDescending(g => g.Sum(t => tasks[t].Bytes)))
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"        live {g.Key.Kind} {g.Key.Item2}: {g.Count()}, {g.Sum(t => tasks[t].Bytes) / 1048576.0:F1} MiB"));
        foreach (int t in live.Order())
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"          {tasks[t].Name} {tasks[t].Bytes / 1048576.0:F2} MiB"));
    }

    private static string OpOf(TrainingGraph training, int task) => training.Graph.Nodes[training.Tasks[task].Node].Op;

    private static void ListRecomputation(TextWriter o, Schedule schedule)
    {
        var training = schedule.Training;
        var tasks = training.Tasks;
        var counts = schedule.Steps.Where(s => s.Kind == StepKind.Recompute).GroupBy(s => s.Task).Select(g => (Task: g.Key, Count: g.Count())).ToList();
        double total = counts.Sum(c => c.Count * tasks[c.Task].Time);
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  schedule {schedule.Solver}: {counts.Sum(c => c.Count)} recompute steps, {total:E4}"));
        if (Environment.GetEnvironmentVariable("PROBE_LIVE_AT") is { Length: > 0 } at)
        {
            var live = new HashSet<int>();
            foreach (var step in schedule.Steps)
            {
                if (step.Allocates && !(step.Kind == StepKind.Backward && tasks[step.Task].Name == at)) live.Add(step.Task);
                else if (step.Frees) live.Remove(step.Task);
                if (step.Kind == StepKind.Backward && tasks[step.Task].Name == at) break;
            }
            foreach (int t in live.OrderBy(t => t))
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    live {tasks[t].Name} {tasks[t].Bytes}"));
        }
        if (Environment.GetEnvironmentVariable("PROBE_STEPS") is { Length: > 0 } range)
        {
            var ab = range.Split('-');
            int from = int.Parse(ab[0], CultureInfo.InvariantCulture), to = int.Parse(ab[1], CultureInfo.InvariantCulture);
            var liveBytes = Simulator.Measure(schedule).LiveBytes;
            for (int i = from; i <= to && i < schedule.Steps.Length; i++)
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"    step {i} {Step.KindName(schedule.Steps[i].Kind)} {tasks[schedule.Steps[i].Task].Name} ({OpOf(training, schedule.Steps[i].Task)}, {tasks[schedule.Steps[i].Task].Bytes}) live {liveBytes[i] / 1048576.0:F1} MiB"));
        }
        if (schedule.BudgetBytes is long budget)
        {
            var live = Simulator.Measure(schedule).LiveBytes;
            for (int i = 0; i < schedule.Steps.Length; i++)
                if (live[i] >= budget - budget / 100)
                    o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"    near the budget: step {i} {Step.KindName(schedule.Steps[i].Kind)} {tasks[schedule.Steps[i].Task].Name} {live[i] / 1048576.0:F1} MiB"));
        }
        foreach (var g in counts.GroupBy(c => OpOf(training, c.Task)).OrderByDescending(g => g.Sum(c => c.Count * tasks[c.Task].Time)))
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    op {g.Key}: {g.Count()} buffers, {g.Sum(c => c.Count)} runs, {g.Sum(c => c.Count * tasks[c.Task].Time):E3}, {g.Sum(c => tasks[c.Task].Bytes) / 1048576.0:F1} MiB"));
        foreach (var c in counts.OrderByDescending(c => c.Count * tasks[c.Task].Time))
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    {tasks[c.Task].Name} ({OpOf(training, c.Task)}, {tasks[c.Task].Bytes / 1048576.0:F2} MiB, {tasks[c.Task].Time:E2}) x{c.Count}"));
    }

    private static void Lower(TextWriter o, TrainingGraph training, long budget, HashSet<int> drop)
    {
        var none = new HashSet<int>();
        // PROBE_EXTRA_DROP: task names, separated by ';', dropped besides.
        foreach (var name in (Environment.GetEnvironmentVariable("PROBE_EXTRA_DROP") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
            drop.Add(training.Tasks.First(t => t.Name == name).Id);
        (Schedule Schedule, SimulationResult Simulation)? best = null;
        var orders = RelaxationGuide.ForwardFirstOrders(training, CancellationToken.None);
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"    lowering {drop.Count} dropped buffers ({drop.Sum(t => training.Tasks[t].Bytes) / 1048576.0:F1} MiB): {string.Join(", ", drop.GroupBy(t => OpOf(training, t)).Select(g => $"{g.Key} {g.Count()}"))}"));
        bool deepFirst = Environment.GetEnvironmentVariable("PROBE_DEEP_FIRST") == "1";
        bool defer = Environment.GetEnvironmentVariable("PROBE_LOWER_DEFER") == "1";
        for (int k = 0; k < orders.Count; k++)
        {
            foreach (int window in GuidedLowering.Windows)
                if (GuidedLowering.Lower(training, orders[k], drop, none, window, "probe", budget, deepFirst: deepFirst) is { } schedule)
                {
                    Report($"order {k} window {window}", schedule, Simulator.Measure(schedule));
                    if (k == 0 && window == int.MaxValue && Environment.GetEnvironmentVariable("PROBE_LOWER_LIST") == "1") ListRecomputation(o, schedule);
                }
            if (GuidedLowering.Fitted(training, orders[k], drop, none, GuidedLowering.FitRounds, "probe", budget,
                    trace: Environment.GetEnvironmentVariable("PROBE_FIT_TRACE") == "1" ? line => o.WriteLine($"        fit {line}") : null, deepFirst: deepFirst) is { } fitted)
                Report($"order {k} fitted", fitted.Schedule, fitted.Simulation);
            else o.WriteLine($"      order {k} fitted: none");
        }
        if (best is { } b && Environment.GetEnvironmentVariable("PROBE_LOWER_OUT") is { Length: > 0 } path)
        {
            ScheduleFormat.Write(b.Schedule, path);
            ListRecomputation(o, b.Schedule);
        }

        string FirstOver(Schedule schedule, SimulationResult simulation)
        {
            int i = 0;
            while (simulation.LiveBytes[i] <= budget) i++;
            return string.Create(CultureInfo.InvariantCulture, $"{i} {Step.KindName(schedule.Steps[i].Kind)} {training.Tasks[schedule.Steps[i].Task].Name} {simulation.LiveBytes[i] / 1048576.0:F1} MiB");
        }

        void Report(string what, Schedule schedule, SimulationResult simulation)
        {
            if (defer)
            {
                schedule = schedule with { Steps = FirstRuns.Defer(training, schedule.Steps, out _) };
                simulation = Simulator.Measure(schedule);
            }
            if (!simulation.Fits(budget) && Environment.GetEnvironmentVariable("PROBE_LOWER_OVER") == what) ListLive(o, schedule, simulation.PeakStep);
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"      {what}: recompute {simulation.RecomputeTime:E4}, peak {simulation.PeakBytes / 1048576.0:F1} MiB of {budget / 1048576.0:F1}{(simulation.Fits(budget) ? "" : $" (over at step {simulation.PeakStep} {Step.KindName(schedule.Steps[simulation.PeakStep].Kind)} {schedule.Training.Tasks[schedule.Steps[simulation.PeakStep].Task].Name}, first over at {FirstOver(schedule, simulation)})")}"));
            if (simulation.Fits(budget) && (best is null || simulation.RecomputeTime < best.Value.Simulation.RecomputeTime)) best = (schedule, simulation);
        }
    }
}
