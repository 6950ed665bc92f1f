using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Tests.Scheduling;

/// <summary>
/// The simulator's rules one by one, on a chain x → a → b → loss: each broken rule is refused at the step that
/// breaks it, with the reason.
/// </summary>
public class SimulatorTests
{
    private static readonly TrainingGraph Tg = Chain();
    private static readonly int A = Tg.ForwardTaskOf(Tg.Graph.Nodes.Single(n => n.Name == "a").Id);
    private static readonly int B = Tg.ForwardTaskOf(Tg.Graph.Nodes.Single(n => n.Name == "b").Id);
    private static readonly int GradA = Tg.GradTaskOf(Tg.Graph.Nodes.Single(n => n.Name == "a").Id);

    private static TrainingGraph Chain()
    {
        var g = new GraphBuilder("chain");
        int x = g.Input("x", 8);
        int a = g.Activation("a", "Relu", [x], 10, 1);
        int b = g.Activation("b", "Relu", [a], 20, 2);
        g.Loss("loss", "Sum", [b], 4, 1);
        return TrainingGraph.Derive(g.Build());
    }

    private static string Name(int task) => Tg.Tasks[task].Name;

    /// <summary>Every forward task, every backward task, then every free: valid, everything live at once.</summary>
    private static List<Step> StoreAll()
    {
        var steps = Tg.Tasks.Where(t => t.Kind == TaskKind.Forward).Select(t => new Step(StepKind.Compute, t.Id)).ToList();
        steps.AddRange(Tg.Tasks.Where(t => t.Kind == TaskKind.Backward).Select(t => new Step(StepKind.Backward, t.Id)));
        steps.AddRange(Tg.Tasks.Select(t => new Step(t.Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t.Id)));
        return steps;
    }

    private static SimulationResult Simulate(IEnumerable<Step> steps, long? budget = null, bool enforceBudget = true) =>
        enforceBudget ? Simulator.Simulate(new Schedule(Tg, [.. steps], "test", budget)) : Simulator.Measure(new Schedule(Tg, [.. steps], "test", budget));

    private static void Refused(IEnumerable<Step> steps, int index, string reason, long? budget = null)
    {
        var e = Assert.Throws<InvalidScheduleException>(() => Simulate(steps, budget));
        Assert.Equal(index, e.StepIndex);
        Assert.Equal(reason, e.Reason);
    }

    [Fact]
    public void StoreAll_PeaksWithEveryBufferLive_AndCountsEachTaskOnce()
    {
        var steps = StoreAll();
        var sim = Simulate(steps);
        Assert.Equal(Tg.Tasks.Sum(t => t.Bytes), sim.PeakBytes);
        Assert.Equal(Tg.Tasks.Length - 1, sim.PeakStep); // the last allocation, just before the first free
        Assert.Equal(Tg.ForwardTime, sim.ForwardTime);
        Assert.Equal(Tg.BackwardTime, sim.BackwardTime);
        Assert.Equal(0, sim.RecomputeTime);
        Assert.Equal(0, sim.LiveBytes[^1]);
    }

    [Fact]
    public void AFreedValueComputedAgain_IsARecompute_CountedAsSuch()
    {
        // a is freed after b is made and recomputed from x before the backward pass: a's time (1) is recomputation.
        var steps = StoreAll();
        int at = steps.IndexOf(new Step(StepKind.Compute, B)) + 1;
        steps.InsertRange(at, [new Step(StepKind.FreeValue, A), new Step(StepKind.Recompute, A)]);
        var sim = Simulate(steps);
        Assert.Equal(1, sim.RecomputeTime);
        Assert.Equal(Tg.Tasks.Sum(t => t.Bytes), sim.PeakBytes);
    }

    [Fact]
    public void AStepOfATaskThatDoesNotExist_IsRefused() =>
        Refused([new Step(StepKind.Compute, 999)], 0, "refers to task #999, which does not exist");

    [Fact]
    public void StepKinds_MustMatchTheTask()
    {
        Refused([new Step(StepKind.Backward, A)], 0, $"'backward' of '{Name(A)}', which is a forward tensor");
        Refused([new Step(StepKind.Compute, GradA)], 0, $"'compute' of '{Name(GradA)}', which is a backward task");
        Refused([new Step(StepKind.Compute, A), new Step(StepKind.FreeGrad, A)], 1, $"'free-grad' of '{Name(A)}', which is a forward value");
    }

    [Fact]
    public void Compute_IsTheFirstRun_AndRecompute_ALaterOne()
    {
        Refused([new Step(StepKind.Compute, A), new Step(StepKind.FreeValue, A), new Step(StepKind.Compute, A)], 2,
            $"computes '{Name(A)}' a second time; a second computation is a 'recompute'");
        Refused([new Step(StepKind.Recompute, A)], 0, $"recomputes '{Name(A)}', which was never computed");
        Refused([new Step(StepKind.Compute, A), new Step(StepKind.Recompute, A)], 1, $"computes '{Name(A)}' while it is still live");
    }

    [Fact]
    public void ATask_ReadsOnlyLiveBuffers()
    {
        Refused([new Step(StepKind.Compute, B)], 0, $"'{Name(B)}' reads '{Name(A)}', which was never computed");
        Refused([new Step(StepKind.Compute, A), new Step(StepKind.FreeValue, A), new Step(StepKind.Compute, B)], 2,
            $"'{Name(B)}' reads '{Name(A)}', which was freed");
    }

    [Fact]
    public void ABuffer_IsFreedOnceWhileLive()
    {
        Refused([new Step(StepKind.FreeValue, A)], 0, $"frees '{Name(A)}', which was never computed");
        Refused([new Step(StepKind.Compute, A), new Step(StepKind.FreeValue, A), new Step(StepKind.FreeValue, A)], 2, $"frees '{Name(A)}' twice");
    }

    [Fact]
    public void AtTheEnd_EveryTaskRan_AndEveryBufferIsFree()
    {
        Refused([], 0, $"the schedule never computes '{Tg.Tasks[0].Name}'");
        var steps = StoreAll();
        var last = steps[^1];
        steps.RemoveAt(steps.Count - 1);
        Refused(steps, steps.Count, $"the schedule never frees '{Name(last.Task)}'");
    }

    [Fact]
    public void TheStatedBudget_IsCheckedAtTheStepThatExceedsIt()
    {
        var steps = StoreAll();
        long peak = Tg.Tasks.Sum(t => t.Bytes);
        Refused(steps, Tg.Tasks.Length - 1, $"live memory {peak} bytes exceeds the stated budget of {peak - 1} bytes", budget: peak - 1);
        Assert.Equal(peak, Simulate(steps, budget: peak).PeakBytes);
        // Not enforced, the same schedule is measured: the caller compares the peak with the budget.
        Assert.Equal(peak, Simulate(steps, budget: peak - 1, enforceBudget: false).PeakBytes);
    }
}
