using System.Globalization;
using Google.OrTools.Sat;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Benchmarks;

/// <summary>Throwaway: the chain's LP point mapped onto a single cut's model, its violated rows listed.</summary>
public static class SupportProbe
{
    public static void Table(QuickTableOptions options)
    {
        var o = Console.Out;
        foreach (var file in options.Graphs ?? ["resnet18-b32.onnx"])
        {
            var problem = new PlanningProblem(GraphLoader.Load(RepositoryPaths.Graph(file)));
            long storeAll = RecomputePlanner.StoreAllPeak(problem);
            foreach (double fraction in options.Fractions ?? [0.5])
            {
                long budget = (long)(storeAll * fraction);
                var analysis = new CutAnalysis(problem.Training, budget);
                var tasks = problem.Training.Tasks;
                var spec = (Environment.GetEnvironmentVariable("SP_CHAIN") ?? "").Split(',').Select(x => analysis.Path[int.Parse(x, CultureInfo.InvariantCulture)]).ToList();
                var none = new HashSet<int>();
                var single = new CutRelaxation(analysis, [spec[0]], none);
                var chain = new CutRelaxation(analysis, spec, none);
                var lpS = LinearRelaxation.Solve(single.Model)!;
                var lpC = LinearRelaxation.Solve(chain.Model)!;
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"single lp {single.ToTime(lpS.Bound):E4} chain lp {chain.ToTime(lpC.Bound):E4}"));
                double V(BoolVar v) => lpC.Values[v.GetIndex()];
                // Map chain point onto the single model's variables.
                var val = new double[single.Model.Model.Variables.Count];
                var name = new string[val.Length];
                foreach (var ((c, a), v) in single.KeptVars)
                {
                    name[v.GetIndex()] = $"K {tasks[a].Name}";
                    val[v.GetIndex()] = chain.KeptVars.TryGetValue((1, a), out var k) ? V(k) : double.NaN;
                }
                foreach (var ((c, a), v) in single.RerunVars)
                {
                    name[v.GetIndex()] = $"R {tasks[a].Name}";
                    double sum = 0; bool any = false;
                    for (int j = 1; j <= spec.Count; j++) if (chain.RerunVars.TryGetValue((j, a), out var r)) { sum += V(r); any = true; }
                    val[v.GetIndex()] = any ? Math.Min(1, sum) : double.NaN;
                }
                foreach (var ((c, a), v) in single.LateVars)
                {
                    name[v.GetIndex()] = $"F {tasks[a].Name}";
                    double sum = 0; bool any = false;
                    for (int j = 1; j <= spec.Count; j++) if (chain.LateVars.TryGetValue((j, a), out var r)) { sum += V(r); any = true; }
                    // A mask kept at cut 2 but not at cut 1, not run in interval 1: count it as run late (first run after cut 1).
                    for (int j = 2; j <= spec.Count; j++) if (chain.KeptVars.TryGetValue((j, a), out var k)) { sum += V(k); any = true; }
                    val[v.GetIndex()] = any ? Math.Min(1, sum) : double.NaN;
                }
                if (Environment.GetEnvironmentVariable("SP_TASK") is { Length: > 0 } watch)
                {
                    int wt = Enumerable.Range(0, tasks.Length).First(t => tasks[t].Name == watch);
                    foreach (var ((c, a), v) in chain.KeptVars) if (a == wt) o.WriteLine($"  chain K[{c}] idx {v.GetIndex()} = {V(v):F3}");
                    foreach (var ((c, a), v) in chain.RerunVars) if (a == wt) o.WriteLine($"  chain R[{c}] idx {v.GetIndex()} = {V(v):F3}");
                    var idx = chain.KeptVars.Where(e => e.Key.Task == wt).Select(e => e.Value.GetIndex()).Concat(chain.RerunVars.Where(e => e.Key.Task == wt).Select(e => e.Value.GetIndex())).ToHashSet();
                    foreach (var ct in chain.Model.Model.Constraints)
                        if (ct.ConstraintCase == ConstraintProto.ConstraintOneofCase.BoolOr && ct.BoolOr.Literals.Any(l => idx.Contains(l >= 0 ? l : -l - 1)))
                            o.WriteLine($"   clause {string.Join(" | ", ct.BoolOr.Literals.Select(l => $"{l}={(l >= 0 ? lpC.Values[l] : 1 - lpC.Values[-l - 1]):F2}"))}");
                }
                int missing = val.Count(double.IsNaN);
                o.WriteLine($"single vars {val.Length}, missing in chain {missing}");
                foreach (var i in Enumerable.Range(0, val.Length).Where(i => double.IsNaN(val[i])).Take(30)) o.WriteLine($"  missing {name[i]}");
                for (int i = 0; i < val.Length; i++) if (double.IsNaN(val[i])) val[i] = name[i].StartsWith('K') ? 0 : 1;
                double Lit(int l) => l >= 0 ? val[l] : 1 - val[-l - 1];
                int shown = 0;
                foreach (var ct in single.Model.Model.Constraints)
                {
                    if (ct.ConstraintCase == ConstraintProto.ConstraintOneofCase.BoolOr)
                    {
                        double sum = ct.BoolOr.Literals.Sum(Lit);
                        if (sum < 1 - 1e-6 && shown++ < 40)
                            o.WriteLine($"  violated clause {sum:F3}: {string.Join(" | ", ct.BoolOr.Literals.Select(l => (l >= 0 ? "" : "!") + name[l >= 0 ? l : -l - 1] + $"={Lit(l):F2}"))}");
                    }
                    else if (ct.ConstraintCase == ConstraintProto.ConstraintOneofCase.Linear)
                    {
                        double sum = 0;
                        for (int k = 0; k < ct.Linear.Vars.Count; k++) sum += ct.Linear.Coeffs[k] * Lit(ct.Linear.Vars[k]);
                        o.WriteLine($"  linear {sum / 1048576.0:F1} MiB <= {ct.Linear.Domain[1] / 1048576.0:F1}");
                    }
                }
                double cost = 0;
                foreach (var ((c, a), v) in single.RerunVars) cost += analysis.Cost[a] * val[v.GetIndex()];
                o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mapped cost {single.ToTime(cost):E4}"));
            }
        }
    }
}
