using System.Collections.Immutable;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Solvers;

/// <summary>Shared plumbing of the two DP solvers: they differ only in the family of lower sets.</summary>
internal abstract class CanonicalDpSolver : ISolver
{
    public abstract string Name { get; }
    public bool IsCanonical => true;

    /// <summary>The DP's settings, each with its default (<see cref="CanonicalDpOptions"/>).</summary>
    public CanonicalDpOptions Options { get; init; } = CanonicalDpOptions.Default;

    /// <summary>
    /// Whether the planner should size this solver's blocks by replay on this problem. A replay costs O(|V'|) per
    /// transition and the exact DP has about |family|²/7 transitions: on GoogLeNet's 27,358 lower sets the replayed
    /// exact DP needs minutes where the paper's O(1) bound needs seconds, so past <see cref="CanonicalDpOptions.ReplayNodeLimit"/>
    /// tensors or <see cref="CanonicalDpOptions.ReplaySetLimit"/> lower sets the planner uses the paper's model.
    /// </summary>
    public bool SizesBlocksByReplay(PlanningProblem problem, SolverOptions options) =>
        problem.Forward.Count <= Options.ReplayNodeLimit && !HasLargeFamily(problem, options);

    /// <summary>True when the family has more than <see cref="CanonicalDpOptions.ReplaySetLimit"/> sets (each DP run then takes seconds).</summary>
    public virtual bool HasLargeFamily(PlanningProblem problem, SolverOptions options) => false;

    /// <summary>The family in words, for <see cref="SolverResult.Claim"/> ("every lower set", "the ancestral lower sets").</summary>
    protected abstract string FamilyWords(ForwardDag dag, SolverOptions options);

    /// <summary>The claim of a DP's plan: optimal among the chains of its family in the named block model, no more.</summary>
    public static string CanonicalClaim(string family, BlockCostModel model) =>
        $"optimal among canonical strategies (chains of {family}) in the {(model == BlockCostModel.Paper ? "paper" : "replayed")} model; general schedules may cost less";

    /// <summary>The family of lower sets the DP runs over.</summary>
    protected abstract LowerSetFamily Family(ForwardDag dag, SolverOptions options, CancellationToken ct);

    /// <summary>Overhead of some chain known to fit the budget, to prune the time-centric DP; null when unknown.</summary>
    protected virtual double? OverheadUpperBound(PlanningProblem problem, SolverOptions options, CancellationToken ct) => null;

    /// <summary>An upper bound on the family's least peak, to prune the min-max DP (long.MaxValue / 4 when unknown).</summary>
    protected virtual long PeakUpperBound(PlanningProblem problem, SolverOptions options, CancellationToken ct) => long.MaxValue / 4;

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        var dag = problem.Forward;
        var family = Family(dag, options, cancellation);
        var dp = NewDp(problem, family, options);
        var strategy = dp.Solve(options.BudgetBytes, options.Objective, cancellation,
            options.Objective == Objective.Time ? OverheadUpperBound(problem, options, cancellation) : null);
        if (strategy is null)
            return new SolverResult(Name, PlanStatus.Infeasible,
                Reason: $"no chain of the {family.Count} lower sets fits the budget in the paper's model");
        var cost = PaperCostModel.Evaluate(dag, strategy);
        return new SolverResult(Name, PlanStatus.CanonicalOptimal, Strategy: strategy, PaperModel: new(cost.PeakBytes, cost.Overhead),
            DiscretisationError: DiscretisationBound(dag, options))
        { Claim = CanonicalClaim(FamilyWords(dag, options), options.BlockModel) };
    }

    /// <summary>The smallest paper-model budget for which this solver finds a strategy, and that strategy.</summary>
    /// <remarks>
    /// Remembered per problem and per option that changes it (family size, block model, pins): planning under a
    /// budget that does not fit and then telling the user the smallest one that does both need it.
    /// </remarks>
    public (long Budget, CanonicalStrategy Strategy)? MinimumBudget(PlanningProblem problem, SolverOptions options, CancellationToken ct = default)
    {
        var key = (Name, options.MaxApproxSets, options.MaxLowerSets, options.BlockModel,
            string.Join(",", options.Keep.Order()), string.Join(",", options.ForceRecompute.Order()));
        var cache = MinimumCache.GetValue(problem, _ => []);
        lock (cache)
            if (cache.TryGetValue(key, out var known)) return known;
        var dag = problem.Forward;
        var family = Family(dag, options, ct);
        var dp = NewDp(problem, family, options);
        var found = dp.MinimumPeak(PeakUpperBound(problem, options, ct), ct);
        lock (cache) cache[key] = found;
        return found;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<PlanningProblem,
        Dictionary<(string, int, long, BlockCostModel, string, string), (long Budget, CanonicalStrategy Strategy)?>> MinimumCache = new();

    private protected static CanonicalDp NewDp(PlanningProblem problem, LowerSetFamily family, SolverOptions options)
    {
        var dag = problem.Forward;
        return new(family,
            options.Keep.Select(n => dag.IndexOf[n]).Where(i => i >= 0),
            options.ForceRecompute.Select(n => dag.IndexOf[n]).Where(i => i >= 0),
            CanonicalDp.ChooseUnit(dag, options.TimeBuckets), options.Threads,
            options.BlockModel == BlockCostModel.Liveness ? new LivenessBlockCost(dag, problem.Training, family) : null, options.DpWork);
    }

    /// <summary>Worst-case relative error of the DP's overhead from rounding each block's time to the quantum.</summary>
    private static double DiscretisationBound(ForwardDag dag, SolverOptions options)
    {
        double unit = CanonicalDp.ChooseUnit(dag, options.TimeBuckets);
        double total = dag.Time.Sum();
        if (unit == 1 && dag.Time.All(t => t == Math.Floor(t))) return 0;
        return total > 0 ? dag.Count * unit / 2 / total : 0;
    }
}

/// <summary>The exact DP over every lower set of the forward graph (<c>--solver dp</c>).</summary>
internal sealed class DpSolver : CanonicalDpSolver
{
    public override string Name => SolverName.Dp;

    protected override LowerSetFamily Family(ForwardDag dag, SolverOptions options, CancellationToken ct) =>
        LowerSetFamily.All(dag, options.MaxLowerSets, ct);

    protected override string FamilyWords(ForwardDag dag, SolverOptions options) => "every lower set";

    public override bool HasLargeFamily(PlanningProblem problem, SolverOptions options) =>
        LowerSetFamily.CountAll(problem.Forward, Options.ReplaySetLimit) is null;

    // Every ancestral set is a lower set, so the approximate DP's least peak bounds the exact one ...
    protected override long PeakUpperBound(PlanningProblem problem, SolverOptions options, CancellationToken ct) =>
        NewDp(problem, LowerSetFamily.Ancestral(problem.Forward), options).MinimumPeak(long.MaxValue / 4, ct)?.Peak ?? long.MaxValue / 4;

    // ... and the approximate DP's chain at the same budget bounds the exact overhead.
    protected override double? OverheadUpperBound(PlanningProblem problem, SolverOptions options, CancellationToken ct)
    {
        var approx = NewDp(problem, LowerSetFamily.Ancestral(problem.Forward), options).Solve(options.BudgetBytes, Objective.Time, ct);
        return approx is null ? null : PaperCostModel.Evaluate(problem.Forward, approx).Overhead;
    }
}

/// <summary>The approximate DP over the |V|+1 ancestor-closed lower sets L^v = {v} ∪ ancestors(v) (<c>--solver dp-approx</c>).</summary>
internal sealed class DpApproxSolver : CanonicalDpSolver
{
    public override string Name => SolverName.DpApprox;

    protected override LowerSetFamily Family(ForwardDag dag, SolverOptions options, CancellationToken ct) =>
        LowerSetFamily.Ancestral(dag, options.MaxApproxSets);

    protected override string FamilyWords(ForwardDag dag, SolverOptions options) =>
        dag.Count + 2 > options.MaxApproxSets ? "evenly spaced ancestral lower sets" : "the ancestral lower sets";

    /// <summary>
    /// The least paper-model peak of a few chains of the family itself, so that the min-max DP drops every state
    /// above it (without a bound its fronts grow with the family: minutes on a 100,000-node chain). The chains:
    /// every set that contains the previous one, in family order, and that chain thinned to every 2nd, 4th, ...
    /// set. Each is a chain of the family, so its peak is at least the DP's optimum and the optimum is unchanged.
    /// Pins restrict the chains the DP may use, so with pins there is no bound.
    /// </summary>
    protected override long PeakUpperBound(PlanningProblem problem, SolverOptions options, CancellationToken ct)
    {
        const long none = long.MaxValue / 4;
        if (!options.Keep.IsEmpty || !options.ForceRecompute.IsEmpty) return none;
        var dag = problem.Forward;
        var family = Family(dag, options, ct);
        var chain = new List<int>();
        int prev = 0;
        for (int k = 1; k < family.Count; k++)
            if (family.IsProperSubset(prev, k)) { chain.Add(k); prev = k; }
        long best = none;
        for (int stride = 1; stride < 2 * chain.Count; stride *= 2)
        {
            ct.ThrowIfCancellationRequested();
            var blocks = ImmutableArray.CreateBuilder<ImmutableArray<int>>();
            int from = 0;
            for (int i = stride - 1; i < chain.Count + stride - 1; i += stride)
            {
                int to = chain[Math.Min(i, chain.Count - 1)];
                blocks.Add(family.Difference(to, from).Select(v => dag.NodeOf[v]).ToImmutableArray());
                from = to;
                if (i >= chain.Count - 1) break;
            }
            best = Math.Min(best, PaperCostModel.Evaluate(dag, new CanonicalStrategy(blocks.ToImmutable())).PeakBytes);
        }
        return best;
    }
}
