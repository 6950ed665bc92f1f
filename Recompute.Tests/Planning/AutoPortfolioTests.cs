using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Import;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

public class AutoPortfolioTests
{
    /// <summary>
    /// A limit under <see cref="AutoOptions.MinimumOptimalTime"/>: the optimal phase never runs, so each case is
    /// fast and deterministic; the exact DP gets half of it (random graphs of this size take milliseconds).
    /// </summary>
    private static readonly TimeSpan FastLimit = TimeSpan.FromSeconds(0.9);

    private static readonly string[] Members = ["store-all", "chen", "per-block", "dp-approx", "dp", "greedy"];

    /// <summary>
    /// On random DAGs at budgets from 30 % to 110 % of store-all, auto is never worse than any single member run
    /// alone with the same options (by construction: it runs them and keeps the cheapest simulated plan), and it
    /// plans whenever one of them does.
    /// </summary>
    [Theory]
    [InlineData(1, false)] [InlineData(2, false)] [InlineData(3, false)] [InlineData(4, false)] [InlineData(5, false)] [InlineData(6, false)]
    [InlineData(7, true)] [InlineData(8, true)] [InlineData(9, true)]
    public void Auto_IsNeverWorseThanAnyMember(int seed, bool seconds)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 8 + 2 * (seed % 7), seconds: seconds));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        foreach (double fraction in new[] { 0.3, 0.45, 0.6, 0.8, 1.1 })
        {
            var options = new SolverOptions { BudgetBytes = (long)(storeAll * fraction), TimeLimit = FastLimit };
            var auto = RecomputePlanner.Plan(problem, AutoPortfolio.Name, options);
            Assert.Equal(AutoPortfolio.Name, auto.Solver.Solver);
            // The exact DP has half the limit inside auto: on a loaded machine it may be stopped there, and auto says so.
            bool dpStopped = auto.Solver.Note?.Contains("exact DP was stopped", StringComparison.Ordinal) == true;
            foreach (var member in Members.Where(m => !(m == "dp" && dpStopped)))
            {
                var alone = RecomputePlanner.Plan(problem, member, options);
                if (!alone.Feasible) continue;
                Assert.True(auto.Feasible, $"seed {seed} at {fraction:P0}: {member} plans, auto does not ({auto.Solver.Reason})");
                Assert.True(auto.Simulation!.RecomputeTime <= alone.Simulation!.RecomputeTime + 1e-9,
                    $"seed {seed} at {fraction:P0}: auto {auto.Simulation.RecomputeTime} ({auto.Solver.WinningSolver}) > {member} {alone.Simulation.RecomputeTime}");
            }
            if (auto.Feasible)
            {
                Assert.True(auto.Simulation!.PeakBytes <= options.BudgetBytes);
                Assert.Contains(auto.Solver.WinningSolver, Members);
                // OPTIMAL only with gap 0; a bound never above the plan; the general bound never above the bound shown.
                double recompute = auto.Simulation.RecomputeTime;
                Assert.Equal(auto.Solver.Status == PlanStatus.Optimal, auto.Solver.RecomputeGap == 0);
                Assert.True(auto.Solver.LowerBound <= recompute + 1e-9);
                if (auto.Solver.GeneralLowerBound is { } general) Assert.True(general <= auto.Solver.LowerBound + 1e-9);
            }
        }
    }

    /// <summary>Wherever store-all fits, auto is exactly store-all: nothing recomputed, proven optimal with gap 0.</summary>
    [Fact]
    public void Auto_IsStoreAll_WhereStoreAllFits()
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(7, nodes: 20));
        var (schedule, sim) = RecomputePlanner.StoreAll(problem);
        foreach (long budget in new[] { sim.PeakBytes, sim.PeakBytes * 2 })
        {
            var auto = RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = budget });
            Assert.Equal("store-all", auto.Solver.WinningSolver);
            Assert.Equal(PlanStatus.Optimal, auto.Solver.Status);
            Assert.Equal(0, auto.Solver.Gap);
            Assert.Equal(0, auto.Simulation!.RecomputeTime);
            Assert.Equal(schedule.Steps, auto.Schedule!.Steps);
        }
    }

    /// <summary>
    /// Store-all recomputes nothing even where the forward graph has tensors only backward reads (LayerNormalization's
    /// mean and inverse deviation, Dropout masks): lowering its strategy would drop them as non-checkpoints and
    /// recompute them. Auto at store-all's peak is that same schedule, proven optimal.
    /// </summary>
    [Fact]
    public void StoreAll_RecomputesNothing_OnTensorsOnlyBackwardReads()
    {
        var problem = new PlanningProblem(GraphLoader.Load(OnnxTestFiles.Graph("gpt2-2l-t128.onnx")));
        Assert.Contains(problem.Forward.DeadEnds, d => problem.Graph[d].Name.EndsWith(".mean", StringComparison.Ordinal));
        var (schedule, sim) = RecomputePlanner.StoreAll(problem);
        Assert.DoesNotContain(schedule.Steps, s => s.Kind == StepKind.Recompute);
        Assert.Equal(0, sim.RecomputeTime);
        var alone = RecomputePlanner.Plan(problem, "store-all", new SolverOptions { BudgetBytes = sim.PeakBytes });
        // Steps as "kind tensor", so that a difference shows where and which tensor.
        IEnumerable<string> Steps(Schedule s) => s.Steps.Select(step => $"{step.Kind} {problem.Training.Tasks[step.Task].Name}");
        Assert.Equal(Steps(schedule), Steps(alone.Schedule!));
        var auto = RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = sim.PeakBytes });
        Assert.Equal("store-all", auto.Solver.WinningSolver);
        Assert.Equal(PlanStatus.Optimal, auto.Solver.Status);
        Assert.Equal(0, auto.Simulation!.RecomputeTime);
    }

    /// <summary>
    /// The statuses are honest: a DP's plan never says OPTIMAL (at most optimal among canonical strategies, with a
    /// claim naming the model), and OPTIMAL from auto or the optimal solver comes with gap 0.
    /// </summary>
    [Theory]
    [InlineData(11)] [InlineData(12)]
    public void Status_OptimalOnlyWithGapZero_AndDpsClaimCanonicalOnly(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 12));
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        foreach (double fraction in new[] { 0.6, 1.0 })
        {
            long budget = (long)(storeAll * fraction);
            foreach (var dp in new[] { "dp-approx", "dp" })
            {
                var plan = RecomputePlanner.Plan(problem, dp, new SolverOptions { BudgetBytes = budget });
                Assert.NotEqual(PlanStatus.Optimal, plan.Solver.Status);
                if (plan.Solver.Status == PlanStatus.CanonicalOptimal)
                    Assert.Contains("optimal among canonical strategies", plan.Solver.Claim);
            }
            foreach (var solver in new[] { AutoPortfolio.Name, "optimal" })
            {
                var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(1.5) });
                if (plan.Solver.Status == PlanStatus.Optimal) Assert.Equal(0, plan.Solver.Gap!.Value, 9);
                if (plan.Solver.LowerBound is { } lb && plan.Feasible) Assert.True(lb <= plan.Simulation!.RecomputeTime + 1e-9);
            }
        }
    }

    /// <summary>
    /// A sweep's auto curve is monotone: more memory never costs more recomputation (a plan found at a smaller
    /// budget is a candidate at every larger one).
    /// </summary>
    [Theory]
    [InlineData(21, false)] [InlineData(22, false)] [InlineData(23, true)] [InlineData(24, true)]
    public void Sweep_AutoCurve_IsMonotone(int seed, bool seconds)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 18, seconds: seconds));
        var report = BudgetSweep.Run(problem, new SweepOptions
        {
            Solvers = [AutoPortfolio.Name],
            Points = 8,
            TimeLimit = FastLimit,
        });
        var curve = report.Points.Where(p => p.Series == AutoPortfolio.Name && p.Feasible).OrderBy(p => p.BudgetBytes).ToList();
        Assert.NotEmpty(curve);
        for (int i = 1; i < curve.Count; i++)
            Assert.True(curve[i].Overhead <= curve[i - 1].Overhead + 1e-12,
                $"overhead {curve[i].Overhead} at {curve[i].BudgetBytes} B > {curve[i - 1].Overhead} at {curve[i - 1].BudgetBytes} B");
        // The sweep starts at auto's smallest feasible budget, and auto plans there.
        Assert.True(report.Points.First(p => p.Series == AutoPortfolio.Name).Feasible);
    }

    /// <summary>
    /// Every smallest budget the one service reports plans with that solver, and 1 % below it does not plan with
    /// the same solver (set). Greedy is left out of the second half: its bisection stops within 0.5 % of the
    /// range and greedy is not monotone in the budget (docs/planning.md, "The smallest feasible budget").
    /// </summary>
    [Theory]
    [InlineData(31)] [InlineData(32)] [InlineData(33)] [InlineData(34)]
    public void SmallestBudget_Plans_AndOnePercentBelowDoesNot(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 16));
        foreach (var solver in new[] { "dp-approx", "dp", "greedy", AutoPortfolio.Name })
        {
            var options = new SolverOptions { TimeLimit = FastLimit };
            var found = SmallestBudget.Find(problem, solver, options);
            Assert.NotNull(found);
            // The budget-only answer (the hint's, the report's) tries candidates for feasibility only: the same figure.
            Assert.Equal(found.BudgetBytes, SmallestBudget.Bytes(problem, solver, options));
            var at = RecomputePlanner.Plan(problem, solver, options with { BudgetBytes = found.BudgetBytes });
            Assert.True(at.Feasible, $"{solver}: {found.BudgetBytes} B does not plan");
            Assert.True(at.Simulation!.PeakBytes <= found.BudgetBytes);
            if (solver is "greedy" or AutoPortfolio.Name) continue;
            long below = (long)(found.BudgetBytes * 0.99);
            var under = RecomputePlanner.Plan(problem, solver, options with { BudgetBytes = below });
            Assert.False(under.Feasible, $"{solver}: 1 % below the smallest budget {found.BudgetBytes} B, {below} B plans too");
        }
    }

    /// <summary>
    /// The search within a deadline (the infeasible hint under <c>--time-limit</c>): wherever the deadline falls, a
    /// budget it returns plans with the solver asked for, and a search that ran to its end says so and gives the same
    /// figure as the search without a deadline. Cut before any search, auto still has store-all's peak (or a
    /// member's that ran before the first look at the deadline) and greedy has nothing.
    /// </summary>
    [Theory]
    [InlineData(41)] [InlineData(42)]
    public void SmallestBudgetWithin_ADeadline_GivesABudgetThatPlans(int seed)
    {
        var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 16));
        var options = new SolverOptions { TimeLimit = FastLimit, FeasibilityOnly = true };
        using (var gone = new CancellationTokenSource())
        {
            gone.Cancel();
            var auto = SmallestBudget.Within(problem, AutoPortfolio.Name, options, gone.Token);
            Assert.False(auto.Complete);
            Assert.True(auto.BudgetBytes <= RecomputePlanner.StoreAllPeak(problem));
            Assert.Equal(new BudgetSearchResult(null, null, false), SmallestBudget.Within(problem, SolverName.Greedy,
                options, gone.Token));
        }
        foreach (var solver in new[] { SolverName.Dp, SolverName.Greedy, AutoPortfolio.Name })
        {
            long? smallest = SmallestBudget.Bytes(problem, solver, options);
            foreach (int ms in new[] { 1, 3, 10, 30, 100, 60_000 })
            {
                using var deadline = new CancellationTokenSource(ms);
                var found = SmallestBudget.Within(problem, solver, options, deadline.Token);
                if (found.Complete) Assert.Equal(smallest, found.BudgetBytes);
                if (found.BudgetBytes is not { } b) continue;
                Assert.True(smallest is null || b >= smallest, $"{solver} at {ms} ms: {b} B is below the smallest budget {smallest} B");
                Assert.True(RecomputePlanner.Plan(problem, solver, options with { FeasibilityOnly = false, BudgetBytes = b }).Feasible,
                    $"{solver} cut at {ms} ms: {b} B (found by {found.Solver}) does not plan");
            }
            using var ample = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            Assert.True(SmallestBudget.Within(problem, solver, options, ample.Token).Complete);
        }
    }

    /// <summary>
    /// A time limit under <see cref="SolverOptions.FullWorkLimit"/> (auto's default) is a shorter search, counted
    /// rather than timed: greedy's order search and guide do that share of their work, and the bound solves the chain's
    /// linear relaxation only on chains small enough for it. So a short limit keeps its promise and still gives the same
    /// plan twice. On ResNet-18 at 50 % the chain (15,810 decisions) is proved at the default share and left out at a
    /// fifth of it; the chain grown from the most exceeding cut (three cuts, a small model) bounds more
    /// than it at both: a bound no stronger than the default share's, never one above the plan.
    /// </summary>
    [Fact]
    public void AShortTimeLimit_IsAShorterCountedSearch_ThatIsStillReproducible()
    {
        Assert.Equal(0.2, new SolverOptions { TimeLimit = TimeSpan.FromSeconds(1) }.WorkFraction, 12);
        Assert.Equal(1.0, new SolverOptions { TimeLimit = SolverOptions.FullWorkLimit }.WorkFraction);
        Assert.Equal(1.0, new SolverOptions { TimeLimit = TimeSpan.FromSeconds(30) }.WorkFraction);
        Assert.Equal(Recompute.Planner.Solvers.Optimal.GeneralBound.LinearDecisionLimit,
            Recompute.Planner.Solvers.Optimal.GeneralBound.LinearDecisions(AutoPortfolio.DefaultTimeLimit * AutoPortfolio.Shares.Bound));

        var problem = new PlanningProblem(GraphLoader.Load(Path.Combine(Paths.RepoRoot, "graphs", "resnet18-b32.onnx")));
        long budget = RecomputePlanner.StoreAllPeak(problem) / 2;
        var brief = new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(1) };
        var first = RecomputePlanner.Plan(problem, AutoPortfolio.Name, brief);
        var again = RecomputePlanner.Plan(problem, AutoPortfolio.Name, brief);
        Assert.True(first.Feasible);
        // The same plan and bound, unless a note says the wall clock ended a search (a machine far busier than the
        // reference: the contract is that the answer then says so).
        static bool Timed(PlanResult p) => p.Solver.Note?.Contains("wall clock",
            StringComparison.Ordinal) == true || p.Solver.Note?.Contains("in time", StringComparison.Ordinal) == true;
        if (!Timed(first) && !Timed(again))
        {
            Assert.True(first.Schedule!.Steps.SequenceEqual(again.Schedule!.Steps),
                $"winners {first.Solver.WinningSolver} / {again.Solver.WinningSolver}");
            Assert.Equal(first.Solver.LowerBound, again.Solver.LowerBound);
        }

        var none = new HashSet<int>();
        var full = Recompute.Planner.Solvers.Optimal.GeneralBound.Prove(problem.Training, budget, none, TimeSpan.FromSeconds(1),
            new Recompute.Planner.Solvers.Optimal.SearchWorkers(2, 0), 0, CancellationToken.None);
        var fifth = Recompute.Planner.Solvers.Optimal.GeneralBound.Prove(problem.Training, budget, none, TimeSpan.FromSeconds(0.2),
            new Recompute.Planner.Solvers.Optimal.SearchWorkers(2, 0), 0, CancellationToken.None);
        Assert.NotNull(full);
        Assert.NotNull(fifth);
        Assert.True(fifth.Bound > 0);
        Assert.True(fifth.Bound <= full.Bound, $"a fifth of the share bounds {fifth.Bound}, the full share {full.Bound}");
        Assert.True(full.Bound <= first.Simulation!.RecomputeTime + 1e-6);
    }

    /// <summary>The library's and the session's default solver is auto.</summary>
    [Fact]
    public void Defaults_AreAuto()
    {
        Assert.Equal(AutoPortfolio.Name, new MaxBatchOptions().Solver);
        Assert.Equal(AutoPortfolio.Name, new Recompute.Runtime.Execution.TrainingOptions().Solver);
        Assert.Equal(AutoPortfolio.Name, SolverRegistry.Names[0]);
    }
}

public class AutoCliTests
{
    private static readonly string Mlp = Path.Combine(Paths.RepoRoot, "graphs", "mlp50.json");

    private static (int Code, System.Text.Json.JsonDocument Json) Plan(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Recompute.Cli.CommandRunner.Run(["plan", Mlp, .. args, "--format", "json"], stdout, stderr, CancellationToken.None);
        Assert.True(code is 0 or 1, stderr.ToString());
        return (code, System.Text.Json.JsonDocument.Parse(stdout.ToString()));
    }

    /// <summary>Without --solver, plan runs auto, and its JSON names the winner and says what the status claims.</summary>
    [Fact]
    public void Plan_DefaultsToAuto_AndNamesTheWinner()
    {
        var (code, json) = Plan("--budget", "50%", "--time-limit", "0.9");
        using (json)
        {
            Assert.Equal(0, code);
            var root = json.RootElement;
            Assert.Equal("auto", root.GetProperty("solver").GetString());
            Assert.Contains(root.GetProperty("winningSolver").GetString(), new[] { "store-all", "chen", "per-block", "dp-approx", "dp",
                "greedy", "optimal" });
            Assert.Contains(root.GetProperty("status").GetString(), new[] { "OPTIMAL", "CANONICAL_OPTIMAL", "FEASIBLE" });
            Assert.True(root.GetProperty("peakBytes").GetInt64() <= root.GetProperty("budgetBytes").GetInt64());
        }
    }

    /// <summary>
    /// --min-memory adds the simulated smallest feasible budget beside the solver's own (paper-model) figure, and
    /// planning at it succeeds. The search runs to its end (no --time-limit): auto's plans a dozen budgets, about 3 s of
    /// processor time here, which a whole-command limit of 0.9 s rightly cuts.
    /// </summary>
    [Theory]
    [InlineData("dp-approx")]
    [InlineData("auto")]
    public void MinMemory_ReportsTheSmallestFeasibleBudget_ThatPlans(string solver)
    {
        var (code, json) = Plan("--min-memory", "--solver", solver);
        long smallest;
        using (json)
        {
            Assert.Equal(0, code);
            var root = json.RootElement;
            Assert.True(root.GetProperty("minBudgetBytes").GetInt64() > 0);
            smallest = root.GetProperty("smallestFeasibleBudgetBytes").GetInt64();
            if (solver == "auto") Assert.Equal(smallest, root.GetProperty("minBudgetBytes").GetInt64());
        }
        var (fitCode, fit) = Plan("--budget", smallest.ToString(System.Globalization.CultureInfo.InvariantCulture), "--solver", solver,
            "--time-limit", "0.9");
        using (fit)
        {
            Assert.Equal(0, fitCode);
            Assert.True(fit.RootElement.GetProperty("peakBytes").GetInt64() <= smallest);
        }
    }
}
