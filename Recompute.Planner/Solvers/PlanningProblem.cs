using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>The graph to plan with its derived training DAG (built once, shared by solvers).</summary>
public sealed class PlanningProblem
{
    /// <param name="graph">The graph to plan.</param>
    /// <param name="asGiven">Schedule the file's DAG as given (<see cref="TrainingGraph.AsGiven"/>): no derived
    /// gradients, and the store-all reference is the file's order run once without recomputation.</param>
    /// <exception cref="GraphFormatException">A loss that is not a scalar float (<see cref="LossRule"/>).</exception>
    public PlanningProblem(ComputationGraph graph, bool asGiven = false)
    {
        LossRule.Check(graph);
        Graph = graph;
        AsGiven = asGiven;
        LargeGraphMemory.Collect(graph); // what reading it left, before the training DAG doubles the heap
        Training = asGiven ? TrainingGraph.AsGiven(graph) : TrainingGraph.Derive(graph);
        LargeGraphMemory.Collect(Training);
        _forward = new Lazy<ForwardDag>(() => new ForwardDag(graph));
        _floor = new Lazy<Optimal.MemoryLowerBound>(() => Optimal.MemoryLowerBound.Of(Training));
        _storeAll = new Lazy<(Schedule, SimulationResult)>(() =>
        {
            var schedule = AsGiven ? Liveness.RunOnce(Training, SolverName.StoreAll, null) : Lowering.StoreAll(Training, Forward,
                SolverName.StoreAll, null);
            return (schedule, Simulator.Simulate(schedule));
        });
    }

    private readonly Lazy<(Schedule, SimulationResult)> _storeAll;
    private readonly Lazy<Optimal.MemoryLowerBound> _floor;

    /// <summary>
    /// The largest step (<see cref="Optimal.MemoryLowerBound"/>): no schedule peaks below it. Built on first use and
    /// shared: every plan's infeasible answer and every smallest-budget search asks for it.
    /// </summary>
    /// <exception cref="ArgumentException">The training DAG has no tasks.</exception>
    internal Optimal.MemoryLowerBound Floor => _floor.Value;

    /// <summary>
    /// The store-all schedule (no recomputation; as given, the file's order run once) and its simulation, built on
    /// first use and shared: every plan, every sweep point and the store-all solver need it.
    /// </summary>
    internal (Schedule Schedule, SimulationResult Simulation) StoreAll => _storeAll.Value;

    /// <summary>
    /// True when the DAG is scheduled as the file gives it (the Checkmate/Moccasin protocol): the store-all
    /// reference (and the base of budget percentages) is the file's order run once, and the canonical solvers,
    /// which need a forward/backward split, decline graphs that have no backward nodes.
    /// </summary>
    public bool AsGiven { get; }

    /// <summary>Whether the canonical solvers (chen, dp-approx, dp) apply: always, except as given without backward nodes.</summary>
    public bool CanonicalApplies => !AsGiven || Training.HasBackward;

    private readonly Lazy<ForwardDag> _forward;

    /// <summary>The forward graph the canonical solvers plan over (built on first use).</summary>
    internal ForwardDag Forward => _forward.Value;

    public ComputationGraph Graph { get; }
    public TrainingGraph Training { get; }
}
