using System.Collections.Immutable;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Runtime.Models;

namespace Recompute.Tests.Devices;

/// <summary>The roofline on hand-computed cases, and what the op cost table counts.</summary>
public class RooflineTests
{
    /// <summary>
    /// A device with round numbers: matrix units at 100 TFLOP/s (fp32), vector units at 10 TFLOP/s, 1 TB/s of memory,
    /// each achieved at one half, and 5 µs a kernel. Achieved: 50 TFLOP/s for products, 5 TFLOP/s for the rest, 500 GB/s.
    /// </summary>
    private static readonly DeviceProfile Round = new()
    {
        Name = "round", Bandwidth = 1e12, BandwidthFraction = 0.5, VectorFlops = 10e12, ComputeFraction = 0.5, FixedSecondsPerOp = 5e-6,
        MatrixFlops = ImmutableSortedDictionary.CreateRange<string, double>(StringComparer.Ordinal, [new("fp32", 100e12), new("bf16", 400e12)]),
    };

    private static (ComputationGraph Graph, Node Node) Single(Func<ModelBuilder, ModelTensor> build)
    {
        var m = new ModelBuilder("case");
        var y = build(m);
        m.MseLoss(y, m.Input("target", [.. y.Shape]));
        var g = m.Build();
        return (g, g.Find(y.Name));
    }

    [Fact]
    public void ALargeGemm_IsComputeBound()
    {
        // [1024, 1024] · [1024, 1024]: 2 · 1024³ = 2,147,483,648 FLOP → 42.95 µs at 50 TFLOP/s; it reads two and writes
        // one 4 MiB matrix, 12,582,912 B → 25.17 µs at 500 GB/s. Compute binds: 42.95 µs + 5 µs.
        var (g, n) = Single(m => m.Operator("MatMul", [m.Input("a", 1024, 1024), m.Parameter("b", 1024, 1024)]));
        var work = OpCosts.Forward(g, n, n.Time);
        Assert.Equal(CostClass.MatMul, work.Class);
        Assert.Equal(2.0 * 1024 * 1024 * 1024, work.Flops);
        Assert.Equal(3.0 * 1024 * 1024 * 4, work.Bytes);
        Assert.Equal(2.0 * 1024 * 1024 * 1024 / 50e12 + 5e-6, Round.Seconds(work, "float32", backward: false), 12);
        // In bf16 the matrix units give 200 TFLOP/s achieved: 10.74 µs of compute against the same bytes' 25.17 µs.
        Assert.Equal(3.0 * 1024 * 1024 * 4 / 500e9 + 5e-6, Round.Seconds(work, "bfloat16", backward: false), 12);
    }

    [Fact]
    public void AnElementwiseOp_IsMemoryBound()
    {
        // ReLU of 2^20 floats: 2^20 FLOP → 0.2 µs at 5 TFLOP/s; it reads and writes 4 MiB each, 8,388,608 B → 16.78 µs at
        // 500 GB/s. Memory binds: 16.78 µs + 5 µs.
        var (g, n) = Single(m => m.Relu(m.Input("x", 1024, 1024)));
        var work = OpCosts.Forward(g, n, n.Time);
        Assert.Equal(CostClass.Activation, work.Class);
        Assert.Equal(8.0 * 1024 * 1024, work.Bytes);
        Assert.Equal(8.0 * 1024 * 1024 / 500e9 + 5e-6, Round.Seconds(work, "float32", backward: false), 12);
    }

    [Fact]
    public void AView_CostsNothing_AndATransposeIsACopy()
    {
        // Reshape keeps the row-major layout: the output is its input's buffer, no kernel runs. Transpose moves every
        // element: 4 MiB read and 4 MiB written.
        var (g, reshape) = Single(m => m.Operator("Reshape", [m.Relu(m.Input("x", 1024, 1024)), m.IntConstant("shape", 1024 * 1024)]));
        Assert.Equal(OpWork.None, OpCosts.Forward(g, reshape, reshape.Time));
        Assert.Equal(0, Round.Seconds(OpCosts.Forward(g, reshape, reshape.Time), "float32", false));
        var (g2, transpose) = Single(m => m.Operator("Transpose", [m.Relu(m.Input("x", 1024, 1024))],
            new Dictionary<string, object> { ["perm"] = new long[] { 1, 0 } }));
        var copy = OpCosts.Forward(g2, transpose, transpose.Time);
        Assert.Equal(CostClass.DataMovement, copy.Class);
        Assert.Equal(8.0 * 1024 * 1024, copy.Bytes);
    }

    [Fact]
    public void ALinearLayersBackward_IsTwoGemmsOfItsForwardsSize()
    {
        // y = x·W with x = relu(input): the gradient task of x runs dX = G·Wᵀ and, x being W's operation's first
        // gradient operand, dW = xᵀ·G: each 2·M·N·K FLOPs like the forward.
        var m = new ModelBuilder("linear");
        var x = m.Relu(m.Input("input", 256, 512));
        var y = m.Operator("MatMul", [x, m.Parameter("w", 512, 128)]);
        m.MseLoss(y, m.Input("target", 256, 128));
        var g = m.Build();
        var flops = g.Nodes.Select(n => n.Time).ToArray();
        var works = OpCosts.Backward(g, g.Find(x.Name), flops).ToList();
        double gemm = 2.0 * 256 * 512 * 128;
        Assert.Equal(2, works.Count(w => w.Class == CostClass.MatMul));
        Assert.All(works.Where(w => w.Class == CostClass.MatMul), w => Assert.Equal(gemm, w.Flops));
    }

    [Fact]
    public void AProfile_PutsTheGraphInSeconds_AndLeavesOtherUnitsAlone()
    {
        var m = new ModelBuilder("mlp");
        var x = m.Input("x", 64, 784);
        m.CrossEntropy(m.Linear(m.Relu(m.Linear(x, 256)), 10), m.Labels("labels", 64));
        var flop = m.Build();
        var timed = Round.Apply(flop);
        Assert.Equal("s", timed.TimeUnit);
        Assert.Equal("round", timed.Device);
        Assert.All(timed.Nodes.Where(n => n.IsPlanned), n => Assert.True(n.Time >= 0 && n.BackwardTime >= 0));
        // Every planned tensor that runs a kernel pays at least the fixed cost.
        Assert.All(timed.Nodes.Where(n => n.IsPlanned && n.Op is "Gemm" or "Relu"), n => Assert.True(n.Time >= 5e-6));
        // Graphs whose times are not FLOP counts (measured, the paper's units) keep them.
        var paper = Recompute.Tests.Support.RandomGraphs.Forward(1, 10);
        Assert.Same(paper, Round.Apply(paper));
    }
}
