using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Xunit.Abstractions;

namespace Recompute.Tests.Oracle;

/// <summary>
/// The memory model against PyTorch: what the store-all schedule holds when the forward pass ends (the planner's figure,
/// which the runtime's arena measures byte for byte) against the distinct storages PyTorch's autograd saves for the
/// backward pass of the same module (<c>torch_oracle.py</c>), within 1 % once each named difference is counted: what
/// torch saves and the runtime's backward does without (MaxPool indices, normalisation statistics, pooling inputs), and
/// a reshaped batch input. Weight transposes are views on both sides (torch's <c>t()</c>, the runtime's strided GEMM
/// operands): store-all holds none of their bytes.
/// </summary>
public class TorchMemoryOracleTests(ITestOutputHelper output)
{
    private const double Tolerance = 0.01;

    private void AssertKeepsWhatTorchKeeps(string name)
    {
        var (onnx, torch) = TorchOracle.Export(name);
        var graph = GraphLoader.Load(onnx);
        var (schedule, simulation) = RecomputePlanner.StoreAll(new PlanningProblem(graph));
        int firstBackward = schedule.Steps.IndexOf(schedule.Steps.First(s => s.Kind == StepKind.Backward));
        long held = simulation.LiveBytes[firstBackward - 1];

        // Forward tensors still held when the backward pass starts that torch holds as views: a reshaped batch input (the
        // batch is not planned, so a reshape of it is a buffer here). A parameter's transpose is a view here too.
        var live = Support.ScheduleFacts.LiveAtFirstBackward(schedule);
        long Held(Func<Node, bool> what) => live.Select(t => schedule.Training.Tasks[t]).Where(t => what(graph[t.Node])).Sum(t => t.Bytes);
        long weightTransposes = Held(n => n.Op == "Transpose" && graph[n.Inputs[0]].Kind == NodeKind.Parameter);
        long batchViews = Held(n => Views.IsWholeViewOp(n.Op) && graph[n.Inputs[0]].Kind == NodeKind.Input);

        long saved = torch["saved/bytes"].Longs![0], batch = torch["saved/batch"].Longs![0], torchOnly = torch["saved/torch-only"].Longs![0];
        Assert.Equal(0, weightTransposes);
        long ours = held - batchViews, theirs = saved - batch - torchOnly;
        output.WriteLine($"{name}: store-all holds {held:N0} B at the end of the forward pass, {weightTransposes:N0} B of them weight transposes, " +
            $"{batchViews:N0} B reshaped batch inputs; " +
            $"torch saves {saved:N0} B, {batch:N0} B of them the batch and {torchOnly:N0} B that only its backward reads");
        Assert.True(Math.Abs(ours - theirs) <= Tolerance * theirs,
            $"{name}: the runtime keeps {ours:N0} B where torch keeps {theirs:N0} B ({(double)(ours - theirs) / theirs:P2})");
    }

    [TorchFact]
    public void ConvolutionFamily_KeepsWhatTorchKeeps() => AssertKeepsWhatTorchKeeps("conv");

    [TorchFact]
    public void DenseFamily_KeepsWhatTorchKeeps() => AssertKeepsWhatTorchKeeps("dense");

    [TorchFact]
    public void Gpt2Block_KeepsWhatTorchKeeps() => AssertKeepsWhatTorchKeeps("gpt2block");

    [TorchFact]
    public void ResNet18_KeepsWhatTorchKeeps() => AssertKeepsWhatTorchKeeps("resnet18");

    [TorchFact]
    public void MobileNetV2_KeepsWhatTorchKeeps() => AssertKeepsWhatTorchKeeps("mobilenetv2");
}
