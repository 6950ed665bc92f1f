using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>
/// ReLU in place in the runtime: on a residual CNN whose Relus follow BatchNormalization and residual Adds, the arena
/// measures exactly the simulated memory, step by step, with steps in place (forward and backward), and the gradients
/// are bitwise those of a schedule in which nothing runs in place.
/// </summary>
public class InPlaceExecutionTests
{
    /// <summary>
    /// Stem Conv→BatchNorm→Relu, then residual blocks Conv→BatchNorm→Relu→Conv→BatchNorm, Add the block's input,
    /// Relu (ResNet's basic block), AveragePool, Flatten, Gemm and a cross-entropy loss.
    /// </summary>
    internal static ComputationGraph ResidualCnn(int blocks, int batch = 2, int channels = 4, int size = 8)
    {
        var n = new Net($"relu-cnn{blocks}");
        long c = channels, h = size;
        int x = n.Input("x", [batch, 3, h, h]);
        int labels = n.Input("labels", [batch], "int64");
        var conv = Net.A(("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 1, 1 }));
        long[] shape = [batch, c, h, h];
        int Bn(int input, string name) => n.Op("BatchNormalization", [input, n.Param(name + ".scale", c), n.Param(name + ".bias", c),
            n.Param(name + ".mean", c), n.Param(name + ".var", c)], shape, Net.A(("epsilon", 1e-5), ("momentum", 0.9)), name: name);
        int stem = n.Op("Conv", [x, n.Param("stem.w", c, 3, 3, 3)], shape, conv, name: "stem");
        int y = n.Op("Relu", [Bn(stem, "stem.bn")], shape, name: "stem.relu");
        for (int i = 0; i < blocks; i++)
        {
            int a = n.Op("Conv", [y, n.Param($"b{i}.a.w", c, c, 3, 3)], shape, conv, name: $"b{i}.a");
            int ra = n.Op("Relu", [Bn(a, $"b{i}.a.bn")], shape, name: $"b{i}.a.relu");
            int bconv = n.Op("Conv", [ra, n.Param($"b{i}.b.w", c, c, 3, 3)], shape, conv, name: $"b{i}.b");
            int sum = n.Op("Add", [Bn(bconv, $"b{i}.b.bn"), y], shape, name: $"b{i}.sum");
            y = n.Op("Relu", [sum], shape, name: $"b{i}.relu");
        }
        int pool = n.Op("AveragePool", [y], [batch, c, h / 2, h / 2], Net.A(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })),
            name: "pool");
        long features = c * (h / 2) * (h / 2);
        int flat = n.Op("Flatten", [pool], [batch, features], Net.A(("axis", 1L)), name: "flatten");
        int logits = n.Op("Gemm", [flat, n.Param("fc.w", 3, features), n.Param("fc.b", 3)], [batch, 3], Net.A(("transB", 1L)), name: "logits");
        n.Op("SoftmaxCrossEntropyLoss", [logits, labels], [], loss: true, name: "loss");
        return n.Build();
    }

    /// <summary>Every forward task, every backward task, then every free: nothing is freed right after a step, so nothing runs in place.</summary>
    private static Schedule NothingInPlace(TrainingGraph tg)
    {
        var steps = tg.Tasks.Where(t => t.Kind == TaskKind.Forward).Select(t => new Step(StepKind.Compute, t.Id)).ToList();
        steps.AddRange(tg.Tasks.Where(t => t.Kind == TaskKind.Backward).Select(t => new Step(StepKind.Backward, t.Id)));
        steps.AddRange(tg.Tasks.Select(t => new Step(t.Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t.Id)));
        return new Schedule(tg, [.. steps], "test", null);
    }

    [Fact]
    public void StoreAll_RunsEveryReluInPlace_MeasuresThePrediction_GradientsAsWithoutInPlace()
    {
        var problem = new PlanningProblem(ResidualCnn(blocks: 2));
        var tg = problem.Training;
        var (storeAll, sim) = RecomputePlanner.StoreAll(problem);
        var inPlace = InPlaceSteps.Of(storeAll);
        var reluNodes = tg.Graph.Nodes.Where(node => node.Op == "Relu").Select(node => node.Id).ToHashSet();
        var inPlaceForward = Enumerable.Range(0, inPlace.Length).Where(i => inPlace[i] >= 0 && storeAll.Steps[i].Kind == StepKind.Compute)
            .Select(i => tg.Tasks[storeAll.Steps[i].Task].Node).ToHashSet();
        // Each Relu (after a BatchNormalization or a residual Add) takes its input's buffer, and the gradient of each
        // Relu's and each BatchNormalization's input takes that op's output gradient's.
        Assert.Equal(reluNodes, inPlaceForward);
        var normNodes = tg.Graph.Nodes.Where(node => node.Op == "BatchNormalization" && node.OutputIndex == 0).Select(node => node.Id).ToHashSet();
        var inPlaceBackward = Enumerable.Range(0, inPlace.Length).Where(i => inPlace[i] >= 0 && storeAll.Steps[i].Kind == StepKind.Backward)
            .Select(i => tg.Graph.Successors(tg.Tasks[storeAll.Steps[i].Task].Node).ToArray().Single(s => reluNodes.Contains(s) || normNodes.Contains(s))).ToHashSet();
        Assert.Equal(reluNodes.Union(normNodes).ToHashSet(), inPlaceBackward);

        var (run, grads) = ScheduleExecutorTests.RunOnce(storeAll);
        Assert.Equal(sim.PeakBytes, run.MeasuredPeakBytes);
        ScheduleExecutorTests.AssertSameTimeline(storeAll, sim, run);

        // Every buffer kept to the end: no step in place but the last backward one (the first BatchNormalization's input
        // gradient, over its output gradient, which the frees at the end take).
        var plain = NothingInPlace(tg);
        var plainInPlace = InPlaceSteps.Of(plain);
        int last = plain.Steps.ToList().FindLastIndex(s => s.Allocates);
        Assert.All(plainInPlace.Take(last), s => Assert.Equal(-1, s));
        var plainSim = Simulator.Simulate(plain);
        Assert.Equal(tg.Tasks.Sum(t => t.Bytes) - (plainInPlace[last] >= 0 ? tg.Tasks[plain.Steps[last].Task].Bytes : 0), plainSim.PeakBytes);
        var (plainRun, plainGrads) = ScheduleExecutorTests.RunOnce(plain);
        Assert.Equal(plainSim.PeakBytes, plainRun.MeasuredPeakBytes);
        Assert.Equal(plainRun.Loss, run.Loss);
        foreach (var (param, g) in plainGrads) Assert.Equal(g, grads[param]);
    }

    [Theory]
    [InlineData("dp-approx", 0.5, true)]
    [InlineData("greedy", 0.4, true)]
    [InlineData("optimal", 0.6, false)]
    public void PlansWithRecomputation_MeasureThePrediction_GradientsEqualStoreAll(string solver, double fraction, bool reluRecomputed)
    {
        var problem = new PlanningProblem(ResidualCnn(blocks: 6));
        var (storeAll, storeSim) = RecomputePlanner.StoreAll(problem);
        long budget = (long)(storeSim.PeakBytes * fraction);
        var plan = RecomputePlanner.Plan(problem, solver, new SolverOptions { BudgetBytes = budget, TimeLimit = TimeSpan.FromSeconds(3), Threads = 1 });
        Assert.True(plan.Feasible, $"{solver} at {fraction:P0}: {plan.Solver.Reason}");
        var schedule = plan.Schedule!;
        var inPlace = InPlaceSteps.Of(schedule);
        Assert.Contains(inPlace, s => s >= 0);
        // Where these plans recompute a Relu, it runs in place too: the recomputation of its input dies at it.
        if (reluRecomputed)
            Assert.Contains(Enumerable.Range(0, inPlace.Length), i => inPlace[i] >= 0 && schedule.Steps[i].Kind == StepKind.Recompute);
        var (a, ga) = ScheduleExecutorTests.RunOnce(storeAll);
        var (b, gb) = ScheduleExecutorTests.RunOnce(schedule);
        Assert.Equal(plan.Simulation!.PeakBytes, b.MeasuredPeakBytes);
        ScheduleExecutorTests.AssertSameTimeline(schedule, plan.Simulation, b);
        Assert.True(b.MeasuredPeakBytes <= budget);
        Assert.True(b.Recomputations > 0);
        Assert.Equal(a.Loss, b.Loss);
        foreach (var (param, g) in ga) Assert.Equal(g, gb[param]);
    }
}
