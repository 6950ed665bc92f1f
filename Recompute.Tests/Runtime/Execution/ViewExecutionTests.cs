using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>Views alias their base: in the memory model, in the simulator and in the runtime's arena (zero-copy).</summary>
public sealed class ViewExecutionTests
{
    /// <summary>
    /// a = Mul(x, w) [100]; r = Reshape(a) [10,10]; u = Unsqueeze(r) [1,10,10]; s0, s1 = Split(u, axis 1, [5,5]) (the
    /// axis is outer: only a unit dimension before it, so each part is a range of a); m = Mul(s0, s1) [1,5,10];
    /// loss = ReduceSum(m).
    /// </summary>
    private static ComputationGraph ViewChain()
    {
        var n = new Net("view-chain");
        int x = n.Input("x", [100]);
        int w = n.Param("w", 100);
        int a = n.Op("Mul", [x, w], [100], name: "a");
        int shape = n.Const("shape", [2], [10f, 10f], "int64");
        int r = n.Op("Reshape", [a, shape], [10, 10], name: "r");
        int u = n.Op("Unsqueeze", [r], [1, 10, 10], Net.A(("axes", new long[] { 0 })), name: "u");
        int s0 = n.Op("Split", [u], [1, 5, 10], Net.A(("axis", 1L), ("split", new long[] { 5, 5 })), name: "s0");
        int s1 = n.Op("Split", [u], [1, 5, 10], Net.A(("axis", 1L), ("split", new long[] { 5, 5 })), outputIndex: 1, name: "s1");
        int m = n.Op("Mul", [s0, s1], [1, 5, 10], name: "m");
        n.Op("ReduceSum", [m], [], Net.A(("keepdims", 0L)), loss: true, name: "loss");
        return n.Build();
    }

    [Fact]
    public void ViewChain_StoreAllPeakIsComputedByHand_AndMeasuredEqualsPredicted()
    {
        var g = ViewChain();
        var tg = TrainingGraph.Derive(g);
        int T(string name) => tg.ForwardTaskOf(g.Find(name).Id);
        int G(string name) => tg.GradTaskOf(g.Find(name).Id);
        foreach (var view in new[] { "r", "u", "s0", "s1" }) Assert.Equal(0, tg.Tasks[T(view)].Bytes);
        Assert.Equal(new ViewOf(g.Find("a").Id, 0, 100), tg.ViewOf(g.Find("r").Id));
        Assert.Equal(new ViewOf(g.Find("u").Id, 50, 50), tg.ViewOf(g.Find("s1").Id));
        // Whatever reads a view reads its root a too, so a lives while any alias is read.
        Assert.Contains(T("a"), tg.Tasks[T("m")].Inputs);
        Assert.Contains(T("a"), tg.Tasks[G("s0")].Inputs);
        // d(a) = reshape(d(r)) = reshape(d(u)): the gradients of r and a own no buffer; d(u) concatenates two parts.
        Assert.Equal(g.Find("u").Id, tg.GradientAliasOf(g.Find("r").Id));
        Assert.Equal(g.Find("r").Id, tg.GradientAliasOf(g.Find("a").Id));
        Assert.Equal(0, tg.Tasks[G("a")].Bytes);
        Assert.Equal(400, tg.Tasks[G("u")].Bytes);

        // Store-all by hand, in bytes (float32). Forward: a 400 (live 400); r, u, s0, s1 are views: 0 each; m 200 (600);
        // loss 4 (604); m and loss have no other reader and die (400: a, kept for the Mul gradients through s0 and s1).
        // Backward: grad(loss) 4 (404); grad(m) 200 (604), grad(loss) dies (600); grad(s1) 200 reading s0 (800);
        // grad(s0) 200 reading s1 (1000: a 400 + grad(m) 200 + grad(s1) 200 + grad(s0) 200), then grad(m) and a
        // die (400); grad(u) 400 (800), grad(s0) and grad(s1) die (400); grad(r) and grad(a) are grad(u) reshaped: 0.
        // Peak 1000 B, at grad(s0).
        var schedule = Schedules.StoreAll(tg);
        var sim = Simulator.Simulate(schedule);
        Assert.Equal(1000, sim.PeakBytes);

        var arena = new Arena();
        var model = ModelState.Initialize(g, arena, 5);
        var executor = new ScheduleExecutor(tg, model);
        using var batch = TrainingBatch.Synthetic(g, arena, 5, 1);
        var run = executor.Run(schedule, batch, 7);
        Assert.Equal(1000, run.MeasuredPeakBytes);
        ScheduleExecutorTests.AssertSameTimeline(schedule, sim, run);

        // loss = Σ_{i<50} (x_i w_i)(x_{i+50} w_{i+50}): dw_i = x_i · x_{i+50} w_{i+50} and dw_{i+50} = x_{i+50} · x_i w_i.
        var xs = batch[g.Find("x").Id].Span.ToArray();
        var ws = model.Value(g.Find("w").Id).Span.ToArray();
        var dw = model.Gradient(g.Find("w").Id).Span.ToArray();
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(xs[i] * xs[i + 50] * ws[i + 50], dw[i], 5);
            Assert.Equal(xs[i + 50] * xs[i] * ws[i], dw[i + 50], 5);
        }
    }

    [Fact]
    public void ViewChain_RecomputingEverything_GivesTheSameGradientsBitwise()
    {
        var tg = TrainingGraph.Derive(ViewChain());
        var (a, ga) = ScheduleExecutorTests.RunOnce(Schedules.StoreAll(tg));
        var recompute = Schedules.RecomputeAll(tg);
        var (b, gb) = ScheduleExecutorTests.RunOnce(recompute);
        Assert.Equal(Simulator.Simulate(recompute).PeakBytes, b.MeasuredPeakBytes);
        Assert.Equal(a.Loss, b.Loss);
        foreach (var (param, g) in ga) Assert.Equal(g, gb[param]);
    }
}
