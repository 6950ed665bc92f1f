using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Tensors;

namespace Recompute.Tests.Runtime.Execution;

public class ScheduleExecutorTests
{
    internal static ComputationGraph Model(string name) => name switch
    {
        "mlp50" => TestModels.Mlp(50),
        "cnn" => TestModels.Cnn(),
        "gpt" => TestModels.Gpt(),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>Runs one forward+backward by a schedule; returns the result and a copy of every parameter gradient.</summary>
    internal static (ExecutionResult Run, Dictionary<string, float[]> Gradients) RunOnce(Schedule schedule, int seed = 3)
    {
        var graph = schedule.Training.Graph;
        var arena = new Arena();
        var model = ModelState.Initialize(graph, arena, seed);
        var executor = new ScheduleExecutor(schedule.Training, model);
        using var batch = TrainingBatch.Synthetic(graph, arena, seed, 1);
        var run = executor.Run(schedule, batch, 99);
        var grads = model.Parameters.ToDictionary(p => graph[p].Name, p => model.Gradient(p).Span.ToArray());
        return (run, grads);
    }

    internal static void AssertSameTimeline(Schedule schedule, SimulationResult sim, ExecutionResult run)
    {
        for (int i = 0; i < sim.LiveBytes.Length; i++)
            Assert.True(sim.LiveBytes[i] == run.LiveBytes[i],
                $"after step {i} ({schedule.Steps[i]}, {schedule.Training.Tasks[schedule.Steps[i].Task].Name}): simulated {sim.LiveBytes[i]} B, measured {run.LiveBytes[i]} B");
    }

    [Theory]
    [InlineData("mlp50")]
    [InlineData("cnn")]
    [InlineData("gpt")]
    public void StoreAll_MeasuredMemoryEqualsSimulation_StepByStep(string name)
    {
        var tg = TrainingGraph.Derive(Model(name));
        var schedule = Schedules.StoreAll(tg);
        var sim = Simulator.Simulate(schedule);
        var (run, grads) = RunOnce(schedule);
        Assert.Equal(sim.PeakBytes, run.MeasuredPeakBytes);
        AssertSameTimeline(schedule, sim, run);
        Assert.True(float.IsFinite(run.Loss) && run.Loss > 0, $"loss {run.Loss}");
        Assert.Equal(0, run.Recomputations);
        Assert.Contains(grads.Values, g => g.Any(v => v != 0f));
    }

    [Theory]
    [InlineData("mlp50")]
    [InlineData("cnn")]
    [InlineData("gpt")]
    public void RecomputeAll_UsesLessMemory_SameLossAndBitwiseEqualGradients(string name)
    {
        var tg = TrainingGraph.Derive(Model(name));
        var storeAll = Schedules.StoreAll(tg);
        var recompute = Schedules.RecomputeAll(tg);
        var simStore = Simulator.Simulate(storeAll);
        var simRe = Simulator.Simulate(recompute);
        var (a, ga) = RunOnce(storeAll);
        var (b, gb) = RunOnce(recompute);
        Assert.True(b.Recomputations > 0);
        Assert.Equal(simRe.PeakBytes, b.MeasuredPeakBytes);
        AssertSameTimeline(recompute, simRe, b);
        if (name == "mlp50") Assert.True(simRe.PeakBytes * 4 < simStore.PeakBytes,
            $"recompute-all peak {simRe.PeakBytes} vs store-all {simStore.PeakBytes}");
        Assert.Equal(a.Loss, b.Loss);
        // Recomputed values are bitwise equal (the executor checks each one), and the gradient of every tensor is
        // summed in graph order whatever the schedule: parameter gradients must be identical bit for bit.
        foreach (var (param, g) in ga) Assert.Equal(g, gb[param]);
    }

    [Theory]
    [InlineData("mlp3")]
    [InlineData("gpt")]
    [InlineData("cnn")]
    public void ParameterGradients_MatchFiniteDifferencesOfTheLoss(string name)
    {
        var graph = name == "mlp3" ? TestModels.Mlp(3) : Model(name);
        // Two elements of every parameter tensor; ReLU and max-pool kinks: a smaller step for the CNN.
        int probes = GraphGradientCheck.Check(graph, perTensor: 2, eps: name == "cnn" ? 1e-3f : 1e-2f, absolute: 2e-3, relative: 2e-2);
        Assert.True(probes >= 6);
    }

    [Fact]
    public void RejectsAGraphWhoseBackwardNeedsOmitWhatTheOperatorReads()
    {
        var b = new GraphBuilder("bad");
        int x = b.Input("x", 16, [4]);
        int w = b.Parameter("w", 16, [4]);
        int h = b.Activation("h", "Mul", [x, w], 16, 1, [4]);
        int r = b.Activation("r", "Relu", [h], 16, 1, [4], backwardNeeds: []);
        b.Loss("loss", "ReduceSum", [r], 4, 1, [], backwardNeeds: []);
        var g = b.Build();
        var e = Assert.Throws<GraphFormatException>(() => new ScheduleExecutor(TrainingGraph.Derive(g), ModelState.Initialize(g, new Arena(), 1)));
        Assert.Contains("'r'", e.Message);
        Assert.Contains("Relu", e.Message);
    }

    [Fact]
    public void RejectsAnUnsupportedOpAndBytesThatDisagreeWithTheShape()
    {
        var b = new GraphBuilder("bad", source: "bad.json");
        int x = b.Input("x", 16, [4]);
        b.Loss("loss", "Frobnicate", [x], 4, 1, []);
        var g = b.Build();
        var e = Assert.Throws<GraphFormatException>(() => new ScheduleExecutor(TrainingGraph.Derive(g), ModelState.Initialize(g, new Arena(), 1)));
        Assert.Contains("Frobnicate", e.Message);
        Assert.Contains("bad.json", e.Message);

        var b2 = new GraphBuilder("bad2");
        int x2 = b2.Input("x", 16, [4]);
        b2.Loss("loss", "ReduceSum", [x2], 8, 1, [], backwardNeeds: []);
        var g2 = b2.Build();
        var e2 = Assert.Throws<GraphFormatException>(() => new ScheduleExecutor(TrainingGraph.Derive(g2), ModelState.Initialize(g2, new Arena(), 1)));
        Assert.Contains("declares 8 bytes", e2.Message);
    }
}

public class OperandPositionTests
{
    [Fact]
    public void AbsentOptionalOperands_AreHonouredThroughInputPositions()
    {
        // Clip(x, <no min>, max = 0.5): the importer drops the absent operand and records positions [0, 2].
        var n = new Net("clip");
        int x = n.Input("x", [2, 3]);
        int hi = n.Const("hi", [], [0.5f]);
        int w = n.Param("w", 2, 3);
        int h = n.Op("Mul", [x, w], [2, 3], name: "h");
        int c = n.Op("Clip", [h, hi], [2, 3], Net.A(("input_positions", new long[] { 0, 2 })), name: "clipped");
        n.Op("ReduceSum", [c], [], Net.A(("keepdims", 0L)), loss: true, name: "loss");
        var graph = n.Build();
        var (run, grads) = ScheduleExecutorTests.RunOnce(Schedules.StoreAll(Recompute.Planner.Graph.TrainingGraph.Derive(graph)));
        var arena = new Recompute.Runtime.Tensors.Arena();
        var model = ModelState.Initialize(graph, arena, 3);
        using var batch = TrainingBatch.Synthetic(graph, arena, 3, 1);
        var xs = batch[x].Span.ToArray(); var ws = model.Value(w).Span.ToArray();
        double expected = 0;
        for (int i = 0; i < 6; i++) expected += Math.Min(xs[i] * ws[i], 0.5f);
        Assert.Equal(expected, run.Loss, 5);
        for (int i = 0; i < 6; i++) Assert.Equal(xs[i] * ws[i] <= 0.5f ? xs[i] : 0f, grads["w"][i]);
    }
}

public class RecomputationTests
{
    [Theory]
    [InlineData("cnn")]
    [InlineData("gpt")]
    public void EveryRecomputedTensorIsBitwiseEqualToItsFirstComputation(string name)
    {
        var graph = ScheduleExecutorTests.Model(name);
        var schedule = Schedules.RecomputeAll(Recompute.Planner.Graph.TrainingGraph.Derive(graph));
        var first = new Dictionary<int, float[]>();
        int compared = 0;
        var arena = new Recompute.Runtime.Tensors.Arena();
        var model = ModelState.Initialize(graph, arena, 8);
        var executor = new ScheduleExecutor(schedule.Training, model)
        {
            CheckRecomputation = false, // compare here, element by element, instead of by checksum
            ValueComputed = (step, value) =>
            {
                if (step.Kind == Recompute.Planner.Scheduling.StepKind.Compute) { first[step.Task] = value.Span.ToArray(); return; }
                var a = first[step.Task]; var b = value.Span;
                for (int i = 0; i < a.Length; i++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(a[i]), BitConverter.SingleToInt32Bits(b[i]));
                compared++;
            },
        };
        using var batch = TrainingBatch.Synthetic(graph, arena, 8, 1);
        var run = executor.Run(schedule, batch, 5);
        Assert.Equal(run.Recomputations, compared);
        Assert.True(compared > 20);
        Assert.Contains(schedule.Steps, s => s.Kind == Recompute.Planner.Scheduling.StepKind.Recompute
            && graph[schedule.Training.Tasks[s.Task].Node].Op == "Dropout");
    }
}

public class SampleGraphSupportTests
{
    /// <summary>
    /// The contract between the ONNX importer and the runtime: every sample graph's ops are supported, bytes match
    /// shapes, and each op's backward reads only what the importer's backward needs keep.
    /// </summary>
    [Theory]
    [InlineData("resnet18-b32.onnx")]
    [InlineData("resnet50-b64.onnx")]
    [InlineData("vgg16-b32.onnx")]
    [InlineData("mobilenetv2-b64.onnx")]
    [InlineData("unet-b8-256.onnx")]
    [InlineData("gpt2-124m-b8-t1024.onnx")]
    public void TheRuntimeCanExecuteEverySampleGraph(string file)
    {
        var graph = Recompute.Planner.Import.GraphLoader.Load(Recompute.Tests.Import.OnnxTestFiles.Graph(file),
            new Recompute.Planner.Import.GraphLoadOptions { Batch = 1 });
        ScheduleExecutor.Check(Recompute.Planner.Graph.TrainingGraph.Derive(graph));
        Assert.Contains(graph.Nodes, n => n.Kind == Recompute.Planner.Graph.NodeKind.Loss);
    }
}
