using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Tests.Import;
using Recompute.Tests.Support;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Graph;

/// <summary>Slice as a view where it selects consecutive elements, and the --dtype what-if.</summary>
public sealed class ViewsAndDTypesTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static OnnxModelBuilder Constant(OnnxModelBuilder b, string name, params long[] values) =>
        b.Node("Constant", [], [name], TensorAttr("value", Tensor(name + "_v", [values.Length], ints: values)));

    /// <summary>x = Relu(input[1, 6, 4]); s = Slice(x, starts, ends, axes, steps); loss = ReduceSum(Relu(s)).</summary>
    private ViewOf? SliceView(long axis, long start, long end, long step, out long sliceBytes)
    {
        var b = new OnnxModelBuilder().Input("input", Float, 1, 6, 4).Node("Relu", ["input"], ["x"]);
        Constant(b, "starts", start); Constant(b, "ends", end); Constant(b, "axes", axis); Constant(b, "steps", step);
        b.Node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"]).Node("Relu", ["s"], ["r"])
            .Node("ReduceSum", ["r"], ["loss"], Int("keepdims", 0)).Output("loss", Float);
        var g = OnnxImporter.Load(b.Write(_tmp.File($"slice{axis}{start}{end}{step}.onnx")));
        var tg = TrainingGraph.Derive(g);
        var s = g.Find("s");
        sliceBytes = tg.Tasks[tg.ForwardTaskOf(s.Id)].Bytes;
        return tg.ViewOf(s.Id);
    }

    [Fact]
    public void Slice_OfConsecutiveElements_IsAView_OtherSlicesAreCopies()
    {
        // Rows 2..4 of the [6, 4] matrix under a unit batch: elements 8..19 of x, no buffer of its own.
        var view = SliceView(axis: 1, start: 2, end: 5, step: 1, out long bytes);
        Assert.NotNull(view);
        Assert.Equal((8L, 12L), (view.Value.Offset, view.Value.Length));
        Assert.Equal(0, bytes);
        // Columns 1..2 of every row are not consecutive; neither is every other row.
        Assert.Null(SliceView(axis: 2, start: 1, end: 3, step: 1, out bytes));
        Assert.Equal(6 * 2 * 4, bytes);
        Assert.Null(SliceView(axis: 1, start: 0, end: 6, step: 2, out _));
    }

    [Fact]
    public void Retype_ChangesOnlyFloatingActivations()
    {
        var g = GraphLoader.Load(OnnxTestFiles.Graph("gpt2-2l-t128.onnx"));
        var bf16 = ActivationDTypes.Retype(g, "bf16");
        Assert.Equal("bf16", bf16.ActivationDType);
        foreach (var n in g.Nodes)
        {
            var r = bf16[n.Id];
            bool floating = n.IsPlanned && n.DType == "float32";
            Assert.Equal(floating ? n.Bytes / 2 : n.Bytes, r.Bytes);
            Assert.Equal(floating ? "bfloat16" : n.DType, r.DType);
        }
        Assert.Contains(g.Nodes, n => n.IsPlanned && n.DType == "int64");
        Assert.Contains(g.Nodes, n => n.Kind == NodeKind.Parameter && n.Bytes > 0);
        long fp32 = RecomputePlanner.StoreAllPeak(new PlanningProblem(g));
        long half = RecomputePlanner.StoreAllPeak(new PlanningProblem(bf16));
        // Every float32 activation halves; the peak's few integer tensors (the flattened labels) do not.
        Assert.InRange(half, fp32 / 2, fp32 / 2 + 4096);
    }

    [Fact]
    public void DTypeOption_ReplansAndSaysSo_OnlyOnPlanningCommands()
    {
        string file = OnnxTestFiles.Graph("gpt2-2l-t128.onnx");
        var (code, json, _) = InProcessCli.Run("inspect", file, "--dtype", "fp16", "--format", "json");
        Assert.Equal(0, code);
        Assert.Contains("\"dtype\": \"fp16\"", json);
        var (_, plain, _) = InProcessCli.Run("inspect", file, "--format", "json");
        Assert.DoesNotContain("\"dtype\"", plain);
        long Peak(string text) => long.Parse(System.Text.RegularExpressions.Regex.Match(text, "\"storeAllPeakBytes\": (\\d+)").Groups[1].Value);
        Assert.True(Peak(json) < Peak(plain) * 0.51, $"{Peak(json)} vs {Peak(plain)}");
        (code, var table, _) = InProcessCli.Run("plan", file, "--budget", "60%", "--dtype", "bf16", "--solver", "chen");
        Assert.Equal(0, code);
        Assert.Contains("floating activations as bf16", table);
        // The runtime computes in fp32: train and eval do not take --dtype (a usage error, exit 2).
        (code, _, var err) = InProcessCli.Run("train", file, "--budget", "50%", "--steps", "1", "--dtype", "bf16");
        Assert.Equal(2, code);
        Assert.Contains("--dtype", err);
        (code, _, _) = InProcessCli.Run("inspect", file, "--dtype", "int8");
        Assert.Equal(2, code);
    }
}
