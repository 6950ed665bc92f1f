using System.Diagnostics;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>
/// The library's front door: plan a graph under a budget with a named solver, lower the result to a schedule and
/// prove it by simulation. The command line is a thin shell over these calls.
/// </summary>
/// <example>
/// <code>
/// var problem = new PlanningProblem(GraphLoader.Load("graphs/resnet18-b32.onnx"));
/// long budget = ByteSize.Parse("40%", RecomputePlanner.StoreAllPeak(problem));
/// PlanResult plan = RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = budget });
/// ScheduleFormat.Write(plan.Schedule!, "schedule.json");
/// </code>
/// </example>
public static class RecomputePlanner
{
    /// <summary>Simulated peak of the store-all schedule (no recomputation).</summary>
    public static long StoreAllPeak(PlanningProblem problem) => StoreAll(problem).Simulation.PeakBytes;

    /// <summary>The store-all schedule and its simulation.</summary>
    /// <remarks>Computed once per problem: every plan and every point of a sweep needs it.</remarks>
    public static (Schedule Schedule, SimulationResult Simulation) StoreAll(PlanningProblem problem) => problem.StoreAll;

    /// <summary>Plans under <see cref="SolverOptions.BudgetBytes"/> with the named solver.</summary>
    /// <remarks>
    /// The budget a user gives is for the schedule. For the canonical DPs the planner first sizes blocks by replaying
    /// the schedule (<see cref="BlockCostModel.Liveness"/>); if that plan does not fit by simulation (effects across
    /// blocks the replay does not see), it falls back to the paper's model, which counts more than the schedule ever
    /// holds (2·M(V_i), A_i ∩ B_i twice), and searches the largest model budget whose schedule still fits, keeping the
    /// cheapest fitting plan it saw. On graphs too large for every ancestral set (<see cref="SolverOptions.MaxApproxSets"/>)
    /// the search is shorter and the chain found is then refined by simulation (see <c>ChainRefinement</c>). Other
    /// solvers are run once at the user's budget.
    /// </remarks>
    public static PlanResult Plan(PlanningProblem problem, string solverName, SolverOptions options, CancellationToken cancellation = default)
    {
        var solver = SolverRegistry.Create(solverName);
        long storeAll = StoreAllPeak(problem);
        var clock = Stopwatch.StartNew();
        long budget = options.BudgetBytes;
        // Below the largest step no schedule fits, whatever a solver would search: said at once.
        if (BelowFloor(problem, budget, solverName, storeAll) is { } none) return none;
        if (solver is AutoSolver) return WithFloor(problem, HonourPins(AutoPortfolio.Plan(problem, options, cancellation), solverName, options));
        if (!Applies(problem, solver))
            return new PlanResult(new SolverResult(solverName, PlanStatus.NotApplicable, Reason: NotApplicableReason(problem, solverName)),
                null, null, budget, storeAll, 0);
        if (solver is StoreAllSolver && !options.ForceRecompute.IsEmpty)
            return new PlanResult(new SolverResult(solverName, PlanStatus.NotApplicable,
                Reason: $"solver '{SolverName.StoreAll}' recomputes nothing, so it cannot honour --recompute '{problem.Graph[options.ForceRecompute.Min()].Name}' (use another solver)"), null, null, budget, storeAll, 0);
        Candidate? best;
        if (solver is CanonicalDpSolver dp)
        {
            best = SearchModelBudget(problem, dp, options, cancellation);
            // A chain found at another model budget than the user's is optimal for that budget only: at the user's it
            // is a feasible plan, nothing more.
            if (best is { Result.Status: PlanStatus.CanonicalOptimal } searched && searched.ModelBudget != budget)
                best = searched with
                {
                    Result = searched.Result with
                    {
                        Status = PlanStatus.Feasible,
                        Claim = $"the DP's optimum in the paper model at a model budget of {searched.ModelBudget} bytes (the paper model counts more than the schedule holds, so the planner searched that budget); no optimality claim at this budget",
                    },
                };
            // On a thinned family (a graph too large for every ancestral set) the chain is refined (ChainRefinement).
            if (problem.Forward.Count + 2 > options.MaxApproxSets && best is { Result.Strategy: { } chain, Simulation: { } fit }
                && fit.Fits(budget)
                && ChainRefinement.Refine(problem, chain, solverName, budget, fit.RecomputeTime, cancellation) is { } refined)
            {
                var cost = PaperCostModel.Evaluate(problem.Forward, refined.Strategy);
                best = best with
                {
                    // No longer the DP's optimum over its family: a feasible refinement of it.
                    Result = best.Result with { Status = PlanStatus.Feasible,
                        Claim = "a feasible refinement of a DP chain over evenly spaced ancestral sets", Strategy = refined.Strategy, PaperModel = new(cost.PeakBytes, cost.Overhead) },
                    Schedule = refined.Schedule with { BudgetBytes = budget },
                    Simulation = refined.Simulation,
                };
            }
        }
        else
        {
            var r = solver.Solve(problem, options, cancellation);
            best = Prove(problem, r, budget);
        }
        if (solver is DpSolver && !options.FamilyChainsPlanned) best = WithFamilyChains(problem, best, options, cancellation);
        clock.Stop();
        if (best is null)
            return new PlanResult(new SolverResult(solverName, PlanStatus.Infeasible, Reason: "the solver found no strategy"), null, null,
                budget, storeAll, clock.Elapsed.TotalSeconds);
        var result = best.Result;
        if (best.Simulation is { } sim && !sim.Fits(budget))
            result = result with
            {
                Status = PlanStatus.Infeasible,
                Claim = null,
                Reason = result.Reason ?? $"the best schedule found needs {sim.PeakBytes} bytes, more than the budget of {budget} bytes",
            };
        return WithFloor(problem, HonourPins(new PlanResult(result, best.Schedule, best.Simulation, budget, storeAll,
            clock.Elapsed.TotalSeconds) { SolverBudgetBytes = best.ModelBudget },
            solverName, options));
    }

    /// <summary>
    /// The infeasible answer at a budget below <see cref="Solvers.Optimal.MemoryLowerBound"/> (the largest step), before
    /// any solver runs, with store-all's schedule as the closest; null at or above it, or where the floor does not
    /// apply (no tasks, a solver that does not plan this graph).
    /// </summary>
    private static PlanResult? BelowFloor(PlanningProblem problem, long budget, string solverName, long storeAll)
    {
        // The optimal solver answers below the floor with the least budget it found feasible, which callers ask it for.
        if (problem.Training.Count == 0 || budget == SolverOptions.UnlimitedBudget || solverName == SolverName.Optimal || !Applies(problem, solverName)
            || problem.Floor.Bytes <= budget) return null;
        // Store-all's schedule stands as the closest one, as an infeasible answer shows the closest schedule found.
        var (schedule, simulation) = StoreAll(problem);
        return WithFloor(problem, new PlanResult(new SolverResult(solverName, PlanStatus.Infeasible), schedule, simulation, budget, storeAll, 0));
    }

    /// <summary>
    /// An infeasible answer at a budget below <see cref="Solvers.Optimal.MemoryLowerBound"/> (the largest step) says
    /// so: then no schedule at all fits, whichever solver is asked (without it, the reason names only what the solver
    /// found).
    /// </summary>
    private static PlanResult WithFloor(PlanningProblem problem, PlanResult plan)
    {
        if (plan.Solver.Status != PlanStatus.Infeasible) return plan;
        if (problem.Training.Count == 0 || problem.Floor.Bytes <= plan.BudgetBytes) return plan;
        var floor = problem.Floor;
        string explained = floor.Explain(problem.Training);
        string why = $"no schedule of this graph fits it: {explained}, more than the budget of {plan.BudgetBytes} bytes";
        // A reason that gives the step already (the optimal solver's, and auto's through it) is replaced, not repeated.
        string? other = plan.Solver.Reason is { } r && !r.Contains(explained, StringComparison.Ordinal) ? r : null;
        return plan with { Solver = plan.Solver with { Reason = other is null ? why : $"{why}; {other}" } };
    }

    /// <summary>
    /// Every solver's schedule is checked against <c>--keep</c> and <c>--recompute</c> (<see cref="PinCheck"/>): one that
    /// breaks a pin is refused as not applicable, with the pin named, never passed off as a plan that honours it.
    /// </summary>
    private static PlanResult HonourPins(PlanResult plan, string solverName, SolverOptions options)
    {
        if (options.Keep.IsEmpty && options.ForceRecompute.IsEmpty) return plan;
        if (plan.Schedule is not { } schedule || PinCheck.Violation(schedule, options.Keep, options.ForceRecompute) is not { } broken) return plan;
        return plan with
        {
            Solver = plan.Solver with { Status = PlanStatus.NotApplicable, Claim = null,
                Reason = $"solver '{solverName}' found only a schedule that {broken}" },
            Schedule = null,
            Simulation = null,
        };
    }


    /// <summary>Whether a solver can plan the problem: the canonical solvers other than store-all need a forward/backward split.</summary>
    public static bool Applies(PlanningProblem problem, string solverName) => Applies(problem, SolverRegistry.Create(solverName));

    private static bool Applies(PlanningProblem problem, ISolver solver) =>
        problem.CanonicalApplies || !solver.IsCanonical || solver is StoreAllSolver;

    /// <summary>Why a solver does not apply to the problem (see <see cref="Applies(PlanningProblem, string)"/>).</summary>
    public static string NotApplicableReason(PlanningProblem problem, string solverName) =>
        $"solver '{solverName}' plans canonical strategies, which need a forward/backward split; the DAG of '{problem.Graph.Name}' taken as given has no backward nodes (use {SolverName.Optimal}, {SolverName.Greedy} or {SolverName.StoreAll})";

    /// <summary>Largest forward graph whose DP blocks are sized by replay (see <see cref="CanonicalDpSolver.SizesBlocksByReplay"/>).</summary>
    public static int ReplayLimit => CanonicalDpOptions.Default.ReplayNodeLimit;

    /// <summary>Model budgets the search tries after the user's own when the DP is expensive (a large lower-set family).</summary>
    private const int LargeFamilyRounds = 2;

    private sealed record Candidate(SolverResult Result, Schedule? Schedule, SimulationResult? Simulation, long ModelBudget);

    /// <summary>Model budget search for the canonical DPs (see <see cref="Plan"/>).</summary>
    private static Candidate? SearchModelBudget(PlanningProblem problem, CanonicalDpSolver dp, SolverOptions options, CancellationToken ct)
    {
        long budget = options.BudgetBytes;
        Candidate? best = null;
        // Replaying blocks costs O(|V'|) per transition: on very large graphs and families only the paper's O(1) bound is used.
        bool replaySized = dp.SizesBlocksByReplay(problem, options);
        if (options.BlockModel == BlockCostModel.Paper && replaySized)
        {
            var replay = dp.Solve(problem, options with { BlockModel = BlockCostModel.Liveness }, ct);
            // The replayed model counts no more than the paper's, so when it finds no chain neither will the paper's.
            if (!replay.Feasible) return Prove(problem, replay, budget);
            var c = Prove(problem, replay, budget);
            if (c.Simulation!.Fits(budget)) return c;
        }
        long hi = PaperCostModel.Evaluate(problem.Forward, CanonicalStrategy.EveryTensor(problem.Forward)).PeakBytes;
        // A graph too large for every ancestral set (the family is thinned; each DP run takes seconds) gets a shorter
        // search, and its chain is refined by simulation afterwards (see Plan), which uses the slack a larger model
        // budget would: no search above the user's budget, and below it at most 3 halvings (to 1/256 of the budget).
        bool large = problem.Forward.Count + 2 > options.MaxApproxSets;
        int rounds = large ? 3 : 12;
        long tolerance = Math.Max(1, budget / (large ? 256 : 1000));
        var tried = new Dictionary<long, Candidate?>();
        Candidate? At(long modelBudget)
        {
            if (tried.TryGetValue(modelBudget, out var known)) return known;
            var r = dp.Solve(problem, options with { BudgetBytes = modelBudget, BlockModel = BlockCostModel.Paper }, ct);
            if (!r.Feasible) return tried[modelBudget] = null;
            var c = Prove(problem, r, budget) with { ModelBudget = modelBudget };
            if (c.Simulation!.Fits(budget) && (best is null || c.Simulation.RecomputeTime < best.Simulation!.RecomputeTime))
                best = c;
            return tried[modelBudget] = c;
        }
        bool Fits(Candidate? c) => c?.Simulation is { } s && s.Fits(budget);

        long lo;
        var first = At(Math.Min(budget, hi));
        if (Fits(first))
        {
            lo = Math.Min(budget, hi);
            if (large) return best;
        }
        else
        {
            if (large) hi = Math.Min(hi, budget);
            // The model says no (or the schedule does not fit): start from the model's smallest budget.
            var min = dp.MinimumBudget(problem, options with { BlockModel = BlockCostModel.Paper }, ct);
            if (min is null) return first;
            var atMin = At(min.Value.Budget);
            if (!Fits(atMin)) return atMin ?? first;
            lo = min.Value.Budget;
        }
        // A large exact family costs seconds per DP run: a short search between the user's budget and store-all's.
        bool largeExact = dp.HasLargeFamily(problem, options);
        if (lo >= hi || (!largeExact && Fits(At(hi)))) return best;
        for (int round = 0; round < (largeExact ? LargeFamilyRounds : rounds) && hi - lo > tolerance; round++)
        {
            long mid = lo + (hi - lo) / 2;
            if (Fits(At(mid))) lo = mid; else hi = mid;
        }
        return best;
    }

    /// <summary>Canonical solvers whose chains are chains of every lower set, so of the exact DP's own family.</summary>
    internal static readonly string[] ChainsOfEveryLowerSet = [SolverName.DpApprox, SolverName.PerBlock, SolverName.Chen];

    /// <summary>
    /// The exact DP's family holds every chain of lower sets, the chains of dp-approx, per-block and chen among them;
    /// its block model is not the simulator, so one of theirs can fit where the DP's own chain does not, or cost less.
    /// The exact
    /// DP's plan is the best of them by simulation: never worse than a chain of its own family that another solver
    /// found. A chain taken from another solver is a feasible plan; its claim names the solver.
    /// </summary>
    private static Candidate? WithFamilyChains(PlanningProblem problem, Candidate? best, SolverOptions options, CancellationToken ct)
    {
        long budget = options.BudgetBytes;
        bool Fits(Candidate? c) => c?.Simulation is { } sim && sim.Fits(budget);
        foreach (var other in ChainsOfEveryLowerSet)
        {
            ct.ThrowIfCancellationRequested();
            var plan = Plan(problem, other, options with { DpWork = null }, ct);
            if (!plan.Feasible || plan.Solver.Strategy is not { } chain || plan.Simulation is not { } sim || !sim.Fits(budget)) continue;
            if (Fits(best) && best!.Simulation!.RecomputeTime <= sim.RecomputeTime) continue;
            var result = new SolverResult(SolverName.Dp, PlanStatus.Feasible, Strategy: chain,
                PaperModel: plan.Solver.PaperModel)
            {
                Claim = $"{other}'s chain of lower sets, which is in the exact DP's family and fits by simulation where the DP's own chain {(Fits(best) ? "costs more" : "does not")}; no optimality claim",
            };
            best = Prove(problem, result, budget);
        }
        return best;
    }

    private static Candidate Prove(PlanningProblem problem, SolverResult result, long budget)
    {
        if (!result.Feasible) return new Candidate(result, null, null, budget);
        var schedule = (result.Schedule
            ?? Lowering.Lower(problem.Training, problem.Forward, result.Strategy
                ?? throw new InvalidOperationException($"solver {result.Solver} returned neither a strategy nor a schedule"), result.Solver, budget))
            with { BudgetBytes = budget };
        var sim = Simulator.Measure(schedule);
        return new Candidate(result, schedule, sim, budget);
    }
}
