using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>
/// Transposes read by MatMul and Gemm are strided views (issue 27, item 2): they own no bytes in the memory model, the
/// runtime multiplies them where they lie and keeps their gradients in their bases' layouts, and the measured peak is
/// still the predicted one with the gradients of store-all and of finite differences.
/// </summary>
public sealed class TransposeViewTests
{
    private const int B = 2, T = 6, C = 8, H = 2, D = 4, Classes = 5;

    /// <summary>
    /// Every transpose pattern of the GPT-2 exports, small: a weight read as Bᵀ (Transpose [1,0] of a parameter into
    /// MatMul), the heads of a [B,T,H,D] reshape read as [B,H,T,D] (queries and values, perm [0,2,1,3]) and as
    /// [B,H,D,T] (keys, perm [0,2,3,1]), the context transposed back before a Reshape (a copy: its reader takes no
    /// strides), a Gemm whose B is a weight's transpose (with transB) and a Gemm whose A is an activation's transpose
    /// (with transA), that activation also read by another Gemm (its gradient then sums a copy and a product).
    /// </summary>
    internal static ComputationGraph Attention()
    {
        var n = new Net("transposes");
        int x = n.Input("x", [B, T, C]);
        int labels = n.Input("labels", [B * T], "int64");
        int h = n.Op("Mul", [x, n.Param("scale", C)], [B, T, C], name: "h");
        int wt = n.Op("Transpose", [n.Param("qkv.weight", 3 * C, C)], [C, 3 * C], Net.A(("perm", new long[] { 1, 0 })), name: "qkv.weight_t");
        int qkv = n.Op("MatMul", [h, wt], [B, T, 3 * C], name: "qkv");
        int sizes = n.Const("sizes", [3], [C, C, C], "int64");
        int headShape = n.Const("head_shape", [4], [B, T, H, D], "int64");
        int Head(int part)
        {
            int s = n.Op("Split", [qkv, sizes], [B, T, C], Net.A(("axis", 2L)), outputIndex: part, name: $"split{part}");
            int r = n.Op("Reshape", [s, headShape], [B, T, H, D], name: $"heads{part}");
            return part == 1
                ? n.Op("Transpose", [r], [B, H, D, T], Net.A(("perm", new long[] { 0, 2, 3, 1 })), name: "keys_t")
                : n.Op("Transpose", [r], [B, H, T, D], Net.A(("perm", new long[] { 0, 2, 1, 3 })), name: part == 0 ? "queries" : "values");
        }
        int q = Head(0), k = Head(1), v = Head(2);
        int scores = n.Op("MatMul", [q, k], [B, H, T, T], name: "scores");
        int attention = n.Op("Softmax", [scores], [B, H, T, T], Net.A(("axis", -1L)), name: "attention");
        int context = n.Op("MatMul", [attention, v], [B, H, T, D], name: "context");
        int contextT = n.Op("Transpose", [context], [B, T, H, D], Net.A(("perm", new long[] { 0, 2, 1, 3 })), name: "context_t");
        int merged = n.Op("Reshape", [contextT, n.Const("merged_shape", [2], [B * T, C], "int64")], [B * T, C], name: "merged");
        int woT = n.Op("Transpose", [n.Param("out.weight", C, Classes)], [Classes, C], Net.A(("perm", new long[] { 1, 0 })), name: "out.weight_t");
        int y1 = n.Op("Gemm", [merged, woT, n.Param("out.bias", Classes)], [B * T, Classes], Net.A(("transB", 1L)), name: "y1");
        int mergedT = n.Op("Transpose", [merged], [C, B * T], Net.A(("perm", new long[] { 1, 0 })), name: "merged_t");
        int y2 = n.Op("Gemm", [mergedT, n.Param("side.weight", C, Classes)], [B * T, Classes], Net.A(("transA", 1L)), name: "y2");
        int logits = n.Op("Add", [y1, y2], [B * T, Classes], name: "logits");
        n.Op("SoftmaxCrossEntropyLoss", [logits, labels], [], loss: true, name: "loss");
        return n.Build();
    }

    [Fact]
    public void TransposesReadByProducts_AreStridedViews_AndTheOneReadByReshapeIsACopy()
    {
        var g = Attention();
        var tg = TrainingGraph.Derive(g);
        int Id(string name) => g.Find(name).Id;
        foreach (var name in new[] { "qkv.weight_t", "queries", "keys_t", "values", "out.weight_t", "merged_t" })
        {
            var view = tg.ViewOf(Id(name));
            Assert.True(view is { IsTransposed: true }, name);
            Assert.Equal(g[view!.Value.Base].Shape.Aggregate(1L, (a, d) => a * d), view.Value.Length);
            Assert.Equal(0, tg.Tasks[tg.ForwardTaskOf(Id(name))].Bytes);
            Assert.Equal(0, tg.Tasks[tg.ForwardTaskOf(Id(name))].Time);
        }
        Assert.Null(tg.ViewOf(Id("context_t")));
        Assert.Equal(g.Find("context_t").Bytes, tg.Tasks[tg.ForwardTaskOf(Id("context_t"))].Bytes);
        // keys_t [B,H,D,T] of heads1 [B,T,H,D]: its dimension d is heads1's perm[d], at heads1's row-major stride.
        Assert.Equal(new long[] { T * H * D, D, 1, H * D }, tg.ViewOf(Id("keys_t"))!.Value.Strides(g));
        Assert.Equal(new long[] { 1, C }, tg.ViewOf(Id("qkv.weight_t"))!.Value.Strides(g));
        // A weight's transpose is its own root (the parameter is resident); a head's root is the Split that owns the bytes.
        Assert.Contains(tg.ForwardTaskOf(Id("split0")), tg.Tasks[tg.ForwardTaskOf(Id("scores"))].Inputs);
        // The gradient of a head is kept in the reshape's layout, so the reshape's and the split's gradients alias it.
        Assert.Equal(Id("queries"), tg.GradientAliasOf(Id("heads0")));
        Assert.Equal(Id("heads0"), tg.GradientAliasOf(Id("split0")));
        Assert.Equal(0, tg.Tasks[tg.GradTaskOf(Id("split0"))].Bytes);
        Assert.Equal(g.Find("queries").Bytes, tg.Tasks[tg.GradTaskOf(Id("queries"))].Bytes);
        // merged has two gradient readers: its gradient has a buffer of its own.
        Assert.Equal(-1, tg.GradientAliasOf(Id("merged")));
    }

    [Fact]
    public void ATransposeReadByAnythingButAProduct_OrMovingTheInnerAxisOutOfTheMatrix_StaysACopy()
    {
        var n = new Net("copies");
        int x = n.Input("x", [2, 3, 4]);
        int h = n.Op("Mul", [x, n.Param("w", 4)], [2, 3, 4], name: "h");
        // Read by a MatMul and by an Add: the Add takes no strides.
        int t1 = n.Op("Transpose", [h], [2, 4, 3], Net.A(("perm", new long[] { 0, 2, 1 })), name: "t1");
        int p1 = n.Op("MatMul", [t1, n.Param("m1", 3, 4)], [2, 4, 4], name: "p1");
        int s1 = n.Op("Add", [t1, t1], [2, 4, 3], name: "s1");
        // The inner axis (4) becomes the batch axis: neither matrix stride would be 1.
        int t2 = n.Op("Transpose", [h], [4, 2, 3], Net.A(("perm", new long[] { 2, 0, 1 })), name: "t2");
        int p2 = n.Op("MatMul", [t2, n.Param("m2", 3, 2)], [4, 2, 2], name: "p2");
        int r1 = n.Op("ReduceSum", [p1], [], Net.A(("keepdims", 0L)), name: "r1");
        int r2 = n.Op("ReduceSum", [s1], [], Net.A(("keepdims", 0L)), name: "r2");
        int r3 = n.Op("ReduceSum", [p2], [], Net.A(("keepdims", 0L)), name: "r3");
        int r12 = n.Op("Add", [r1, r2], [], name: "r12");
        n.Op("Add", [r12, r3], [], loss: true, name: "loss");
        var g = n.Build();
        var tg = TrainingGraph.Derive(g);
        Assert.Null(tg.ViewOf(g.Find("t1").Id));
        Assert.Null(tg.ViewOf(g.Find("t2").Id));
        var (a, ga) = ScheduleExecutorTests.RunOnce(Schedules.StoreAll(tg));
        var (b, gb) = ScheduleExecutorTests.RunOnce(Schedules.RecomputeAll(tg));
        Assert.Equal(a.Loss, b.Loss);
        foreach (var (param, grad) in ga) Assert.Equal(grad, gb[param]);
    }

    [Fact]
    public void StoreAllPeakIsPredicted_AndEverySchedulesGradientsAreStoreAllsBitwise()
    {
        var g = Attention();
        var problem = new PlanningProblem(g);
        var tg = problem.Training;
        var storeAll = Schedules.StoreAll(tg);
        var sim = Simulator.Simulate(storeAll);
        var (full, fullGrads) = ScheduleExecutorTests.RunOnce(storeAll);
        Assert.Equal(sim.PeakBytes, full.MeasuredPeakBytes);
        ScheduleExecutorTests.AssertSameTimeline(storeAll, sim, full);
        var recompute = Schedules.RecomputeAll(tg);
        var (all, allGrads) = ScheduleExecutorTests.RunOnce(recompute);
        Assert.Equal(Simulator.Simulate(recompute).PeakBytes, all.MeasuredPeakBytes);
        Assert.True(all.Recomputations > 0);
        Assert.Equal(full.Loss, all.Loss);
        foreach (var (param, grad) in fullGrads) Assert.Equal(grad, allGrads[param]);
        int recomputing = 0;
        foreach (var solver in new[] { "greedy", "dp-approx" })
            foreach (double fraction in new[] { 0.9, 0.8, 0.7, 0.6 })
            {
                long budget = (long)(sim.PeakBytes * fraction);
                var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget });
                if (!plan.Feasible) continue;
                var (run, grads) = ScheduleExecutorTests.RunOnce(plan.Schedule!);
                Assert.Equal(plan.Simulation!.PeakBytes, run.MeasuredPeakBytes);
                ScheduleExecutorTests.AssertSameTimeline(plan.Schedule!, plan.Simulation, run);
                Assert.True(run.MeasuredPeakBytes <= budget);
                if (run.Recomputations > 0) recomputing++;
                foreach (var (param, grad) in fullGrads) Assert.Equal(grad, grads[param]);
            }
        Assert.True(recomputing >= 1, $"{recomputing} plans recompute");
    }

    /// <summary>
    /// A batched transposed A against a weight without batch axes (no folding of A's batch into M: A's rows are not
    /// evenly spaced), and a transposed B broadcast over A's batch (its gradient sums over the batch).
    /// </summary>
    internal static ComputationGraph Broadcasts()
    {
        var n = new Net("broadcast-transposes");
        int x = n.Input("x", [2, 3, 4]);
        int h = n.Op("Mul", [x, n.Param("w", 4)], [2, 3, 4], name: "h");
        int t = n.Op("Transpose", [h], [2, 4, 3], Net.A(("perm", new long[] { 0, 2, 1 })), name: "h_t");
        int p = n.Op("MatMul", [t, n.Param("m", 3, 5)], [2, 4, 5], name: "p");
        int u = n.Op("Mul", [n.Param("v", 1, 6, 5), n.Const("one", [], [1f])], [1, 6, 5], name: "u");
        int ut = n.Op("Transpose", [u], [1, 5, 6], Net.A(("perm", new long[] { 0, 2, 1 })), name: "u_t");
        int q = n.Op("MatMul", [p, ut], [2, 4, 6], name: "q");
        int sq = n.Op("Mul", [q, q], [2, 4, 6], name: "sq");
        n.Op("ReduceSum", [sq], [], Net.A(("keepdims", 0L)), loss: true, name: "loss");
        return n.Build();
    }

    [Fact]
    public void BroadcastAndUnfoldedProductsOfTransposedViews_MatchStoreAllAndFiniteDifferences()
    {
        var g = Broadcasts();
        var tg = TrainingGraph.Derive(g);
        Assert.True(tg.ViewOf(g.Find("h_t").Id) is { IsTransposed: true });
        Assert.True(tg.ViewOf(g.Find("u_t").Id) is { IsTransposed: true });
        var storeAll = Schedules.StoreAll(tg);
        var (a, ga) = ScheduleExecutorTests.RunOnce(storeAll);
        Assert.Equal(Simulator.Simulate(storeAll).PeakBytes, a.MeasuredPeakBytes);
        var (b, gb) = ScheduleExecutorTests.RunOnce(Schedules.RecomputeAll(tg));
        Assert.Equal(a.Loss, b.Loss);
        foreach (var (param, grad) in ga) Assert.Equal(grad, gb[param]);
        Assert.Equal(4 + 12 + 12, GraphGradientCheck.Check(g, perTensor: 12, eps: 1e-2f, absolute: 2e-3, relative: 2e-2));
    }

    [Fact]
    public void GradientsThroughEveryTransposedView_MatchFiniteDifferences()
    {
        int probes = GraphGradientCheck.Check(Attention(), perTensor: 12, eps: 1e-2f, absolute: 2e-3, relative: 2e-2);
        Assert.True(probes >= 45, $"{probes} probes");
    }

    [Fact]
    public void ATransposedViewEvaluatedAsAnOutput_IsItsRowMajorValue()
    {
        var g = Attention();
        var tg = TrainingGraph.Derive(g);
        var arena = new Arena();
        var model = ModelState.Initialize(g, arena, 3);
        var executor = new ScheduleExecutor(tg, model);
        using var batch = TrainingBatch.Synthetic(g, arena, 3, 1);
        var (_, outputs) = executor.Evaluate(batch, 1, [g.Find("heads1").Id, g.Find("keys_t").Id, g.Find("qkv.weight_t").Id]);
        var heads = outputs[0].Floats!; var keys = outputs[1].Floats!; var weightT = outputs[2].Floats!;
        Assert.Equal(new[] { B, H, D, T }, outputs[1].Shape.ToArray());
        for (int b = 0; b < B; b++)
            for (int hh = 0; hh < H; hh++)
                for (int d = 0; d < D; d++)
                    for (int t = 0; t < T; t++)
                        Assert.Equal(heads[((b * T + t) * H + hh) * D + d], keys[((b * H + hh) * D + d) * T + t]);
        var weight = model.Value(g.Find("qkv.weight").Id).Span.ToArray();
        for (int i = 0; i < C; i++)
            for (int j = 0; j < 3 * C; j++)
                Assert.Equal(weight[j * C + i], weightT[i * 3 * C + j]);
    }
}
