using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>How a <see cref="TrainingSession"/> plans and trains.</summary>
public sealed record TrainingOptions
{
    /// <summary>Budget for activations and their gradients, in bytes. When neither this nor <see cref="BudgetFraction"/> is set: store-all.</summary>
    public long? BudgetBytes { get; init; }
    /// <summary>Budget as a fraction of the store-all peak (0.4 = 40%).</summary>
    public double? BudgetFraction { get; init; }
    /// <summary>Solver name as on the command line (<c>auto</c>, the default, <c>dp-approx</c>, <c>dp</c>, <c>chen</c>, ...).</summary>
    public string Solver { get; init; } = AutoPortfolio.Name;
    /// <summary>Time limit for the solver (default <see cref="AutoPortfolio.DefaultTimeLimit"/>, as auto's on the command line).</summary>
    public TimeSpan SolverTimeLimit { get; init; } = AutoPortfolio.DefaultTimeLimit;
    /// <summary>The optimizer; default SGD with learning rate 0.01 and momentum 0.9.</summary>
    public IOptimizer? Optimizer { get; init; }
    /// <summary>Seed of weight initialisation, synthetic data and dropout.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>
    /// Number of distinct synthetic batches that <see cref="TrainingSession.Step()"/> cycles through: a small fixed
    /// data set that a model can fit, so that the loss visibly falls.
    /// </summary>
    public int SyntheticBatches { get; init; } = 1;
    /// <summary>Check every recomputed tensor bitwise against its first computation.</summary>
    public bool CheckRecomputation { get; init; } = true;
}

/// <summary>What one training step did.</summary>
/// <param name="Step">Step number, from 1.</param>
/// <param name="Loss">Loss of the batch before the update.</param>
/// <param name="MeasuredPeakBytes">Peak bytes of activations and activation gradients the arena measured.</param>
/// <param name="PredictedPeakBytes">Peak the simulator predicted for the schedule.</param>
/// <param name="Seconds">Wall-clock time of forward, backward and update.</param>
/// <param name="ScratchPeakBytes">Peak bytes of kernel scratch (outside the planned memory).</param>
/// <param name="Recomputations">Recompute steps executed.</param>
public sealed record TrainingStepResult(int Step, float Loss, long MeasuredPeakBytes, long PredictedPeakBytes, double Seconds, long ScratchPeakBytes, int Recomputations);

/// <summary>
/// Trains a model by a memory plan: each <see cref="Step(TrainingBatch)"/> runs forward and backward by the schedule on real
/// tensors, then applies the optimizer. Parameters are initialised deterministically from the seed.
/// </summary>
/// <example>
/// <code>
/// var session = TrainingSession.Create(graph, new TrainingOptions { BudgetFraction = 0.4, Optimizer = new Adam(1e-3) });
/// for (int i = 0; i &lt; 20; i++) Console.WriteLine(session.Step().Loss);
/// </code>
/// </example>
public sealed partial class TrainingSession
{
    private readonly ScheduleExecutor _executor;
    private readonly IOptimizer _optimizer;
    private readonly int _seed;
    private readonly int _batches;

    private TrainingSession(Schedule schedule, SimulationResult simulation, TrainingOptions options, Arena arena)
    {
        Schedule = schedule; Simulation = simulation; Arena = arena;
        Model = ModelState.Initialize(schedule.Training.Graph, arena, options.Seed);
        _executor = new ScheduleExecutor(schedule.Training, Model) { CheckRecomputation = options.CheckRecomputation };
        _optimizer = options.Optimizer ?? new Sgd(0.01);
        _seed = options.Seed;
        _batches = Math.Max(1, options.SyntheticBatches);
    }

    /// <summary>
    /// Plans the graph under the options' budget with the named solver and creates a session that trains by the plan.
    /// </summary>
    /// <exception cref="InfeasibleBudgetException">No plan of the solver fits the budget.</exception>
    /// <exception cref="GraphFormatException">The graph has an op the runtime does not support, or sizes that disagree with its shapes.</exception>
    public static TrainingSession Create(ComputationGraph graph, TrainingOptions options, CancellationToken cancellation = default)
    {
        var problem = new PlanningProblem(graph);
        ScheduleExecutor.Check(problem.Training); // before a long solve: can the runtime execute this graph at all?
        long storeAll = RecomputePlanner.StoreAllPeak(problem);
        long budget = options.BudgetBytes ?? (options.BudgetFraction is { } f ? (long)Math.Floor(f * storeAll) : storeAll);
        var plan = RecomputePlanner.Plan(problem, options.Solver,
            new SolverOptions { BudgetBytes = budget, TimeLimit = options.SolverTimeLimit, Seed = options.Seed }, cancellation);
        if (!plan.Feasible) throw new InfeasibleBudgetException(plan);
        return new TrainingSession(plan.Schedule!, plan.Simulation!, options, new Arena()) { Plan = plan };
    }

    /// <summary>Creates a session that trains by a given schedule (validated by the simulator).</summary>
    public static TrainingSession Create(Schedule schedule, TrainingOptions? options = null)
    {
        var simulation = Simulator.Simulate(schedule);
        return new TrainingSession(schedule, simulation, options ?? new TrainingOptions(), new Arena());
    }

    public ComputationGraph Graph => Schedule.Training.Graph;
    /// <summary>The planner's result when the session planned the graph itself.</summary>
    public PlanResult? Plan { get; private init; }
    public Schedule Schedule { get; }
    /// <summary>The simulator's account of the schedule: the predicted peak and times.</summary>
    public SimulationResult Simulation { get; }
    public ModelState Model { get; }
    public Arena Arena { get; }
    /// <summary>Steps run so far.</summary>
    public int StepsRun { get; private set; }

    /// <summary>Runs one training step on the next synthetic batch (deterministic from the seed; see <see cref="TrainingOptions.SyntheticBatches"/>).</summary>
    public TrainingStepResult Step()
    {
        using var batch = TrainingBatch.Synthetic(Graph, Arena, _seed, StepsRun % _batches + 1);
        return Step(batch);
    }

    /// <summary>Runs one training step: forward and backward by the schedule, then the optimizer update.</summary>
    public TrainingStepResult Step(TrainingBatch batch)
    {
        int step = ++StepsRun;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var run = _executor.Run(Schedule, batch, DeterministicRandom.Derive((ulong)_seed, "dropout", step));
        _optimizer.Update(Model);
        clock.Stop();
        return new TrainingStepResult(step, run.Loss, run.MeasuredPeakBytes, Simulation.PeakBytes, clock.Elapsed.TotalSeconds, run.ScratchPeakBytes, run.Recomputations);
    }

    /// <summary>Runs forward and backward only (no update): parameter gradients are left in <see cref="Model"/>.</summary>
    public ExecutionResult ComputeGradients(TrainingBatch batch, int step = 1) =>
        _executor.Run(Schedule, batch, DeterministicRandom.Derive((ulong)_seed, "dropout", step));
}

/// <summary>No plan of the chosen solver fits the budget; the message says why and, when known, the smallest feasible budget.</summary>
public sealed class InfeasibleBudgetException(PlanResult plan) : Exception(Describe(plan))
{
    public PlanResult Plan { get; } = plan;

    private static string Describe(PlanResult plan)
    {
        var s = plan.Solver;
        string why = $"solver {s.Solver} found no plan within {plan.BudgetBytes} bytes" + (s.Reason is { } r ? $": {r}" : "");
        return s.MinFeasibleBudgetBytes is { } min ? $"{why}; the smallest feasible budget is {min} bytes" : why;
    }
}
