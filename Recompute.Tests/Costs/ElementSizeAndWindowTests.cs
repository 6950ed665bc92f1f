using Recompute.Planner.Costs;
using Recompute.Planner.Graph;

namespace Recompute.Tests.Costs;

/// <summary>The facts written once: element sizes, window geometry, the default backward time, copies of a node.</summary>
public class ElementSizeAndWindowTests
{
    [Theory]
    [InlineData("float32", 4)]
    [InlineData("bfloat16", 2)]
    [InlineData("float16", 2)]
    [InlineData("float64", 8)]
    [InlineData("int64", 8)]
    [InlineData("bool", 1)]
    [InlineData("uint8", 1)]
    public void BytesOf_IsTheTablesBitsOverEight(string dtype, int bytes)
    {
        Assert.Equal(bytes, ElementTypes.BytesOf(dtype));
        Assert.Equal(bytes * 8, ElementTypes.BitsOf(dtype));
    }

    [Theory]
    [InlineData("float", "unknown element type 'float'")]
    [InlineData("fp32", "unknown element type 'fp32'")]
    [InlineData("string", "no whole-byte size")]
    [InlineData("int4", "no whole-byte size")]
    public void BytesOf_RefusesWhatHasNoByteSize(string dtype, string why) =>
        Assert.Contains(why, Assert.Throws<ArgumentException>(() => ElementTypes.BytesOf(dtype)).Message);

    [Fact]
    public void SamePadding_PutsTheOddPixelAtTheEndForUpperAndAtTheStartForLower()
    {
        // 7 pixels, kernel 4, stride 2: SAME gives ceil(7 / 2) = 4 outputs, which span (4 - 1)·2 + 4 = 10, so 3 pixels of padding.
        long output = WindowGeometry.OutputLength(7, 4, 2, 1, 0, 0, "SAME_UPPER", ceil: false);
        Assert.Equal(4, output);
        long total = WindowGeometry.PaddingFor(7, output, 4, 2, 1);
        Assert.Equal(3, total);
        Assert.Equal(1, WindowGeometry.SamePadBegin(total, "SAME_UPPER"));
        Assert.Equal(2, WindowGeometry.SamePadBegin(total, "SAME_LOWER"));
        // With that padding, the explicit rule gives the same output: (7 + 1 + 2 - 4) / 2 + 1 = 4.
        Assert.Equal(output, WindowGeometry.OutputLength(7, 4, 2, 1, 1, 2, "NOTSET", ceil: false));
    }

    [Fact]
    public void OutputLength_CeilModeDropsAWindowThatStartsInTheEndPadding()
    {
        // 6 pixels, kernel 2, stride 2, end padding 1: floor gives (6 + 1 - 2) / 2 + 1 = 3; ceil would give 4, but the
        // fourth window would start at 6, in the padding, so it is dropped.
        Assert.Equal(3, WindowGeometry.OutputLength(6, 2, 2, 1, 0, 1, "NOTSET", ceil: false));
        Assert.Equal(3, WindowGeometry.OutputLength(6, 2, 2, 1, 0, 1, "NOTSET", ceil: true));
        Assert.Throws<ShapeInferenceException>(() => WindowGeometry.OutputLength(2, 5, 1, 1, 0, 0, "NOTSET", ceil: false));
        Assert.Throws<ShapeInferenceException>(() => WindowGeometry.OutputLength(8, 3, 1, 1, 0, 0, "SAME", ceil: false));
    }

    [Fact]
    public void ANodeWithoutABackwardTime_GetsTwiceItsForward()
    {
        var b = new GraphBuilder("g");
        int x = b.Input("x", 16);
        b.Add(new NodeSpec("y", "Relu", NodeKind.Activation) { Inputs = [x], Bytes = 16, Time = 3 });
        b.Add(new NodeSpec("z", "Relu", NodeKind.Loss) { Inputs = [x], Bytes = 4, Time = 3, BackwardTime = 1 });
        var g = b.Build();
        Assert.Equal(Node.DefaultBackwardTime(3), g[1].BackwardTime);
        Assert.Equal(6, g[1].BackwardTime);
        Assert.Equal(1, g[2].BackwardTime);
    }

    [Fact]
    public void ACopyWithOtherTimes_KeepsEveryOtherFieldAndIsAnotherNode()
    {
        var b = new GraphBuilder("g");
        int x = b.Input("x", 16, [2, 2]);
        b.Add(new NodeSpec("y", "Relu", NodeKind.Loss) { Inputs = [x], Bytes = 16, Time = 3, Shape = [2, 2], SavedByRule = true });
        var y = b.Build()[1];
        var copy = y with { Time = 5, BackwardTime = 7 };
        Assert.Equal((5.0, 7.0), (copy.Time, copy.BackwardTime));
        Assert.Equal((y.Id, y.Name, y.Op, y.Kind, y.Bytes, y.DType, y.SavedByRule), (copy.Id, copy.Name, copy.Op, copy.Kind, copy.Bytes,
            copy.DType, copy.SavedByRule));
        Assert.Equal(y.Shape, copy.Shape);
        Assert.Equal(y.Inputs, copy.Inputs);
        Assert.NotEqual(y, copy);
        Assert.NotEqual(y, y with { });
        Assert.Equal(y, y);
    }
}
