using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>What a time-centric or memory-centric solver optimises.</summary>
public enum Objective
{
    /// <summary>Least recomputation under the budget (time-centric).</summary>
    Time,
    /// <summary>Among chains under the budget, the coarsest one: most recomputation, least memory (memory-centric).</summary>
    Memory,
}

/// <summary>How the canonical DPs size a block.</summary>
public enum BlockCostModel
{
    /// <summary>The paper's bound 2·M(V') + M(A') + M(B'), bit for bit (compares with the paper's code).</summary>
    Paper,
    /// <summary>The peak of the block's part of the emitted schedule, replayed (<c>LivenessBlockCost</c>).</summary>
    Liveness,
}

/// <summary>Options every solver accepts. Fields a solver does not use are ignored by it.</summary>
public sealed record SolverOptions
{
    /// <summary>The budget that limits nothing (the default of <see cref="BudgetBytes"/>): plan as if memory were unbounded.</summary>
    public const long UnlimitedBudget = long.MaxValue;

    /// <summary>Bytes available for activations and their gradients (<see cref="UnlimitedBudget"/>: no limit).</summary>
    public long BudgetBytes { get; init; } = UnlimitedBudget;
    public Objective Objective { get; init; } = Objective.Time;
    /// <summary>Wall-clock limit; a solver that reaches it returns the best plan found so far.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// The limit from which the searches that count their work (greedy's order search and its cut-relaxation guide)
    /// do all of it: <c>auto</c>'s default. Below it they do <see cref="WorkFraction"/> of it, so that a shorter
    /// <see cref="TimeLimit"/> is a shorter search, still the same on any machine.
    /// </summary>
    public static readonly TimeSpan FullWorkLimit = TimeSpan.FromSeconds(5);

    /// <summary>The share of their full work the counted searches do: <see cref="TimeLimit"/> / <see cref="FullWorkLimit"/>, at most 1.</summary>
    internal double WorkFraction => Math.Clamp(TimeLimit / FullWorkLimit, 0, 1);

    /// <summary>Worker threads for solvers that use them (0: all cores).</summary>
    public int Threads { get; init; }
    /// <summary>
    /// CP-SAT's search in the cut relaxations (the bound for every schedule and greedy's guide): always 2 interleaved
    /// subsolvers, run on <see cref="Threads"/> threads, so that the same input gives the same bound and plan on any
    /// machine and with any thread count.
    /// </summary>
    internal Optimal.SearchWorkers RelaxationWorkers => new(2, Threads);
    /// <summary>Random seed for solvers that search (OR-Tools); fixed so that results are reproducible.</summary>
    public int Seed { get; init; }
    /// <summary>The exact DP stops with a clear error when the graph has more lower sets than this.</summary>
    public long MaxLowerSets { get; init; } = 1_000_000;
    /// <summary>
    /// The approximate DP uses every ancestral set up to this many; past it, the ancestral sets of evenly spaced
    /// tensors (in topological order) only, so that planning stays near-linear on very large graphs.
    /// </summary>
    public int MaxApproxSets { get; init; } = 2000;
    /// <summary>Block memory model of the canonical DPs (the planner uses <see cref="BlockCostModel.Liveness"/> first).</summary>
    public BlockCostModel BlockModel { get; init; } = BlockCostModel.Paper;
    /// <summary>Number of time buckets for DPs over real-valued costs (the discretisation error is reported).</summary>
    public int TimeBuckets { get; init; } = 2000;
    /// <summary>Tensors (graph node ids) that must never be recomputed.</summary>
    public ImmutableHashSet<int> Keep { get; init; } = [];
    /// <summary>Tensors (graph node ids) that must never be kept across the forward/backward gap.</summary>
    public ImmutableHashSet<int> ForceRecompute { get; init; } = [];
    /// <summary>A schedule to start from (the OR-Tools solver turns it into hints).</summary>
    public Schedule? WarmStart { get; init; }
    /// <summary>Told the best plan so far while a searching solver runs (the optimal solver); null: nobody listens.</summary>
    public IProgress<SolverProgress>? Progress { get; init; }
    /// <summary>A work limit for the canonical DPs of this call (the <c>auto</c> portfolio's exact DP); null: none.</summary>
    internal DpWork? DpWork { get; init; }
    /// <summary>
    /// The caller asks only whether a plan fits (the smallest-budget searches: <c>FeasibleBudget</c>,
    /// <c>RecomputePlanner.SmallestGreedyBudget</c>): greedy stops after its first pass when that fits (no pass guided
    /// by the cut relaxation, no order search), and auto stops at the first member whose plan fits (no greedy after
    /// it, no optimal improvement, no bound). None of them changes whether a plan fits, only what it costs and claims.
    /// </summary>
    internal bool FeasibilityOnly { get; init; }
    /// <summary>
    /// The caller already has the plans of dp-approx, per-block and chen with these options (the <c>auto</c>
    /// portfolio, which runs them before the exact DP): the exact DP does not plan them again to take one of their
    /// chains (<c>RecomputePlanner.WithFamilyChains</c>), since the caller compares them anyway.
    /// </summary>
    internal bool FamilyChainsPlanned { get; init; }

    /// <summary>
    /// The last word on the whole command (<c>plan</c> sets it at the end of <c>--time-limit</c> by the wall clock and
    /// the command's processor time, <see cref="Planning.CommandStop"/>): <c>auto</c> stops whichever member is running
    /// when it fires and answers with the best plan found by then, and its note says what it cut (that plan may then
    /// differ between runs). Counted work decides everything before it. Default: none.
    /// </summary>
    public CancellationToken Stop { get; init; }
}

/// <summary>
/// What a plan claims about itself, strongest first. <see cref="PlanStatusText.ToText"/> gives the words the JSON and
/// the tables print (<c>OPTIMAL</c>, <c>CANONICAL_OPTIMAL</c>, ...); <see cref="SolverResult.Claim"/> says in full
/// which schedules a claim covers.
/// </summary>
public enum PlanStatus
{
    /// <summary>
    /// Proven: a lower bound equals the plan's recomputation (gap 0) over the schedules the claim covers
    /// (<see cref="SolverResult.BoundSource"/>; a plan that recomputes nothing is optimal over every schedule).
    /// </summary>
    Optimal,
    /// <summary>
    /// Optimal among the canonical strategies of a DP's family (every lower set, or the ancestral ones) in the block
    /// model named by <see cref="SolverResult.Claim"/> (the paper's or the replayed one), not over every schedule: a
    /// general schedule (greedy, optimal) may cost less.
    /// </summary>
    CanonicalOptimal,
    /// <summary>A plan that fits, with no optimality claim (its gap says how far a bound is, when one is known).</summary>
    Feasible,
    /// <summary>No plan fits the budget.</summary>
    Infeasible,
    /// <summary>The solver does not apply to the problem (a canonical solver on a DAG without backward nodes).</summary>
    NotApplicable,
    /// <summary>The search ended without a plan and without a proof that none exists.</summary>
    Unknown,
}

/// <summary>The words of <see cref="PlanStatus"/> in JSON and tables.</summary>
public static class PlanStatusText
{
    /// <summary>OPTIMAL, CANONICAL_OPTIMAL, FEASIBLE, INFEASIBLE, NOT_APPLICABLE or UNKNOWN.</summary>
    public static string ToText(this PlanStatus status) => status switch
    {
        PlanStatus.Optimal => "OPTIMAL",
        PlanStatus.CanonicalOptimal => "CANONICAL_OPTIMAL",
        PlanStatus.Feasible => "FEASIBLE",
        PlanStatus.Infeasible => "INFEASIBLE",
        PlanStatus.NotApplicable => "NOT_APPLICABLE",
        PlanStatus.Unknown => "UNKNOWN",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}

/// <summary>What proved a plan's lower bound on recomputation (<see cref="SolverResult.BoundSource"/>).</summary>
public enum BoundSource
{
    /// <summary>The plan recomputes nothing: a bound of its own recomputation, 0, over every schedule.</summary>
    NoRecomputation,
    /// <summary>The cut relaxation (<c>GeneralBound</c>): holds for every schedule.</summary>
    CutRelaxation,
    /// <summary>CP-SAT on the stage model over one first-run order: holds for schedules whose first runs follow it.</summary>
    CpSat,
    /// <summary>A relaxation of that stage model: holds for the same family.</summary>
    Relaxation,
    /// <summary>One run of every task: a bound of 0 on recomputation, valid for every schedule.</summary>
    OneRunOfEveryTask,
}

/// <summary>The words of <see cref="BoundSource"/> in JSON and tables.</summary>
public static class BoundSourceText
{
    /// <summary>"no recomputation", "cut relaxation", "cp-sat", "relaxation" or "one run of every task".</summary>
    public static string ToText(this BoundSource source) => source switch
    {
        BoundSource.NoRecomputation => "no recomputation",
        BoundSource.CutRelaxation => "cut relaxation",
        BoundSource.CpSat => "cp-sat",
        BoundSource.Relaxation => "relaxation",
        BoundSource.OneRunOfEveryTask => "one run of every task",
        _ => throw new ArgumentOutOfRangeException(nameof(source)),
    };
}

/// <summary>
/// A proven lower bound on a plan's recomputation, what proved it, and the gaps it gives: set together or not at
/// all (<see cref="SolverResult.Bound"/>).
/// </summary>
/// <param name="LowerBound">The bound on recompute time (time units).</param>
/// <param name="Source">What proved it, and so which schedules it holds for (<see cref="Covers"/>).</param>
/// <param name="Gap">(total − total bound) / total, where total is one run of every task plus the recomputation
/// (Checkmate's and Moccasin's objective).</param>
/// <param name="RecomputeGap">(recompute − bound) / recompute: relative to the recomputation alone (0 when it is 0).</param>
/// <param name="TotalCost">Total compute of the plan: one run of every task plus the recomputation.</param>
/// <param name="TotalLowerBound">Proven lower bound on <paramref name="TotalCost"/>: one run of every task plus the bound.</param>
public sealed record PlanBound(double LowerBound, BoundSource Source, double Gap, double RecomputeGap, double TotalCost, double TotalLowerBound)
{
    /// <summary>The bound <paramref name="lowerBound"/> on a plan of <paramref name="training"/> that recomputes
    /// <paramref name="recompute"/>, with its gaps.</summary>
    public static PlanBound Of(TrainingGraph training, double recompute, double lowerBound, BoundSource source)
    {
        double once = training.ForwardTime + training.BackwardTime;
        double total = once + recompute;
        return new PlanBound(lowerBound, source,
            Gap: total > 0 ? Math.Max(0, (recompute - lowerBound) / total) : 0,
            RecomputeGap: recompute > 0 ? Math.Max(0, (recompute - lowerBound) / recompute) : 0,
            TotalCost: total,
            TotalLowerBound: once + lowerBound);
    }

    /// <summary>
    /// Which schedules the bound holds for: "every schedule" (the cut relaxation, no recomputation, one run of every
    /// task) or "schedules whose first runs follow the plan's order" (CP-SAT on the stage model and its relaxation).
    /// </summary>
    public string Covers => Source is BoundSource.CpSat or BoundSource.Relaxation ? "schedules whose first runs follow the plan's order" : "every schedule";
}

/// <summary>
/// A canonical strategy's cost in the paper's model (Kusumoto et al. 2019), kept bit for bit so that results compare
/// with the paper's code: set together or not at all (<see cref="SolverResult.PaperModel"/>).
/// </summary>
/// <param name="PeakBytes">The paper's memory bound of the chain: max over its blocks of 2·M(V') + M(A') + M(B').</param>
/// <param name="RecomputeTime">T(L₁…L_k) = Σᵢ T(Vᵢ \ ∂(Lᵢ)), in the graph's time unit (the paper's "overhead"; JSON
/// <c>paperModelOverhead</c>).</param>
public sealed record PaperModelCost(long PeakBytes, double RecomputeTime);

/// <summary>The outcome of a solver run.</summary>
/// <param name="Status">What the plan claims (see <see cref="PlanStatus"/>); <see cref="Feasible"/> follows from it.</param>
/// <param name="Strategy">For canonical solvers: the chain to lower.</param>
/// <param name="Schedule">For general solvers: the schedule itself (already lowered).</param>
/// <param name="PaperModel">The strategy's peak and recomputation in the paper's cost model (canonical solvers).</param>
/// <param name="Reason">Why no plan was found, in a user's terms.</param>
public sealed record SolverResult(
    string Solver,
    PlanStatus Status,
    CanonicalStrategy? Strategy = null,
    Schedule? Schedule = null,
    PaperModelCost? PaperModel = null,
    string? Reason = null,
    long? MinFeasibleBudgetBytes = null,
    double? DiscretisationError = null)
{
    /// <summary>
    /// The solver found a plan: its status is <see cref="PlanStatus.Optimal"/>, <see cref="PlanStatus.CanonicalOptimal"/>
    /// or <see cref="PlanStatus.Feasible"/> (derived from <see cref="Status"/>, so the two cannot disagree).
    /// </summary>
    public bool Feasible => Status is PlanStatus.Optimal or PlanStatus.CanonicalOptimal or PlanStatus.Feasible;

    /// <summary>Peak of the strategy in the paper's cost model (<see cref="PaperModelCost.PeakBytes"/>), or null for a general schedule.</summary>
    public long? PaperModelPeakBytes => PaperModel?.PeakBytes;

    /// <summary>The strategy's recomputation in the paper's cost model (<see cref="PaperModelCost.RecomputeTime"/>), or null.</summary>
    public double? PaperModelOverhead => PaperModel?.RecomputeTime;

    /// <summary>The plan's proven lower bound with its source and gaps, when a solver proved one (null: none).</summary>
    public PlanBound? Bound { get; init; }

    /// <summary>Proven lower bound on recompute time (<see cref="PlanBound.LowerBound"/>), or null without a bound.</summary>
    public double? LowerBound => Bound?.LowerBound;

    /// <summary>The gap relative to the plan's total compute (<see cref="PlanBound.Gap"/>), or null without a bound.</summary>
    public double? Gap => Bound?.Gap;

    /// <summary>The gap relative to the recomputation alone (<see cref="PlanBound.RecomputeGap"/>), or null without a bound.</summary>
    public double? RecomputeGap => Bound?.RecomputeGap;

    /// <summary>Total compute of the plan (<see cref="PlanBound.TotalCost"/>), or null without a bound.</summary>
    public double? TotalCost => Bound?.TotalCost;

    /// <summary>Proven lower bound on <see cref="TotalCost"/> (<see cref="PlanBound.TotalLowerBound"/>), or null without a bound.</summary>
    public double? TotalLowerBound => Bound?.TotalLowerBound;

    /// <summary>What proved <see cref="LowerBound"/> (JSON: its <see cref="BoundSourceText.ToText"/>), or null without a bound.</summary>
    public BoundSource? BoundSource => Bound?.Source;

    /// <summary>Which schedules <see cref="LowerBound"/> holds for (<see cref="PlanBound.Covers"/>), or null without a bound.</summary>
    public string? BoundCovers => Bound?.Covers;

    /// <summary>Anything the user should know about how the plan was found (e.g. a warm start cut by the time limit).</summary>
    public string? Note { get; init; }

    /// <summary>
    /// Which schedules <see cref="Status"/> speaks of, in words: for the DPs "optimal among canonical strategies over
    /// ... (replayed model)"; for a bound, the family it covers. Null when the status needs no qualification.
    /// </summary>
    public string? Claim { get; init; }

    /// <summary>A lower bound on the recomputation of every schedule at this budget (<see
    /// cref="Optimal.GeneralBound"/>), when it was computed.</summary>
    public double? GeneralLowerBound { get; init; }

    /// <summary>(recompute − <see cref="GeneralLowerBound"/>) / recompute: how far the plan can be from the best schedule there is.</summary>
    public double? GeneralRecomputeGap { get; init; }

    /// <summary>For the <c>auto</c> portfolio: the solver whose plan won (the plan is that solver's, unchanged).</summary>
    public string? WinningSolver { get; init; }
}

/// <summary>A recomputation strategy finder. One implementation per file, all behind this interface.</summary>
public interface ISolver
{
    /// <summary>Name used on the command line (<c>--solver</c>).</summary>
    string Name { get; }

    /// <summary>True when results are canonical chains that the paper's cost model applies to.</summary>
    bool IsCanonical { get; }

    SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default);
}

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
        _storeAll = new Lazy<(Schedule, SimulationResult)>(() =>
        {
            var schedule = AsGiven ? Liveness.RunOnce(Training, SolverName.StoreAll, null) : Lowering.StoreAll(Training, Forward,
                SolverName.StoreAll, null);
            return (schedule, Simulator.Simulate(schedule));
        });
    }

    private readonly Lazy<(Schedule, SimulationResult)> _storeAll;

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
