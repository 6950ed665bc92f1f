using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers;

internal sealed partial class GreedySolver
{
    /// <summary>
    /// Lowers a plan's cost by chains of keep pins, where a single pin does not pay. A chain starts by forbidding the
    /// recomputation of one buffer the plan recomputes (the largest first); the greedy pass then evicts other buffers
    /// instead, and the chain goes on by forbidding the largest of those that the new plan recomputes (its costliest on
    /// ties), one at a time. Each link's plan is also improved by a few rounds of <see cref="PinSearch"/> with the chain
    /// as its starting pins, and the chain follows that plan. The cheapest plan of any link, when cheaper than the plan
    /// in hand, is kept with its pins and the search starts again from it.
    /// </summary>
    /// <remarks>
    /// The eviction scores look one step ahead; keeping a large buffer pays only once the buffers it displaces are kept
    /// too. On ResNet-18 at half of store-all (FLOP costs) the plan recomputes the stem's convolution twice; the chain
    /// that keeps the stem's ReLU output, then the layer-1 convolution outputs it displaces (and, through the pin
    /// search, two downsampling convolutions) recomputes it once: 1.55·10¹⁰ → 1.17·10¹⁰. Counted work, no clock: at most
    /// <see cref="GreedyOptions.PinChainRounds"/> rounds of <see cref="GreedyOptions.PinChainStarts"/> chains of
    /// <see cref="GreedyOptions.PinChainLength"/> links, within <see cref="GreedyOptions.PinChainWork"/> scan visits,
    /// times <see cref="SolverOptions.WorkFraction"/>.
    /// </remarks>
    internal static (Schedule Schedule, SimulationResult Simulation)? PinChains(TrainingGraph training, (Schedule Schedule, SimulationResult Simulation) start,
        IReadOnlyList<int[]> starts, SolverOptions options, string solver, CancellationToken cancellation)
    {
        if (Optimal.RelaxationGuide.TooWide(training)) return null;
        var settings = GreedyOptions.Default;
        var atGap = PinTasks(training, options).AtGap;
        var best = start;
        var pins = new HashSet<int>();
        var orders = new List<int[]>(starts) { Optimal.StageOrder.FirstRunOrder(start.Schedule) };
        var meter = new WorkMeter();
        long work = (long)(settings.PinChainWork * options.WorkFraction);
        int rounds = (int)Math.Ceiling(settings.PinChainRounds * options.WorkFraction);
        // Tasks whose pin alone (with the pins kept so far) left no plan that fits: a chain never pins them.
        var unpinnable = new HashSet<int>(atGap);
        bool improvedAny = false;
        for (int round = 0; round < rounds && meter.Visits < work; round++)
        {
            (Schedule Schedule, SimulationResult Simulation)? roundBest = null;
            HashSet<int>? roundPins = null;
            var firsts = ChainStarts(training, best.Schedule, pins, unpinnable, settings);
            foreach (int first in firsts)
            {
                var chain = new HashSet<int>(pins) { first };
                for (int link = 0; link < settings.PinChainLength && meter.Visits < work; link++)
                {
                    if (Best(training, orders, options, solver, cancellation, alsoKeep: chain, meter: meter, meterLimit: work) is not { } found)
                    {
                        if (link == 0) unpinnable.Add(first);
                        break;
                    }
                    double bar = roundBest?.Simulation.RecomputeTime ?? best.Simulation.RecomputeTime;
                    if (found.Simulation.RecomputeTime < bar) (roundBest, roundPins) = (found, new HashSet<int>(chain));
                    var state = found;
                    // A link far costlier than the best plan is followed without its pin search (which rarely recovers
                    // that much) to save the work.
                    if (found.Simulation.RecomputeTime < settings.PinChainSlack * bar
                        && PinRounds(training, found, orders, options, solver, cancellation, chain, settings.PinChainSearchRounds, meter, work) is { } searched)
                    {
                        state = searched;
                        if (searched.Simulation.RecomputeTime < bar) (roundBest, roundPins) = (searched, new HashSet<int>(chain));
                    }
                    int next = Largest(training, RecomputeCosts(training, state.Schedule), chain, unpinnable).DefaultIfEmpty(-1).First();
                    if (next < 0) break;
                    chain.Add(next);
                }
                if (meter.Visits >= work) break;
            }
            if (roundBest is not { } improvedPlan) break;
            (best, pins, improvedAny) = (improvedPlan, roundPins!, true);
            orders.Add(Optimal.StageOrder.FirstRunOrder(best.Schedule));
        }
        return improvedAny ? best : null;
    }

    /// <summary>
    /// Where a round's chains start: the <see cref="GreedyOptions.PinChainStarts"/> largest buffers the schedule
    /// recomputes (the costliest recomputation first among equal sizes), then, where more buffers of the last start's
    /// size are recomputed than the starts hold, the <see cref="GreedyOptions.PinChainRebuildStarts"/> largest by
    /// <see cref="RebuildCosts"/> not among them. Among such buffers a cheap one at the end of a long rebuild (a block
    /// output rebuilt through its block) comes last by its own cost but may be the one worth keeping: on
    /// DeepLabV3-ResNet-50 at 40 % of store-all (FLOP costs) the backbone's last ReLU output, the ninth of layer 4's
    /// 98 MiB buffers, whose pin alone gives a plan 13 % cheaper.
    /// </summary>
    internal static List<int> ChainStarts(TrainingGraph training, Schedule schedule, HashSet<int> pinned, HashSet<int> excluded, GreedyOptions settings)
    {
        var ranked = Largest(training, RecomputeCosts(training, schedule), pinned, excluded).Take(settings.PinChainStarts + 1).ToList();
        var firsts = ranked.Take(settings.PinChainStarts).ToList();
        // Only where the buffers of the last start's size do not all fit among the starts: elsewhere the starts are
        // the largest buffers whatever their costs, and the extra chains would be work for nothing.
        if (ranked.Count > settings.PinChainStarts && training.Tasks[ranked[^1]].Bytes == training.Tasks[ranked[^2]].Bytes)
            firsts.AddRange(Largest(training, RebuildCosts(training, schedule), pinned, excluded)
                .Where(t => !firsts.Contains(t)).Take(settings.PinChainRebuildStarts).ToList());
        return firsts;
    }

    /// <summary>Recompute time of each task a schedule recomputes, summed over its recomputations.</summary>
    private static Dictionary<int, double> RecomputeCosts(TrainingGraph training, Schedule schedule)
    {
        var cost = new Dictionary<int, double>();
        foreach (var step in schedule.Steps)
            if (step.Kind == StepKind.Recompute) cost[step.Task] = cost.GetValueOrDefault(step.Task) + training.Tasks[step.Task].Time;
        return cost;
    }

    /// <summary>Most recomputed ancestors one recomputation is charged with in <see cref="RebuildCosts"/> (the longest run of
    /// ResNet-50's plan at 30 % before the pins, from the stem's convolution to layer 1's output, has 24).</summary>
    internal const int RebuildAncestors = 64;

    /// <summary>
    /// What each task a schedule recomputes costs to rebuild, summed over its recomputations: its own time plus that of
    /// the tasks recomputed before it in the same run of recomputations (the steps between two other runs) that it
    /// reads, directly or through them. A cheap buffer at the end of a long run of recomputations (a residual sum
    /// rebuilt from the stem) rebuilds at the run's cost, which keeping it would save. Each recomputation counts at most
    /// <see cref="RebuildAncestors"/> such ancestors (the nearest first), so that a long run costs linear work.
    /// </summary>
    internal static Dictionary<int, double> RebuildCosts(TrainingGraph training, Schedule schedule)
    {
        var cost = new Dictionary<int, double>();
        var run = new HashSet<int>();
        var reached = new HashSet<int>();
        var queue = new Queue<int>();
        foreach (var step in schedule.Steps)
        {
            if (step.Kind is StepKind.Compute or StepKind.Backward) { run.Clear(); continue; }
            if (step.Kind != StepKind.Recompute) continue;
            int t = step.Task;
            double total = training.Tasks[t].Time;
            reached.Clear();
            queue.Clear();
            queue.Enqueue(t);
            while (queue.Count > 0 && reached.Count < RebuildAncestors)
                foreach (int i in training.Tasks[queue.Dequeue()].Inputs)
                    if (reached.Count < RebuildAncestors && run.Contains(i) && reached.Add(i)) { total += training.Tasks[i].Time; queue.Enqueue(i); }
            cost[t] = cost.GetValueOrDefault(t) + total;
            run.Add(t);
        }
        return cost;
    }

    /// <summary>The recomputed tasks not in <paramref name="pinned"/> nor <paramref name="excluded"/>: largest buffer
    /// first, then costliest recomputation, then task id.</summary>
    private static IEnumerable<int> Largest(TrainingGraph training, Dictionary<int, double> cost, HashSet<int> pinned, HashSet<int> excluded) =>
        cost.Where(e => !pinned.Contains(e.Key) && !excluded.Contains(e.Key))
            .OrderByDescending(e => training.Tasks[e.Key].Bytes).ThenByDescending(e => e.Value).ThenBy(e => e.Key).Select(e => e.Key);
}
