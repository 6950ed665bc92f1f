using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers.Optimal;

namespace Recompute.Tests.Scheduling;

/// <summary>
/// ReLU in place: which tasks may take over a buffer (<see cref="TrainingGraph.InPlaceSource"/>), the one rule for
/// which steps do (<see cref="InPlaceSteps"/>), the simulator's count of such a step, and the memory floor.
/// </summary>
public class InPlaceTests
{
    /// <summary>
    /// x → a (100 B) → r = Relu(a) (100 B) → b (10 B, its backward reads nothing) → loss; optionally c (10 B) also
    /// reads a (a second reader of the Relu's input), read by the loss.
    /// </summary>
    internal static TrainingGraph Graph(bool secondReader = false)
    {
        var g = new GraphBuilder(secondReader ? "relu-shared" : "relu");
        int x = g.Input("x", 8);
        int a = g.Activation("a", "Op", [x], 100, 1);
        int r = g.Add(new NodeSpec("r", "Relu", NodeKind.Activation) { Inputs = [a], Bytes = 100, Time = 1, SavedByRule = true });
        int b = g.Activation("b", "Op", [r], 10, 1, backwardNeeds: []);
        if (!secondReader) g.Loss("loss", "Sum", [b], 4, 1);
        else g.Loss("loss", "Sum", [b, g.Activation("c", "Op", [a], 10, 1, backwardNeeds: [])], 4, 1);
        return TrainingGraph.Derive(g.Build());
    }

    private static int Fwd(TrainingGraph tg, string name) => tg.ForwardTaskOf(tg.Graph.Nodes.Single(n => n.Name == name).Id);
    private static int Grad(TrainingGraph tg, string name) => tg.GradTaskOf(tg.Graph.Nodes.Single(n => n.Name == name).Id);

    [Fact]
    public void TheReluAndTheGradientOfItsInput_MayRunInPlace_NothingElse()
    {
        var tg = Graph();
        Assert.Equal(Fwd(tg, "a"), tg.InPlaceSource(Fwd(tg, "r")));
        Assert.Equal(Grad(tg, "r"), tg.InPlaceSource(Grad(tg, "a")));
        Assert.Equal(100, tg.InPlaceSaving(Grad(tg, "a")));
        foreach (var t in tg.Tasks)
            if (t.Id != Fwd(tg, "r") && t.Id != Grad(tg, "a")) Assert.Equal(-1, tg.InPlaceSource(t.Id));
        // With a second gradient-carrying reader of a, grad(a) sums two products: not in place. The Relu still may.
        var shared = Graph(secondReader: true);
        Assert.Equal(-1, shared.InPlaceSource(Grad(shared, "a")));
        Assert.Equal(Fwd(shared, "a"), shared.InPlaceSource(Fwd(shared, "r")));
    }

    [Fact]
    public void AReluOfADifferentSize_OrReadingAView_IsNotInPlace()
    {
        var g = new GraphBuilder("relu-other");
        int x = g.Input("x", 8);
        int a = g.Activation("a", "Op", [x], 100, 1);
        int r = g.Add(new NodeSpec("r", "Relu", NodeKind.Activation) { Inputs = [a], Bytes = 50, Time = 1, SavedByRule = true });
        g.Loss("loss", "Sum", [r], 4, 1);
        var tg = TrainingGraph.Derive(g.Build());
        Assert.False(tg.HasInPlace);
        Assert.All(tg.Tasks, t => Assert.Equal(-1, tg.InPlaceSource(t.Id)));
    }

    /// <summary>
    /// Every task once in the DAG's order with frees after each last reader (<see cref="Liveness.RunOnce"/>): a dies at
    /// r, and grad(r) at grad(a), so both run in place. grad(a) holds 200 B (r and grad(r), grad(a) in grad(r)'s
    /// buffer) where it held 300; the peak is grad(r)'s step, 210 B (r, grad(b), grad(r)). The floor is grad(a)'s 200 B.
    /// </summary>
    [Fact]
    public void RunOnce_BothStepsInPlace_AddNothing_AndTheFloorLeavesOutTheSaving()
    {
        var tg = Graph();
        var schedule = Liveness.RunOnce(tg, "test", null);
        var inPlace = InPlaceSteps.Of(schedule);
        int rStep = schedule.Steps.IndexOf(new Step(StepKind.Compute, Fwd(tg, "r")));
        int gaStep = schedule.Steps.IndexOf(new Step(StepKind.Backward, Grad(tg, "a")));
        Assert.Equal(Fwd(tg, "a"), inPlace[rStep]);
        Assert.Equal(Grad(tg, "r"), inPlace[gaStep]);
        Assert.Equal(2, inPlace.Count(s => s >= 0));

        var sim = Simulator.Simulate(schedule);
        Assert.Equal(sim.LiveBytes[rStep - 1], sim.LiveBytes[rStep]);
        Assert.Equal(100, sim.LiveBytes[rStep]);
        Assert.Equal(new Step(StepKind.FreeValue, Fwd(tg, "a")), schedule.Steps[rStep + 1]);
        Assert.Equal(100, sim.LiveBytes[rStep + 1]); // the free of a frees nothing: its buffer is r's
        Assert.Equal(200, sim.LiveBytes[gaStep]);
        Assert.Equal(210, sim.PeakBytes);
        Assert.Equal(schedule.Steps.IndexOf(new Step(StepKind.Backward, Grad(tg, "r"))), sim.PeakStep);
        Assert.Equal(0, sim.LiveBytes[^1]);

        var floor = MemoryLowerBound.Of(tg);
        Assert.Equal(200, floor.Bytes);
        Assert.Equal(Grad(tg, "a"), floor.Task.Id);
        Assert.Contains("its 2 inputs, its output in place of 'grad(r)'", floor.Explain(tg));
    }

    /// <summary>
    /// a is read by r and by c. In the order a, r, c the Relu is not a's last reader: r allocates its own 100 B beside
    /// a. In the order a, c, r it is, and r runs in a's buffer.
    /// </summary>
    [Fact]
    public void ASourceReadLater_IsNotTakenOver_ItsLastReaderTakesItOver()
    {
        var tg = Graph(secondReader: true);
        int a = Fwd(tg, "a"), r = Fwd(tg, "r"), c = Fwd(tg, "c");
        List<Step> Order(params int[] first) =>
        [
            .. first.Select(t => new Step(StepKind.Compute, t)),
            .. tg.Tasks.Where(t => t.Kind == TaskKind.Forward && !first.Contains(t.Id)).Select(t => new Step(StepKind.Compute, t.Id)),
            .. tg.Tasks.Where(t => t.Kind == TaskKind.Backward).Select(t => new Step(StepKind.Backward, t.Id)),
        ];
        var late = new Schedule(tg, Liveness.InsertFrees(tg, Order(a, r, c)), "test", null);
        var early = new Schedule(tg, Liveness.InsertFrees(tg, Order(a, c, r)), "test", null);
        int rLate = late.Steps.IndexOf(new Step(StepKind.Compute, r));
        int rEarly = early.Steps.IndexOf(new Step(StepKind.Compute, r));
        Assert.Equal(-1, InPlaceSteps.Of(late)[rLate]);
        Assert.Equal(a, InPlaceSteps.Of(early)[rEarly]);
        var simLate = Simulator.Simulate(late);
        var simEarly = Simulator.Simulate(early);
        Assert.Equal(200, simLate.LiveBytes[rLate]); // a and r
        Assert.Equal(110, simEarly.LiveBytes[rEarly]); // c and r in a's buffer
        Assert.Equal(100, simLate.LiveBytes[rLate] - simLate.LiveBytes[rLate - 1]);
        Assert.Equal(0, simEarly.LiveBytes[rEarly] - simEarly.LiveBytes[rEarly - 1]);
    }

    /// <summary>The rule on hand-written step lists: the source's free must be in the run of frees right after the step,
    /// with no transfer of the source in flight.</summary>
    [Fact]
    public void TheRule_OnHandWrittenSteps()
    {
        var tg = Graph();
        int a = Fwd(tg, "a"), r = Fwd(tg, "r"), b = Fwd(tg, "b");
        Step C(int t) => new(StepKind.Compute, t);
        Step Re(int t) => new(StepKind.Recompute, t);
        Step F(int t) => new(StepKind.FreeValue, t);
        Step T(StepKind k, int t) => new(k, t);
        int[] Of(params Step[] steps) => InPlaceSteps.Of(tg, steps);

        Assert.Equal([-1, a, -1], Of(C(a), C(r), F(a)));
        // Anywhere in the run of frees right after it.
        Assert.Equal([-1, -1, a, -1, -1], Of(C(a), C(b), C(r), F(b), F(a)));
        // Freed after another step: a lived beside r.
        Assert.Equal([-1, -1, -1, -1], Of(C(a), C(r), C(b), F(a)));
        // Freed earlier, or never computed: nothing to take over (the simulator refuses such a read).
        Assert.Equal([-1, -1, -1], Of(C(a), F(a), C(r)));
        Assert.Equal([-1, -1], Of(C(r), F(a)));
        // A transfer of a in flight: its buffer is being copied. Waited on first: in place.
        Assert.Equal([-1, -1, -1, -1, -1], Of(C(a), T(StepKind.Offload, a), C(r), F(a), T(StepKind.Wait, a)));
        Assert.Equal([-1, -1, -1, a, -1], Of(C(a), T(StepKind.Offload, a), T(StepKind.Wait, a), C(r), F(a)));
        // The wait between the step and the free breaks the run of frees.
        Assert.Equal([-1, -1, -1, -1, -1], Of(C(a), T(StepKind.Offload, a), C(r), T(StepKind.Wait, a), F(a)));
        // Each recomputation follows the rule again.
        Assert.Equal([-1, a, -1, -1, -1, a, -1, -1], Of(C(a), C(r), F(a), F(r), Re(a), Re(r), F(a), F(r)));
    }

    /// <summary>
    /// s (100 B, read by a and by the loss) stays live across the Relu: x → s → a (100 B) → r = Relu(a) → b (1 B), loss
    /// of b and s, no backward reading s. The forward step of r holds s and one buffer for a and r (200 B, where it
    /// would be 300), and the store-all peak is 205 B. At that budget greedy's pass runs r in place, as the simulator
    /// counts it, and recomputes nothing; counting r's 100 B beside a, the pass finds no schedule at that budget.
    /// </summary>
    [Fact]
    public void Greedy_AndTheOrderSearch_CountTheStepInPlace_AndRecomputeNothingAtTheStoreAllPeak()
    {
        var g = new GraphBuilder("relu-beside-skip");
        int x = g.Input("x", 8);
        int sv = g.Activation("s", "Op", [x], 100, 1, backwardNeeds: []);
        int a = g.Activation("a", "Op", [sv], 100, 1, backwardNeeds: []);
        int r = g.Add(new NodeSpec("r", "Relu", NodeKind.Activation) { Inputs = [a], Bytes = 100, Time = 1, SavedByRule = true });
        int b = g.Activation("b", "Op", [r], 1, 1, backwardNeeds: []);
        g.Loss("loss", "Sum", [b, sv], 4, 1, backwardNeeds: []);
        var tg = TrainingGraph.Derive(g.Build());
        var storeAll = Liveness.RunOnce(tg, "test", null);
        var peak = Simulator.Simulate(storeAll);
        Assert.Equal(205, peak.PeakBytes);
        Assert.Equal(200, peak.LiveBytes[storeAll.Steps.IndexOf(new Step(StepKind.Compute, Fwd(tg, "r")))]);

        var order = Enumerable.Range(0, tg.Count).ToArray();
        // The order search's profile of an order run once is the simulator's, step in place included.
        Assert.Equal(205, Recompute.Planner.Solvers.OrderSearch.Evaluate(tg, order, long.MaxValue / 4).PeakBytes);
        Assert.Equal(210, Recompute.Planner.Solvers.OrderSearch.Evaluate(Graph(), Enumerable.Range(0, Graph().Count).ToArray(), long.MaxValue / 4).PeakBytes);
        foreach (var score in Enum.GetValues<Recompute.Planner.Solvers.EvictionScore>())
        {
            var schedule = Recompute.Planner.Solvers.GreedyRematerializer.Schedule(tg, order, peak.PeakBytes, score, "greedy");
            Assert.NotNull(schedule);
            var sim = Simulator.Simulate(schedule);
            Assert.True(sim.PeakBytes <= peak.PeakBytes);
            Assert.Equal(0, sim.RecomputeTime);
        }
    }

    /// <summary>An old schedule file reads the same steps; only its count falls where a step runs in place.</summary>
    [Fact]
    public void AScheduleWithoutRelu_IsCountedAsBefore()
    {
        var g = new GraphBuilder("no-relu");
        int x = g.Input("x", 8);
        int a = g.Activation("a", "Op", [x], 100, 1);
        int s = g.Activation("s", "Sigmoid", [a], 100, 1, backwardNeedsOutput: true, backwardNeeds: []);
        g.Loss("loss", "Sum", [s], 4, 1);
        var tg = TrainingGraph.Derive(g.Build());
        var sim = Simulator.Simulate(Liveness.RunOnce(tg, "test", null));
        // a and s live together while s runs.
        int sStep = Liveness.RunOnce(tg, "test", null).Steps.IndexOf(new Step(StepKind.Compute, tg.ForwardTaskOf(s)));
        Assert.Equal(200, sim.LiveBytes[sStep]);
    }
}
