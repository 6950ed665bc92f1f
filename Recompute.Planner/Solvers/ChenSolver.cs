using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

/// <summary>
/// Chen et al. (2016) √n checkpointing (<c>--solver chen</c>): the candidates are the articulation lower sets
/// (ancestral sets L^v whose boundary is v alone); a checkpoint is placed every M(V)/⌊√#candidates⌋ bytes.
/// When that plan does not fit the budget, Chen's greedy variant is tried with every segment size between the
/// largest single tensor and M(V) (at most <see cref="ChenOptions.MaxGreedySizes"/> of them), and the feasible plan with least
/// recomputation (paper model) is returned. Feasible means: the paper model's peak fits the budget, or failing that
/// the simulated peak of the lowered schedule does (the paper model counts every value and gradient of a block at
/// once, far above what the schedule holds). The simulated check is tried on the √n plan and, when no segment size fits the model, on at most
/// <see cref="ChenOptions.MaxSimulatedSizes"/> evenly spaced sizes, keeping the one with least simulated recomputation.
/// </summary>
internal sealed class ChenSolver : ISolver
{
    public string Name => SolverName.Chen;
    public bool IsCanonical => true;

    /// <summary>The solver's settings, each with its default (<see cref="ChenOptions"/>).</summary>
    public ChenOptions Options { get; init; } = ChenOptions.Default;

    /// <summary>At most <paramref name="count"/> of the sorted <paramref name="sizes"/>, evenly spaced, first and last kept.</summary>
    private static List<long> EvenlySpaced(List<long> sizes, int count) =>
        sizes.Count <= count ? sizes
            : Enumerable.Range(0, count).Select(i => sizes[(int)((long)i * (sizes.Count - 1) / (count - 1))]).Distinct().ToList();

    private static SimulationResult Simulate(PlanningProblem problem, CanonicalStrategy plan, long budget) =>
        Simulator.Measure(Lowering.Lower(problem.Training, problem.Forward, plan, SolverName.Chen, budget));

    public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default)
    {
        var dag = problem.Forward;
        var cuts = new ArticulationCuts(dag);
        var candidates = cuts.Candidates;
        long total = dag.Bytes.Sum();
        int k = Math.Max(1, (int)Math.Floor(Math.Sqrt(candidates.Count)));
        var plan = cuts.Chain(total / k);
        var cost = PaperCostModel.Evaluate(dag, plan);
        if (cost.PeakBytes > options.BudgetBytes && !Simulate(problem, plan, options.BudgetBytes).Fits(options.BudgetBytes))
        {
            // Greedy variant: sweep the segment size; keep the cheapest plan that fits. Each try is O(|V| + |E|), so
            // on graphs with very many candidates (a long chain) a bounded number of evenly spaced sizes is tried.
            CanonicalStrategy? best = null;
            PaperCost bestCost = default;
            var sizes = candidates.Select(c => c.Mem).Distinct().Order().ToList();
            sizes = EvenlySpaced(sizes, Options.MaxGreedySizes);
            foreach (var size in sizes.Prepend(1))
            {
                cancellation.ThrowIfCancellationRequested();
                var p = cuts.Chain(size);
                var c = PaperCostModel.Evaluate(dag, p);
                if (c.PeakBytes <= options.BudgetBytes && (best is null || c.Overhead < bestCost.Overhead))
                {
                    best = p;
                    bestCost = c;
                }
            }
            if (best is null)
            {
                // The model says no segment size fits; the schedules themselves may.
                double bestRecompute = double.MaxValue;
                foreach (var size in EvenlySpaced(sizes, Options.MaxSimulatedSizes))
                {
                    cancellation.ThrowIfCancellationRequested();
                    var p = cuts.Chain(size);
                    var sim = Simulate(problem, p, options.BudgetBytes);
                    if (sim.Fits(options.BudgetBytes) && sim.RecomputeTime < bestRecompute)
                    {
                        best = p;
                        bestRecompute = sim.RecomputeTime;
                    }
                }
                if (best is null)
                    return new SolverResult(Name, PlanStatus.Infeasible, PaperModel: new(cost.PeakBytes, cost.Overhead),
                        Reason: "no segment size of Chen's greedy checkpointing fits the budget");
                bestCost = PaperCostModel.Evaluate(dag, best);
            }
            plan = best;
            cost = bestCost;
        }
        return new SolverResult(Name, PlanStatus.Feasible, Strategy: plan, PaperModel: new(cost.PeakBytes, cost.Overhead));
    }

    /// <summary>Articulation candidates (dense index v, M(L^v)) in topological order: the v with ∂(L^v) = {v}.</summary>
    public static IReadOnlyList<(int Node, long Mem)> ArticulationCandidates(ForwardDag dag) => new ArticulationCuts(dag).Candidates;

    /// <summary>
    /// The articulation lower sets of a forward graph, found in near-linear time with its post-dominator tree
    /// (a virtual sink after every sink). v is a candidate when ∂(L^v) = {v}, i.e. every edge leaving L^v leaves
    /// from v. Then v post-dominates all its ancestors, so L^v is exactly v's subtree in the post-dominator tree;
    /// conversely, when v's subtree is closed under inputs it is L^v and only v has readers outside. A subtree is
    /// closed under inputs when every edge into one of its nodes has both ends inside, i.e. when it counts as many
    /// edges whose two ends have their lowest common post-dominator inside as in-edges of its nodes.
    /// </summary>
    private sealed class ArticulationCuts
    {
        private readonly ForwardDag _dag;
        /// <summary>Immediate post-dominator (dense index; <c>Count</c> is the virtual sink).</summary>
        private readonly int[] _ipdom;

        public ArticulationCuts(ForwardDag dag)
        {
            _dag = dag;
            int n = dag.Count;
            _ipdom = new int[n];
            // Post-dominators come later in topological order, so one sweep from the end settles them (Cooper,
            // Harvey and Kennedy's intersection, walking towards larger indices).
            for (int v = n - 1; v >= 0; v--)
            {
                var succ = dag.Succ[v];
                int d = succ.Length == 0 ? n : succ[0];
                for (int i = 1; i < succ.Length; i++) d = Meet(d, succ[i]);
                _ipdom[v] = d;
            }
            var inEdges = new long[n];
            var edgesInside = new long[n];
            var mem = new long[n];
            for (int v = 0; v < n; v++)
            {
                inEdges[v] += dag.Pred[v].Length;
                mem[v] += dag.Bytes[v];
                foreach (int p in dag.Pred[v])
                {
                    int lca = Meet(p, v);
                    if (lca < n) edgesInside[lca]++;
                }
            }
            // Subtree sums: children come before their parent in topological order.
            for (int v = 0; v < n; v++)
            {
                int parent = _ipdom[v];
                if (parent >= n) continue;
                inEdges[parent] += inEdges[v];
                edgesInside[parent] += edgesInside[v];
                mem[parent] += mem[v];
            }
            Candidates = [];
            for (int v = 0; v < n; v++)
                if (dag.Succ[v].Length > 0 && inEdges[v] == edgesInside[v]) Candidates.Add((v, mem[v]));
        }

        public List<(int Node, long Mem)> Candidates { get; }

        /// <summary>Lowest common post-dominator of a and b (the virtual sink when none).</summary>
        private int Meet(int a, int b)
        {
            int n = _dag.Count;
            while (a != b)
            {
                if (a < b) a = a >= n ? n : _ipdom[a];
                else b = b >= n ? n : _ipdom[b];
            }
            return a;
        }

        /// <summary>
        /// Chen's chain: a checkpoint at each candidate whose L^v holds at least <paramref name="segment"/> bytes
        /// more than the previous checkpoint's. Each tensor goes into the block of the first checkpoint whose set
        /// holds it: its nearest chosen ancestor in the post-dominator tree (the last block when none).
        /// </summary>
        public CanonicalStrategy Chain(long segment)
        {
            int n = _dag.Count;
            var cutIndex = new int[n];
            Array.Fill(cutIndex, -1);
            int cuts = 0;
            long last = 0;
            foreach (var (v, mem) in Candidates)
                if (mem - last >= segment) { cutIndex[v] = cuts++; last = mem; }
            var blockOf = new int[n];
            for (int v = n - 1; v >= 0; v--)
                blockOf[v] = cutIndex[v] >= 0 ? cutIndex[v] : _ipdom[v] >= n ? cuts : blockOf[_ipdom[v]];
            var blocks = new List<int>[cuts + 1];
            for (int b = 0; b <= cuts; b++) blocks[b] = [];
            for (int v = 0; v < n; v++) blocks[blockOf[v]].Add(_dag.NodeOf[v]);
            return new CanonicalStrategy(blocks.Where(b => b.Count > 0).Select(b => b.ToImmutableArray()).ToImmutableArray());
        }
    }
}
