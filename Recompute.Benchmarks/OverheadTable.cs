using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Tensors;

namespace Recompute.Benchmarks;

/// <summary>
/// Predicted against measured time overhead of planned training (issue 4):
/// <c>dotnet run -c Release --project Recompute.Benchmarks -- overhead [--seconds S]</c>.
/// <para>
/// For each graph: calibrate the cost model on this machine (<see cref="Calibration"/>: median per-tensor forward
/// and backward times over 5 store-all steps), plan with dp-approx at 30% and 50% of the store-all peak using the
/// calibrated times, then run the store-all schedule and the plan alternately and take the median step time of each.
/// A step is one forward and backward pass by the schedule (the optimizer update is the same for both and is left out).
/// Kernels run on one thread and every time is the executing thread's CPU time (<see cref="ExecutionClock.ThreadCpu"/>),
/// so that other processes on a shared machine do not inflate some runs and not others; the wall-clock overhead of
/// the same runs is shown beside it.
/// </para>
/// <list type="bullet">
/// <item>predicted overhead = recomputeTime / (forwardTime + backwardTime) of the simulated plan, in calibrated seconds;</item>
/// <item>measured overhead = median plan step / median store-all step − 1;</item>
/// <item>the claim holds when |measured − predicted| ≤ 25% of predicted.</item>
/// </list>
/// </summary>
public static class OverheadTable
{
    private const int CalibrationSteps = 5;

    public static void Table(QuickTableOptions options)
    {
        int steps = Math.Max(5, (int)Math.Round(9 * options.SecondsPerRow));
        Console.WriteLine($"Calibration: median of {CalibrationSteps} store-all steps per tensor; measurement: medians of {steps} steps of each schedule, run alternately;");
        Console.WriteLine($"one thread, thread CPU time. Load average at start: {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| graph | budget | peak (MiB, measured = predicted) | recomputed tensors | store-all step (s): predicted / measured | plan step (s) | plan recompute (s): predicted / measured | plan forward + backward (s): predicted / measured | predicted overhead | measured overhead | within ±25% | wall-clock overhead |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
        int threads = Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism;
        Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = 1;
        try { Rows(steps); }
        finally { Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = threads; }
        Console.WriteLine();
        Console.WriteLine($"Load average at end: {LoadAverage()}");
    }

    private static void Rows(int steps)
    {
        foreach (var (name, load) in Graphs())
        {
            var graph = load();
            var calibration = Calibration.Measure(graph, new CalibrationOptions { Repeat = CalibrationSteps, WarmUp = 1,
                Clock = ExecutionClock.ThreadCpu });
            var timed = calibration.Apply();
            var problem = new PlanningProblem(timed);
            var (storeAll, storeSim) = RecomputePlanner.StoreAll(problem);
            foreach (var fraction in new[] { 0.3, 0.5 })
            {
                long budget = (long)Math.Floor(fraction * storeSim.PeakBytes);
                var plan = RecomputePlanner.Plan(problem, SolverName.DpApprox, new SolverOptions { BudgetBytes = budget });
                if (!plan.Feasible)
                {
                    // A task's output and inputs are live together under any schedule: the largest such set bounds every plan.
                    var training = problem.Training;
                    long workingSet = training.Tasks.Max(t => t.Bytes + t.Inputs.Distinct().Sum(i => training.Tasks[i].Bytes));
                    string why = workingSet > budget
                        ? $"impossible: one task's inputs and output alone take {Percent(workingSet / (double)storeSim.PeakBytes, "0.0")} of store-all"
                        : $"no plan: {plan.Solver.Reason}";
                    Console.WriteLine($"| {name} | {Percent(fraction)} | {why} |");
                    continue;
                }
                var sim = plan.Simulation!;
                double predicted = sim.StepOverhead;
                var (storeSeconds, planSeconds, storeWall, planWall, peak, planRecompute, planOther) = Measure(timed, storeAll,
                    plan.Schedule!, steps);
                double measured = planSeconds / storeSeconds - 1;
                bool within = Math.Abs(measured - predicted) <= 0.25 * predicted;
                string peakCell = peak == sim.PeakBytes ? F(peak / 1048576.0, "0.0") : $"{peak / 1048576.0:0.0} ≠ {sim.PeakBytes / 1048576.0:0.0}";
                int recomputed = plan.Schedule!.Steps.Count(s => s.Kind == StepKind.Recompute);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {Percent(fraction)} | {peakCell} | {recomputed} | {storeSim.ForwardTime + storeSim.BackwardTime:0.0000} / {storeSeconds:0.0000} | {planSeconds:0.0000} | {sim.RecomputeTime:0.0000} / {planRecompute:0.0000} | {sim.ForwardTime + sim.BackwardTime:0.0000} / {planOther:0.0000} | {Percent(predicted, "0.0")} | {Percent(measured, "0.0")} | {(within ? "yes" : "no")} ({(measured - predicted) * 100:+0.0;-0.0} points) | {Percent(planWall / storeWall - 1, "0.0")} |"));
            }
        }
    }

    private static string Percent(double ratio, string format = "0") => (ratio * 100).ToString(format, CultureInfo.InvariantCulture) + "%";

    private static IEnumerable<(string Name, Func<ComputationGraph> Load)> Graphs() =>
    [
        ("resnet18 (batch 4)", () => GraphLoader.Load(RepositoryPaths.Graph("resnet18-b32.onnx"), new GraphLoadOptions { Batch = 4 })),
        ("mlp50", () => GraphLoader.Load(RepositoryPaths.Graph("mlp50.json"))),
        ("gpt2-2l-t128", () => GraphLoader.Load(RepositoryPaths.Graph("gpt2-2l-t128.json"))),
    ];

    /// <summary>Median step seconds (thread CPU, then wall clock) of the store-all schedule and of the plan, run
    /// alternately; and the plan's measured peak.</summary>
    private static (double StoreAll, double Plan, double StoreAllWall, double PlanWall, long Peak, double PlanRecompute,
        double PlanOther) Measure(ComputationGraph graph, Schedule storeAll, Schedule plan, int steps)
    {
        var a = Runner(graph, storeAll);
        var b = Runner(graph, plan);
        using var batchA = TrainingBatch.Synthetic(graph, a.Model.Arena, 1, 1);
        using var batchB = TrainingBatch.Synthetic(graph, b.Model.Arena, 1, 1);
        ulong seed = DeterministicRandom.Derive(1UL, "dropout", 1);
        a.Executor.Run(storeAll, batchA, seed); // warm-up
        long peak = b.Executor.Run(plan, batchB, seed).MeasuredPeakBytes;
        var ta = new double[steps];
        var tb = new double[steps];
        var wa = new double[steps];
        var wb = new double[steps];
        var recompute = new double[steps];
        var other = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            var ra = a.Executor.Run(storeAll, batchA, seed);
            var rb = b.Executor.Run(plan, batchB, seed);
            (ta[i], wa[i], tb[i], wb[i]) = (ra.ClockSeconds, ra.Seconds, rb.ClockSeconds, rb.Seconds);
            for (int k = 0; k < plan.Steps.Length; k++)
            {
                if (plan.Steps[k].Kind == StepKind.Recompute) recompute[i] += rb.StepSeconds[k];
                else if (plan.Steps[k].Kind is StepKind.Compute or StepKind.Backward) other[i] += rb.StepSeconds[k];
            }
        }
        return (Calibration.Median(ta), Calibration.Median(tb), Calibration.Median(wa), Calibration.Median(wb), peak,
            Calibration.Median(recompute), Calibration.Median(other));
    }

    private static (ModelState Model, ScheduleExecutor Executor) Runner(ComputationGraph graph, Schedule schedule)
    {
        var model = ModelState.Initialize(graph, new Arena(), 1);
        return (model, new ScheduleExecutor(schedule.Training, model) { CheckRecomputation = false, Clock = ExecutionClock.ThreadCpu });
    }

    private static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    internal static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }
}
