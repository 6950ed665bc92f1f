using System.Diagnostics;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Planner.Planning;

/// <summary>The result of planning: what the solver said, the schedule, and its simulation (the proof).</summary>
/// <param name="StoreAllPeakBytes">Simulated peak of the store-all schedule: the reference for percentages and savings.</param>
public sealed record PlanResult(
    SolverResult Solver,
    Schedule? Schedule,
    SimulationResult? Simulation,
    long BudgetBytes,
    long StoreAllPeakBytes,
    double SolveSeconds)
{
    /// <summary>A schedule exists and its simulated peak fits the budget.</summary>
    public bool Feasible => Schedule is not null && Simulation is not null && Simulation.PeakBytes <= BudgetBytes;
}

/// <summary>The smallest budget a solver finds a plan for.</summary>
/// <param name="MinBudgetBytes">In the solver's own model (the paper model for the canonical DPs).</param>
/// <param name="Plan">The plan at that budget (its simulated peak is at most the budget).</param>
public sealed record MinMemoryResult(long MinBudgetBytes, PlanResult Plan);

/// <summary>
/// The library's front door: plan a graph under a budget with a named solver, lower the result to a schedule and
/// prove it by simulation. The command line is a thin shell over these calls.
/// </summary>
/// <example>
/// <code>
/// var problem = new PlanningProblem(GraphLoader.Load("graphs/resnet18-b32.onnx"));
/// long budget = ByteSize.Parse("40%", RecomputePlanner.StoreAllPeak(problem));
/// PlanResult plan = RecomputePlanner.Plan(problem, "dp-approx", new SolverOptions { BudgetBytes = budget });
/// ScheduleFormat.Write(plan.Schedule!, "schedule.json");
/// </code>
/// </example>
public static class RecomputePlanner
{
    /// <summary>Simulated peak of the store-all schedule (no recomputation).</summary>
    public static long StoreAllPeak(PlanningProblem problem) => StoreAll(problem).Simulation.PeakBytes;

    /// <summary>The store-all schedule and its simulation.</summary>
    public static (Schedule Schedule, SimulationResult Simulation) StoreAll(PlanningProblem problem)
    {
        var schedule = Lowering.Lower(problem.Training, problem.Forward, StoreAllSolver.Strategy(problem.Forward), "store-all", null);
        return (schedule, Simulator.Simulate(schedule));
    }

    /// <summary>Plans under <see cref="SolverOptions.BudgetBytes"/> with the named solver.</summary>
    public static PlanResult Plan(PlanningProblem problem, string solverName, SolverOptions options, CancellationToken cancellation = default)
    {
        var solver = SolverRegistry.Create(solverName);
        long storeAll = StoreAllPeak(problem);
        var clock = Stopwatch.StartNew();
        var result = solver.Solve(problem, options, cancellation);
        var (schedule, sim) = Prove(problem, result, options.BudgetBytes);

        // Canonical plans are sized in the paper's model; for explicit training graphs the simulated peak can
        // exceed it. Tighten the solver's budget by the excess until the schedule itself fits (a few rounds).
        var tightened = options;
        for (int round = 0; round < 8 && solver.IsCanonical && sim is not null && sim.PeakBytes > options.BudgetBytes; round++)
        {
            long excess = sim.PeakBytes - options.BudgetBytes;
            tightened = tightened with { BudgetBytes = tightened.BudgetBytes - excess };
            if (tightened.BudgetBytes <= 0) break;
            var retry = solver.Solve(problem, tightened, cancellation);
            if (!retry.Feasible) break;
            var (s2, sim2) = Prove(problem, retry, options.BudgetBytes);
            result = retry; schedule = s2; sim = sim2;
        }
        clock.Stop();
        if (sim is not null && sim.PeakBytes > options.BudgetBytes)
            result = result with
            {
                Feasible = false,
                Status = "INFEASIBLE",
                Reason = $"the best schedule found needs {sim.PeakBytes} bytes, more than the budget of {options.BudgetBytes} bytes",
            };
        return new PlanResult(result, schedule, sim, options.BudgetBytes, storeAll, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The smallest budget (in the solver's model) for which the canonical DP solver finds a strategy.</summary>
    /// <exception cref="ArgumentException">The solver has no minimum-memory mode.</exception>
    public static MinMemoryResult MinMemory(PlanningProblem problem, string solverName, SolverOptions options, CancellationToken cancellation = default)
    {
        var solver = SolverRegistry.Create(solverName);
        var clock = Stopwatch.StartNew();
        long minBudget;
        if (solver is CanonicalDpSolver dp)
        {
            var found = dp.MinimumBudget(problem, options, cancellation)
                ?? throw new InvalidOperationException("no chain of lower sets exists; the forward graph is empty");
            minBudget = found.Budget;
        }
        else if (solver is StoreAllSolver or ChenSolver)
        {
            var r = solver.Solve(problem, options with { BudgetBytes = long.MaxValue }, cancellation);
            minBudget = r.PaperModelPeakBytes ?? StoreAllPeak(problem);
        }
        else throw new ArgumentException($"solver '{solverName}' has no minimum-memory mode; use dp or dp-approx");
        var plan = Plan(problem, solverName, options with { BudgetBytes = minBudget }, cancellation);
        clock.Stop();
        return new MinMemoryResult(minBudget, plan with { SolveSeconds = clock.Elapsed.TotalSeconds });
    }

    private static (Schedule?, SimulationResult?) Prove(PlanningProblem problem, SolverResult result, long budget)
    {
        if (!result.Feasible) return (null, null);
        var schedule = result.Schedule
            ?? Lowering.Lower(problem.Training, problem.Forward, result.Strategy ?? throw new InvalidOperationException($"solver {result.Solver} returned neither a strategy nor a schedule"), result.Solver, budget);
        var sim = Simulator.Simulate(schedule with { BudgetBytes = budget }, enforceBudget: false);
        return (schedule with { BudgetBytes = budget }, sim);
    }
}
