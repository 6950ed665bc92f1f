using Recompute.Planner.Graph;

namespace Recompute.Tests.Graph;

public class GraphBuilderTests
{
    [Fact]
    public void Build_RenumbersIntoTopologicalOrder_KeepingInsertionOrderWherePossible()
    {
        var b = new GraphBuilder("g");
        // "late" is added before its input: ids must be renumbered.
        var late = b.Add(new NodeSpec("late", "Relu", NodeKind.Activation) { Inputs = [1], Bytes = 4, Time = 1 });
        var x = b.Input("x", 4);
        var loss = b.Loss("loss", "Sum", [late], 4, 1);
        var g = b.Build();
        Assert.Equal(["x", "late", "loss"], g.Nodes.Select(n => n.Name));
        Assert.Equal([0], g.Find("late").Inputs.ToArray());
        _ = x; _ = loss;
    }

    [Fact]
    public void Build_RejectsCycleNamingANodeOnIt()
    {
        var b = new GraphBuilder("g", source: "cyc.json");
        b.Add(new NodeSpec("a", "Relu", NodeKind.Activation) { Inputs = [1], Bytes = 4 });
        b.Add(new NodeSpec("b", "Relu", NodeKind.Activation) { Inputs = [0], Bytes = 4 });
        var e = Assert.Throws<GraphFormatException>(() => b.Build());
        Assert.Contains("cyc.json", e.Message);
        Assert.Contains("cycle", e.Message);
    }

    [Theory]
    [InlineData(-1L, "negative size")]
    [InlineData(long.MaxValue, "overflows 64 bits")]
    public void Build_RejectsBadSizes(long bytes, string expected)
    {
        var b = new GraphBuilder("g");
        b.Input("x", 8);
        b.Activation("y", "Relu", [0], bytes, 1);
        var e = Assert.Throws<GraphFormatException>(() => b.Build());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Build_RejectsDuplicateNamesAndDanglingInputs()
    {
        var dup = new GraphBuilder("g");
        dup.Input("x", 1);
        dup.Input("x", 1);
        Assert.Contains("duplicate", Assert.Throws<GraphFormatException>(() => dup.Build()).Message);

        var dangling = new GraphBuilder("g");
        dangling.Activation("y", "Relu", [7], 4, 1);
        Assert.Contains("does not exist", Assert.Throws<GraphFormatException>(() => dangling.Build()).Message);
    }

    [Fact]
    public void TrainingGraph_DerivesGradientTasksThatReadWhatBackwardNeeds()
    {
        // x -> a=Relu(x) -> b=Add(a, a) -> loss ; gradient of a reads grad(b) only (Add needs nothing),
        // gradient of b reads grad(loss) and the loss op's operand b.
        var bld = new GraphBuilder("g");
        int x = bld.Input("x", 4);
        int a = bld.Activation("a", "Relu", [x], 4, 1);
        int bb = bld.Activation("b", "Add", [a, a], 4, 1, backwardNeeds: []);
        bld.Loss("loss", "Sum", [bb], 4, 1);
        var tg = TrainingGraph.Derive(bld.Build());
        Assert.Equal(6, tg.Count);
        var ga = tg.Tasks[tg.GradTaskOf(1)];
        Assert.Equal([tg.GradTaskOf(2)], ga.Inputs.ToArray());
        var gb = tg.Tasks[tg.GradTaskOf(2)];
        Assert.Equal(new[] { tg.ForwardTaskOf(2), tg.GradTaskOf(3) }.Order(), gb.Inputs.ToArray());
    }
}
