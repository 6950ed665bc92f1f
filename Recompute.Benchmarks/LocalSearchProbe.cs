using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Benchmarks;

/// <summary>
/// The quick table <c>lns</c>: per graph (<c>--graphs</c>, shipped, or files of <c>--dir DIR</c>) and budget
/// (<c>--fractions</c>), auto's plan at its default limit, then <see cref="StageLocalSearch"/> from it over its own
/// first-run order: the recomputation before and after, each improvement with the deterministic seconds spent, the
/// windows searched, wall seconds, and the gap to auto's bound for every schedule before and after. Settings from the
/// environment: <c>LNS_WINDOW</c> (first window, stages; 16), <c>LNS_MAX_WINDOW</c> (64), <c>LNS_PER</c> (deterministic
/// seconds per window; 1), <c>LNS_TOTAL</c> (deterministic seconds in all; 30), <c>LNS_WORKERS</c> (1).
/// </summary>
public static class LocalSearchProbe
{
    public static void Table(QuickTableOptions options)
    {
        static double Env(string name, double fallback) =>
            Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var settings = new LocalSearchSettings((int)Env("LNS_WINDOW", 16), (int)Env("LNS_MAX_WINDOW", 64), Env("LNS_PER", 1), Env("LNS_TOTAL", 30),
            (int)Env("LNS_WORKERS", 1));
        var o = Console.Out;
        o.WriteLine($"settings {settings}");
        foreach (var file in options.Graphs ?? ["resnet50-b64.onnx"])
        {
            string path = options.Directory is { } dir ? Path.Combine(dir, file) : RepositoryPaths.Graph(file);
            var problem = new PlanningProblem(GraphLoader.Load(path));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in options.Fractions ?? [0.3])
            {
                long budget = (long)(storeAll * fraction);
                var auto = RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = budget, TimeLimit = AutoPortfolio.DefaultTimeLimit });
                if (!auto.Feasible) { o.WriteLine($"{file} {fraction:P0}: auto has no plan"); continue; }
                double before = auto.Simulation!.RecomputeTime, bound = auto.Solver.LowerBound ?? 0;
                var order = StageOrder.FirstRuns(auto.Schedule!);
                var start = StagePlan.FromSchedule(order, auto.Schedule!)!;
                var clock = Stopwatch.StartNew();
                var run = StageLocalSearch.Improve(start, budget, new HashSet<int>(), new HashSet<int>(), settings, "lns", CancellationToken.None);
                double seconds = clock.Elapsed.TotalSeconds;
                if (run is null) { o.WriteLine($"{file} {fraction:P0}: the stage form of auto's plan does not fit"); continue; }
                double after = run.Simulation.RecomputeTime;
                double once = problem.Training.ForwardTime + problem.Training.BackwardTime;
                string Gap(double r) => bound > 0 ? $"{(r - bound) / r:P1}" : "-";
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{file} {fraction:P0}: auto {before:E4} ({auto.Solver.WinningSolver}, stage form {start.RecomputeTime():E4}) -> lns {after:E4} ({(before - after) / before:P2} less), bound {bound:E3}, gap {Gap(before)} -> {Gap(after)}, {run.Windows} windows, det {run.DeterministicSeconds:F2} s, {seconds:F1} s wall{(run.WallClockCut ? ", WALL CLOCK CUT" : "")}, n {order.Count}, decisions {order.DecisionBound}"));
                foreach (var (det, r) in run.Improvements) o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    det {det:F2}: {r:E4}"));
                if (Environment.GetEnvironmentVariable("LNS_LIST") == "1")
                    foreach (var w in run.Searched)
                        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    [{w.First},{w.Last}] {w.Status} det {w.Deterministic:F2} plan {w.Before:E3} found {w.Found:E3} bound {w.Bound:E3}"));
                o.Flush();
            }
        }
    }
}
