using System.Diagnostics;
using System.Globalization;
using Google.OrTools.Sat;
using Recompute.Planner.Import;
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
/// best solution found drops at each cut. Per chain: cuts, decisions, the linear relaxation's optimum, CP-SAT's status,
/// bound and best objective (time units), seconds and deterministic seconds.
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
                var spec = Environment.GetEnvironmentVariable("PROBE_WINDOWS") ?? "";
                foreach (var part in spec.Split(';', StringSplitOptions.RemoveEmptyEntries))
                {
                    var cuts = new List<int>();
                    foreach (var piece in part.Split(','))
                    {
                        var ab = piece.Split('-');
                        int a = int.Parse(ab[0], CultureInfo.InvariantCulture), b = ab.Length > 1 ? int.Parse(ab[1], CultureInfo.InvariantCulture) : a;
                        int step = ab.Length > 2 ? int.Parse(ab[2], CultureInfo.InvariantCulture) : 1;
                        for (int i = a; i <= b; i += step) cuts.Add(analysis.Path[i]);
                    }
                    cuts = cuts.Distinct().Order().ToList();
                    var relaxation = new CutRelaxation(analysis, cuts, new HashSet<int>());
                    double? lp = LinearRelaxation.Bound(relaxation.Model, CancellationToken.None) is { } l ? relaxation.ToTime(l) : null;
                    var settings = new CpSatSettings(TimeSpan.FromSeconds(options.SecondsPerRow), 2, 1) { Threads = 2 };
                    using var solver = new CpSolver { StringParameters = settings.ToParameterText() };
                    var clock = Stopwatch.StartNew();
                    var status = solver.Solve(relaxation.Model);
                    o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  window {part}: {cuts.Count} cuts, {relaxation.DecisionCount} decisions, lp {lp:E3}, cp {status} bound {relaxation.ToTime(solver.BestObjectiveBound):E3} obj {(status is CpSolverStatus.Optimal or CpSolverStatus.Feasible ? relaxation.ToTime(solver.ObjectiveValue) : double.NaN):E3}, {clock.Elapsed.TotalSeconds:F1} s, det {solver.Response?.DeterministicTime:F2}"));
                    if (Environment.GetEnvironmentVariable("PROBE_DROPS") == "1" && status is CpSolverStatus.Optimal or CpSolverStatus.Feasible)
                        for (int c = 0; c < cuts.Count; c++)
                            o.WriteLine($"    cut {tasks[cuts[c]].Name}: drops {string.Join(", ", relaxation.DroppedAt(solver, c).Select(t => $"{tasks[t].Name} ({tasks[t].Time:E2})"))}");
                    o.Flush();
                }
            }
        }
    }
}
