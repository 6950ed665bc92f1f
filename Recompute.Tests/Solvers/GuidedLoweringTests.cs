using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// Issue 32: the schedule built straight from a drop set (<see cref="GuidedLowering"/>) is valid for any drop set and
/// window, recomputes only dropped buffers, keeps none of them into the backward pass, never recomputes a pinned task,
/// and is the same on every run.
/// </summary>
public class GuidedLoweringTests
{
    [Fact]
    public void Lowering_OnRandomDagsAndDropSets_IsValid_RecomputesOnlyDropped_AndDeterministic()
    {
        int lowered = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var problem = new PlanningProblem(RandomGraphs.Forward(seed, 30));
            var training = problem.Training;
            var (never, drop) = RandomPins(training, seed, 0.3 + seed % 3 * 0.2);
            foreach (var order in GreedySolver.Orders(training).Select(o => GreedySolver.ForwardFirst(training, o)))
                foreach (int window in GuidedLowering.Windows)
                foreach (bool deepFirst in new[] { false, true })
                {
                    var schedule = GuidedLowering.Lower(training, order, drop, never, window, SolverName.Greedy, long.MaxValue, deepFirst: deepFirst);
                    var again = GuidedLowering.Lower(training, order, drop, never, window, SolverName.Greedy, long.MaxValue, deepFirst: deepFirst);
                    Assert.NotNull(schedule);
                    Assert.Equal(ScheduleFormat.ToJson(schedule), ScheduleFormat.ToJson(again!));
                    Simulator.Simulate(schedule); // throws on a rule broken
                    Assert.All(schedule.Steps.Where(s => s.Kind == StepKind.Recompute), s => Assert.Contains(s.Task, drop));
                    AssertHonoursPins(training, schedule, never, drop);
                    lowered++;
                }
        }
        Assert.True(lowered >= 600);
    }

    /// <summary>
    /// A residual stream s_k = s_{k-1} + d_k whose links and side inputs d_k = f(p_k) are all dropped (the p_k kept),
    /// as a transformer's stream is when the Dropout inputs are kept instead: rebuilt for the backward pass, the default
    /// order recomputes every side input before the first link and holds them all; deepest first holds one link's
    /// inputs at a time, for the same recomputation.
    /// </summary>
    [Fact]
    public void DeepFirst_RebuildsAChainThroughDroppedBuffers_OneLinkAtATime()
    {
        const int links = 8;
        var b = new GraphBuilder("stream", "paper");
        int x = b.Input("x", 10);
        int stream = b.Activation("s0", "Op", [x], 10, 1);
        for (int k = 1; k <= links; k++)
        {
            int p = b.Activation($"p{k}", "Op", [x], 10, 1);
            int d = b.Activation($"d{k}", "Op", [p], 10, 1);
            stream = b.Activation($"s{k}", "Add", [stream, d], 10, 1);
        }
        b.Loss("loss", "Loss", [stream], 10, 1);
        var training = new PlanningProblem(b.Build()).Training;
        var drop = training.Tasks.Where(t => t.Kind == TaskKind.Forward && (t.Name.StartsWith('d') || (t.Name.StartsWith('s') && t.Name != "s0")))
            .Select(t => t.Id).ToHashSet();
        Assert.Equal(2 * links, drop.Count);
        var order = GreedySolver.ForwardFirst(training, Enumerable.Range(0, training.Count).ToArray());
        var none = new HashSet<int>();
        var plain = Simulator.Simulate(GuidedLowering.Lower(training, order, drop, none, 0, SolverName.Greedy, long.MaxValue)!);
        var deep = Simulator.Simulate(GuidedLowering.Lower(training, order, drop, none, 0, SolverName.Greedy, long.MaxValue, deepFirst: true)!);
        Assert.Equal(plain.RecomputeTime, deep.RecomputeTime);
        Assert.True(deep.PeakBytes < plain.PeakBytes, $"deepest first {deep.PeakBytes}, default {plain.PeakBytes}");
    }

    [Fact]
    public void FittedLowering_OnRandomDags_FitsItsBudget_IsValid_Deterministic_AndHonoursPins()
    {
        int fitted = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var problem = new PlanningProblem(RandomGraphs.Forward(seed, 30));
            var training = problem.Training;
            long budget = RecomputePlanner.StoreAllPeak(problem) * (50 + seed % 4 * 10) / 100;
            var (never, drop) = RandomPins(training, seed, 0.5);
            var order = GreedySolver.ForwardFirst(training, GreedyRematerializer.MemoryAwareOrder(training));
            var first = GuidedLowering.Fitted(training, order, drop, never, GuidedLowering.FitRounds, SolverName.Greedy, budget);
            var again = GuidedLowering.Fitted(training, order, drop, never, GuidedLowering.FitRounds, SolverName.Greedy, budget);
            Assert.Equal(first is null, again is null);
            if (first is not { } plan) continue;
            fitted++;
            Assert.Equal(ScheduleFormat.ToJson(plan.Schedule), ScheduleFormat.ToJson(again!.Value.Schedule));
            var simulation = Simulator.Simulate(plan.Schedule); // throws on a rule broken or the budget exceeded
            Assert.Equal(plan.Simulation.PeakBytes, simulation.PeakBytes);
            // Buffers beyond the drop set may be dropped to fit, never a pinned one.
            Assert.All(plan.Schedule.Steps.Where(s => s.Kind == StepKind.Recompute), s => Assert.DoesNotContain(s.Task, never));
            AssertHonoursPins(training, plan.Schedule, never, drop);
        }
        Assert.True(fitted >= 10, $"{fitted} fitted");
    }

    /// <summary>Seeded pins: about a tenth of the forward tasks never recomputed, and of the rest each dropped with
    /// <paramref name="dropChance"/>.</summary>
    private static (HashSet<int> Never, HashSet<int> Drop) RandomPins(TrainingGraph training, int seed, double dropChance)
    {
        var random = new Random(seed);
        var forward = training.Tasks.Where(t => t.Kind == TaskKind.Forward).Select(t => t.Id).ToList();
        var never = forward.Where(_ => random.NextDouble() < 0.1).ToHashSet();
        return (never, forward.Where(t => !never.Contains(t) && random.NextDouble() < dropChance).ToHashSet());
    }

    /// <summary>The schedule breaks no pin (<see cref="PinCheck"/>): the never-recompute tasks' tensors as --keep,
    /// the dropped ones as --recompute.</summary>
    private static void AssertHonoursPins(TrainingGraph training, Schedule schedule, HashSet<int> never, HashSet<int> drop) =>
        Assert.Null(PinCheck.Violation(schedule, never.Select(t => training.Tasks[t].Node).ToImmutableHashSet(),
            drop.Select(t => training.Tasks[t].Node).ToImmutableHashSet()));

    /// <summary>
    /// A buffer only the backward pass reads (a layer norm's statistics: <c>s</c>, read by <c>f0</c>'s backward, which
    /// reads <c>f0</c> too) is computed just before that backward task, not held through the forward pass: at a budget
    /// that computing it in the forward pass exceeds (71 bytes at the loss, against 60), the lowering of an empty drop
    /// set fits and recomputes nothing.
    /// </summary>
    [Fact]
    public void Lowering_RunsABufferOnlyTheBackwardReads_WhenItsReaderNeedsIt()
    {
        var b = new GraphBuilder("stats");
        int x = b.Input("x", 10);
        int f0 = Forward(b, "f0", [x], 10);
        int s = Forward(b, "s", [f0], 40);
        int f1 = Forward(b, "f1", [f0], 10);
        int f2 = Forward(b, "f2", [f1], 10);
        int loss = b.Add(new NodeSpec("loss", "Op", NodeKind.Loss) { Inputs = [f2], Bytes = 1, Time = 1 });
        int grad = Backward(b, "loss_backward", loss, [loss], 1);
        grad = Backward(b, "f2_backward", f2, [grad, f1], 1);
        grad = Backward(b, "f1_backward", f1, [grad, f0], 1);
        Backward(b, "f0_backward", f0, [grad, f0, s], 1);
        var training = new PlanningProblem(b.Build()).Training;
        int stats = training.Tasks.Single(t => t.Name == "s").Id;
        var none = new HashSet<int>();
        foreach (var order in GreedySolver.Orders(training).Select(o => GreedySolver.ForwardFirst(training, o)))
        {
            var schedule = GuidedLowering.Lower(training, order, none, none, int.MaxValue, SolverName.Greedy, 60);
            Assert.NotNull(schedule);
            var simulation = Simulator.Simulate(schedule); // throws past the budget
            Assert.Equal(0, simulation.RecomputeTime);
            int firstBackward = schedule.Steps.ToList().FindIndex(t => t.Kind == StepKind.Backward);
            Assert.True(schedule.Steps.ToList().FindIndex(t => t.Task == stats && t.Kind == StepKind.Compute) > firstBackward);
        }
    }

    /// <summary>
    /// A gradient read by two backward tasks far apart (a global pooling's broadcast gradient <c>p_backward</c>, 40
    /// bytes, read by <c>b</c>'s backward and again by <c>a</c>'s) whose own input is small: where the step between
    /// them overflows and every forward buffer is pinned, the fitted lowering frees that gradient after its first reader
    /// and runs its backward task again, from the 1-byte <c>loss_backward</c> held instead, for the second. Freeing
    /// only forward buffers, it found nothing to free there.
    /// </summary>
    [Fact]
    public void FittedLowering_RebuildsAGradientFromASmallInput_WhereNoForwardBufferCanGo()
    {
        var b = new GraphBuilder("broadcast");
        int x = b.Input("x", 1);
        int a = Forward(b, "a", [x], 10);
        int c = Forward(b, "c", [a], 10);
        int bb = Forward(b, "b", [c], 10);
        int p = Forward(b, "p", [bb], 1);
        int loss = b.Add(new NodeSpec("loss", "Op", NodeKind.Loss) { Inputs = [p], Bytes = 1, Time = 1 });
        int lossGrad = Backward(b, "loss_backward", loss, [loss], 1);
        int broadcast = Backward(b, "p_backward", p, [lossGrad], 40);
        int bGrad = Backward(b, "b_backward", bb, [broadcast, c], 5);
        int cGrad = Backward(b, "c_backward", c, [bGrad, a], 20);
        Backward(b, "a_backward", a, [cGrad, broadcast, x], 1);
        var training = new PlanningProblem(b.Build()).Training;
        var never = training.Tasks.Where(t => t.Kind == TaskKind.Forward).Select(t => t.Id).ToHashSet();
        var none = new HashSet<int>();
        const long budget = 70;
        var order = GreedySolver.ForwardFirst(training, Enumerable.Range(0, training.Count).ToArray());
        var held = GuidedLowering.Lower(training, order, none, never, int.MaxValue, SolverName.Greedy, budget);
        Assert.False(Simulator.Measure(held!).Fits(budget)); // 76 bytes at c's backward
        var fitted = GuidedLowering.Fitted(training, order, none, never, GuidedLowering.FitRounds, SolverName.Greedy, budget);
        Assert.NotNull(fitted);
        var simulation = Simulator.Simulate(fitted.Value.Schedule); // throws on a rule broken or the budget exceeded
        int rebuilt = training.Tasks.Single(t => t.Name == "p_backward").Id;
        Assert.Equal(2, fitted.Value.Schedule.Steps.Count(t => t.Task == rebuilt && t.Kind == StepKind.Backward));
        Assert.Equal(training.Tasks[rebuilt].Time, simulation.RecomputeTime);
        AssertHonoursPins(training, fitted.Value.Schedule, never, none);
    }

    private static int Forward(GraphBuilder b, string name, IReadOnlyList<int> inputs, long bytes) =>
        b.Add(new NodeSpec(name, "Op", NodeKind.Activation) { Inputs = inputs, Bytes = bytes, Time = 2 });

    private static int Backward(GraphBuilder b, string name, int of, IReadOnlyList<int> inputs, long bytes) =>
        b.Add(new NodeSpec(name, "Backward", NodeKind.Activation) { Inputs = inputs, Bytes = bytes, Time = 3, IsBackward = true, ForwardOf = of });

    [Fact]
    public void Lowering_Declines_PinnedDrops_AndOrdersThatInterleaveTheBackwardPass()
    {
        var training = new PlanningProblem(RandomGraphs.Forward(3, 12)).Training;
        int first = training.Tasks.First(t => t.Kind == TaskKind.Forward).Id;
        var order = GreedySolver.ForwardFirst(training, Enumerable.Range(0, training.Count).ToArray());
        Assert.Null(GuidedLowering.Lower(training, order, new HashSet<int> { first }, new HashSet<int> { first }, 1, SolverName.Greedy, long.MaxValue));
        int loss = order.First(t => training.Tasks[t].Kind == TaskKind.Backward);
        var interleaved = order.Where(t => t != loss).Prepend(loss).ToArray();
        Assert.Null(GuidedLowering.Lower(training, interleaved, new HashSet<int>(), new HashSet<int>(), 1, SolverName.Greedy, long.MaxValue));
    }
}
