using Recompute.Planner.Graph;
using Recompute.Runtime.Execution;
using Xunit.Abstractions;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>
/// A steady-state training step allocates next to nothing on the managed heap: buffers come from the arena and the
/// kernels' pools, op calls reuse the executor's arrays and forks take struct bodies. Allocation counts are
/// deterministic (unlike time), so a fixed bound catches a closure or array that creeps back into the per-op path.
/// </summary>
public class StepAllocationTests(ITestOutputHelper output)
{
    [Fact]
    public void ASteadyStateStepAllocatesLittle()
    {
        // Conv, BatchNormalization, Relu, MaxPool, residual Add, AveragePool, Dropout, Gemm and the loss, with Adam; small
        // enough that every kernel runs on this thread, so the thread's own count is the step's.
        var graph = TestModels.Cnn(batch: 2, channels: 4, size: 8, blocks: 2);
        var session = TrainingSession.Create(Schedules.StoreAll(TrainingGraph.Derive(graph)), new TrainingOptions { Optimizer = new Adam(1e-3), Seed = 5 });
        using var batch = TrainingBatch.Synthetic(graph, session.Arena, 1, 1);
        for (int i = 0; i < 3; i++) session.Step(batch);
        const int steps = 5;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < steps; i++) session.Step(batch);
        long perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / steps;
        output.WriteLine($"{perStep} bytes per step, {graph.Count} nodes");
        // What is left per step: the tensor handles the arena hands out (one per planned tensor and view read) and
        // the step's result (its timeline and per-op times), about 18 kB here; per-op closures or arrays would add more.
        Assert.True(perStep < 24_000, $"a steady-state step allocated {perStep} bytes");
    }
}
