using System.Collections.Immutable;
using System.Diagnostics;
using Google.OrTools.Sat;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Benchmarks;

/// <summary>
/// The table <c>cut-bound</c>: the lower bound for every schedule (<see cref="CutRelaxation"/>) on the shipped ONNX
/// graphs at 30/50/70 % of store-all, beside auto's plan: cuts, decisions, CP-SAT status, bound, and the recompute
/// gap it proves for auto's plan. <c>--seconds S</c>: CP-SAT's limit on the relaxation (default 20).
/// </summary>
public static class CutBoundTable
{
    public static void Table(QuickTableOptions options)
    {
        double seconds = options.SecondsPerRow >= 1 ? options.SecondsPerRow : 20;
        var o = Console.Out;
        o.WriteLine("| graph | budget | tasks | cuts | decisions | build s | status | bound | auto recompute | gap |");
        o.WriteLine("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|");
        foreach (var file in (Environment.GetEnvironmentVariable("CUT_GRAPHS")?.Split(',') ?? AutoTable.Graphs))
        {
            var problem = new PlanningProblem(GraphLoader.Load(RepositoryPaths.Graph(file)));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in (Environment.GetEnvironmentVariable("CUT_FRACTIONS")?.Split(',').Select(double.Parse).ToArray() ?? [0.3, 0.5, 0.7]))
            {
                long budget = (long)(storeAll * fraction);
                var clock = Stopwatch.StartNew();
                var analysis = new CutAnalysis(problem.Training, budget);
                double build = clock.Elapsed.TotalSeconds;
                int k = int.Parse(Environment.GetEnvironmentVariable("CUT_K") ?? "8");
                string mode = Environment.GetEnvironmentVariable("CUT_MODE") ?? "top";
                var cuts = mode == "top"
                    ? analysis.Path.OrderByDescending(x => analysis.Excess[x]).Take(k).Order().ToList()
                    : Enumerable.Range(0, k).Select(i => analysis.Path[(int)((long)i * analysis.Path.Count / k)]).Distinct().ToList();
                var relaxation = new CutRelaxation(analysis, cuts, new HashSet<int>());
                var solver = new CpSolver { StringParameters = new CpSatSettings(TimeSpan.FromSeconds(seconds), 2, 1).ToParameterText() };
                var status = solver.Solve(relaxation.Model);
                double bound = Math.Max(0, relaxation.ToTime(solver.BestObjectiveBound));
                double solveSeconds = clock.Elapsed.TotalSeconds - build;
                string guided = "";
                if (status is CpSolverStatus.Optimal or CpSolverStatus.Feasible && cuts.Count > 0)
                {
                    var dropped = relaxation.DroppedAt(solver, cuts.Count - 1).Select(t => problem.Training.Tasks[t])
                        .Where(t => t.Kind == Recompute.Planner.Graph.TaskKind.Forward).Select(t => t.Node).ToImmutableHashSet();
                    var g = RecomputePlanner.Plan(problem, "greedy", new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(30), ForceRecompute = dropped });
                    guided = g.Feasible ? $"{g.Simulation!.RecomputeTime:E3} ({dropped.Count} pinned)" : $"none ({dropped.Count} pinned)";
                }
                var auto = RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(5) });
                double recompute = auto.Feasible ? auto.Simulation!.RecomputeTime : double.NaN;
                string gap = relaxation.Infeasible ? "relaxation infeasible" : recompute > 0 ? $"{(recompute - bound) / recompute:P1}" : "";
                o.WriteLine($"| {Path.GetFileNameWithoutExtension(file)} | {fraction:P0} | {problem.Training.Count} | {relaxation.Cuts.Count} | {relaxation.DecisionCount} | {build:F1}+{solveSeconds:F1} | {status} | {bound:E3} | {recompute:E3} | {gap} | {guided} |");
                o.Flush();
            }
        }
    }
}
