using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Execution;
using Recompute.Runtime.Models;
using Recompute.Runtime.Tensors;
using Recompute.Tests.Runtime.Models;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>
/// The executor zeroes rented memory only where an op adds into it (<see cref="Recompute.Runtime.Ops.Operator.ForwardAccumulates"/>,
/// a gradient nothing contributes to); every other forward and every backward must overwrite all of its target. The
/// proof: the same training steps with whatever is left unzeroed filled with NaN (activations, gradients, the scratch
/// gradients are summed in, and the parameter gradients before each step) give bit for bit the losses, every computed
/// value, the parameter gradients and the trained weights of steps whose every rented buffer is zeroed. A single
/// element an op leaves unwritten and someone reads turns them NaN.
/// </summary>
public class RentedMemoryTests
{
    private static string Graph(string file) => Path.Combine(Recompute.Tests.Support.Paths.RepoRoot, "graphs", file);

    private static ComputationGraph Load(string name) => name switch
    {
        "mlp" => TestModels.Mlp(3),
        "cnn" => TestModels.Cnn(blocks: 2),
        "gpt" => TestModels.Gpt(layers: 2),
        "attention" => TransposeViewTests.Attention(),
        "broadcasts" => TransposeViewTests.Broadcasts(),
        "transformer" => ModelBuilderTests.Transformer(),
        "convnet" => ModelBuilderTests.ConvNet(),
        "unet-small" => SampleModels.UNet(size: 16, batch: 2, channels: 4, depth: 2),
        "unet-b1-64" => GraphLoader.Load(Graph("unet-b1-64.json")),
        "resnet18-b1" => GraphLoader.Load(Graph("resnet18-b32.onnx"), new GraphLoadOptions { Batch = 1 }),
        "mobilenetv2-b1" => GraphLoader.Load(Graph("mobilenetv2-b64.onnx"), new GraphLoadOptions { Batch = 1 }),
        "gpt2-2l-t128" => GraphLoader.Load(Graph("gpt2-2l-t128.json")),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>What a run of a few training steps produced, as bit patterns.</summary>
    private sealed record Trace(List<int> Losses, List<(string Value, ulong Checksum)> Values, List<(string Parameter, bool Marked, int[] Bits)> Gradients,
        List<(string Parameter, int[] Bits)> Weights);

    private static int[] Bits(ReadOnlySpan<float> values)
    {
        var bits = new int[values.Length];
        for (int i = 0; i < values.Length; i++) bits[i] = BitConverter.SingleToInt32Bits(values[i]);
        return bits;
    }

    /// <summary>Two Adam steps by <paramref name="schedule"/> with rented memory as <paramref name="memory"/> says: the
    /// second step rents buffers the first has written and freed, and starts from gradients the first has written.</summary>
    private static Trace Train(Schedule schedule, RentedMemory memory, int steps = 2)
    {
        var graph = schedule.Training.Graph;
        var arena = new Arena();
        var model = ModelState.Initialize(graph, arena, 7);
        var trace = new Trace([], [], [], []);
        var executor = new ScheduleExecutor(schedule.Training, model)
        {
            RentedMemory = memory,
            ValueComputed = (step, value) => trace.Values.Add((schedule.Training.Tasks[step.Task].Name, ScheduleExecutor.Checksum(value.Span))),
        };
        var adam = new Adam(1e-3);
        for (int s = 0; s < steps; s++)
        {
            using var batch = TrainingBatch.Synthetic(graph, arena, 11, s + 1);
            var run = executor.Run(schedule, batch, 99UL + (ulong)s);
            trace.Losses.Add(BitConverter.SingleToInt32Bits(run.Loss));
            foreach (int p in model.Parameters)
                trace.Gradients.Add((graph[p].Name, model.HasGradient(p), Bits(model.Gradient(p).Span)));
            adam.Update(model);
            executor.ApplyRunningStatistics();
        }
        foreach (int p in model.Parameters) trace.Weights.Add((graph[p].Name, Bits(model.Value(p).Span)));
        return trace;
    }

    private static void AssertSame(Trace expected, Trace actual, string what)
    {
        Assert.True(expected.Losses.SequenceEqual(actual.Losses), $"{what}: losses {string.Join(", ", expected.Losses.Select(BitConverter.Int32BitsToSingle))} " +
            $"against {string.Join(", ", actual.Losses.Select(BitConverter.Int32BitsToSingle))}");
        Assert.Equal(expected.Values.Count, actual.Values.Count);
        for (int i = 0; i < expected.Values.Count; i++)
            Assert.True(expected.Values[i] == actual.Values[i], $"{what}: computed value #{i} '{actual.Values[i].Value}' differs");
        Assert.Equal(expected.Gradients.Count, actual.Gradients.Count);
        for (int i = 0; i < expected.Gradients.Count; i++)
        {
            var (name, marked, bits) = expected.Gradients[i];
            Assert.True(marked == actual.Gradients[i].Marked, $"{what}: gradient of '{name}' marked {marked} against {actual.Gradients[i].Marked}");
            Assert.True(bits.AsSpan().SequenceEqual(actual.Gradients[i].Bits), $"{what}: gradient of '{name}' (step {i / (expected.Gradients.Count / 2) + 1}) differs");
        }
        for (int i = 0; i < expected.Weights.Count; i++)
            Assert.True(expected.Weights[i].Bits.AsSpan().SequenceEqual(actual.Weights[i].Bits), $"{what}: trained '{expected.Weights[i].Parameter}' differs");
    }

    private static void AssertContract(Schedule schedule)
    {
        var zeroed = Train(schedule, RentedMemory.Zeroed);
        Assert.All(zeroed.Losses, l => Assert.True(float.IsFinite(BitConverter.Int32BitsToSingle(l))));
        Assert.Contains(zeroed.Gradients, g => g.Marked && g.Bits.Any(b => b != 0));
        AssertSame(zeroed, Train(schedule, RentedMemory.Poisoned), "NaN-filled against zeroed");
        AssertSame(zeroed, Train(schedule, RentedMemory.ZeroedWhereAccumulated), "zeroed where accumulated against zeroed");
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    [InlineData("gpt")]
    [InlineData("attention")]
    [InlineData("broadcasts")]
    [InlineData("transformer")]
    [InlineData("convnet")]
    [InlineData("unet-small")]
    public void SmallModels_UnzeroedMemory_GivesTheZeroedStepsBitForBit_StoreAllAndRecomputeAll(string name)
    {
        var tg = TrainingGraph.Derive(Load(name));
        AssertContract(Schedules.StoreAll(tg));
        AssertContract(Schedules.RecomputeAll(tg));
    }

    [Theory]
    [InlineData("resnet18-b1")]
    [InlineData("mobilenetv2-b1")]
    [InlineData("gpt2-2l-t128")]
    [InlineData("unet-b1-64")]
    public void ShippedGraphs_UnzeroedMemory_GivesTheZeroedStepsBitForBit(string name) =>
        AssertContract(Schedules.StoreAll(TrainingGraph.Derive(Load(name))));
}
