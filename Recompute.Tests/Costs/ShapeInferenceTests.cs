using Recompute.Planner.Costs;

namespace Recompute.Tests.Costs;

public class ShapeInferenceTests
{
    private static TensorInfo F(params long[] shape) => new("float32", shape);
    private static TensorInfo I(params long[] values) => new("int64", [values.Length], ConstantValue.FromInts(values));

    private static TensorInfo[] Infer(string op, TensorInfo?[] inputs, Dictionary<string, object>? attrs = null, int outputs = 1, int opset = 17) =>
        ShapeInference.Infer(new OpContext { OpType = op, Opset = opset, Inputs = inputs, Attributes = attrs ?? [], OutputCount = outputs });

    private static long[] Shape(string op, TensorInfo?[] inputs, Dictionary<string, object>? attrs = null, int opset = 17) => Infer(op,
        inputs, attrs, 1, opset)[0].Shape;

    [Fact]
    public void Conv_PadsStridesDilationsGroups()
    {
        // (224 + 3 + 3 - 7) / 2 + 1 = 112
        Assert.Equal([2L, 64, 112, 112], Shape("Conv", [F(2, 3, 224, 224), F(64, 3, 7, 7)], new() { ["strides"] = new long[] { 2, 2 },
            ["pads"] = new long[] { 3, 3, 3, 3 } }));
        // dilation 2 makes a 3×3 kernel span 5: (32 - 5) / 1 + 1 = 28
        Assert.Equal([1L, 8, 28, 28], Shape("Conv", [F(1, 4, 32, 32), F(8, 4, 3, 3)], new() { ["dilations"] = new long[] { 2, 2 } }));
        // depthwise: 32 channels, group 32, weights [32,1,3,3]; SAME_UPPER with stride 2: ceil(15 / 2) = 8
        Assert.Equal([1L, 32, 8, 8], Shape("Conv", [F(1, 32, 15, 15), F(32, 1, 3, 3)], new() { ["group"] = 32L,
            ["strides"] = new long[] { 2, 2 }, ["auto_pad"] = "SAME_UPPER" }));
        Assert.Throws<ShapeInferenceException>(() => Shape("Conv", [F(1, 4, 8, 8), F(8, 3, 3, 3)]));
    }

    [Fact]
    public void ConvTranspose_AndPools()
    {
        // stride 2, kernel 2: (16 - 1)·2 + 2 = 32
        Assert.Equal([1L, 64, 32, 32], Shape("ConvTranspose", [F(1, 128, 16, 16), F(128, 64, 2, 2)], new() { ["strides"] = new long[] { 2, 2 } }));
        Assert.Equal([1L, 64, 31, 31], Shape("ConvTranspose", [F(1, 128, 16, 16), F(128, 64, 2, 2)], new() { ["strides"] = new long[] { 2,
            2 }, ["pads"] = new long[] { 0, 0, 1, 1 } }));
        // max pool 3×3 stride 2 pad 1: (112 + 2 - 3) / 2 + 1 = 56
        Assert.Equal([1L, 64, 56, 56], Shape("MaxPool", [F(1, 64, 112, 112)], new() { ["kernel_shape"] = new long[] { 3, 3 },
            ["strides"] = new long[] { 2, 2 }, ["pads"] = new long[] { 1, 1, 1, 1 } }));
        // ceil_mode: floor((13 - 3) / 2) + 1 = 6, ceil gives 6 too; with 14: floor 6, ceil 7
        Assert.Equal([1L, 1, 7, 7], Shape("MaxPool", [F(1, 1, 14, 14)], new() { ["kernel_shape"] = new long[] { 3, 3 },
            ["strides"] = new long[] { 2, 2 }, ["ceil_mode"] = 1L }));
        Assert.Equal([1L, 1, 6, 6], Shape("MaxPool", [F(1, 1, 14, 14)], new() { ["kernel_shape"] = new long[] { 3, 3 },
            ["strides"] = new long[] { 2, 2 } }));
        // ceil_mode never starts a window in the padding: input 5, kernel 2, stride 2, pad 1 → ceil gives 4, the last starts at 6 ≥ 5 + 1: 3
        Assert.Equal([1L, 1, 3], Shape("AveragePool", [F(1, 1, 5)], new() { ["kernel_shape"] = new long[] { 2 },
            ["strides"] = new long[] { 2 }, ["pads"] = new long[] { 1, 1 }, ["ceil_mode"] = 1L }));
        Assert.Equal([4L, 512, 1, 1], Shape("GlobalAveragePool", [F(4, 512, 7, 7)]));
        var both = Infer("MaxPool", [F(1, 2, 4, 4)], new() { ["kernel_shape"] = new long[] { 2, 2 } }, outputs: 2);
        Assert.Equal("int64", both[1].DType);
    }

    [Fact]
    public void MatMulGemmAndBroadcast()
    {
        Assert.Equal([8L, 12, 1024, 1024], Shape("MatMul", [F(8, 12, 1024, 64), F(8, 12, 64, 1024)]));
        Assert.Equal([8L, 1024, 2304], Shape("MatMul", [F(8, 1024, 768), F(768, 2304)]));
        Assert.Equal([3L], Shape("MatMul", [F(3, 4), F(4)]));
        Assert.Equal([5L, 1, 2, 7], Shape("MatMul", [F(5, 1, 2, 3), F(3, 7)]));
        Assert.Equal([4L, 5, 2, 7], Shape("MatMul", [F(5, 2, 3), F(4, 1, 3, 7)]));
        Assert.Equal([32L, 1000], Shape("Gemm", [F(32, 512), F(1000, 512), F(1000)], new() { ["transB"] = 1L }));
        Assert.Throws<ShapeInferenceException>(() => Shape("Gemm", [F(32, 512), F(1000, 512)]));
        Assert.Equal([2L, 3, 4], Shape("Add", [F(2, 1, 4), F(3, 1)]));
        Assert.Throws<ShapeInferenceException>(() => Shape("Mul", [F(2, 3), F(4)]));
        Assert.Equal("bool", Infer("Equal", [F(2), F(2)])[0].DType);
        Assert.Equal([2L, 3], Shape("Where", [new TensorInfo("bool", [1, 3]), F(2, 1), F()]));
    }

    [Fact]
    public void ReshapeFlattenTransposeSqueeze()
    {
        Assert.Equal([8L, 1024, 12, 64], Shape("Reshape", [F(8, 1024, 768), I(8, 1024, 12, 64)]));
        Assert.Equal([8L, 1024, 768], Shape("Reshape", [F(8, 1024, 12, 64), I(0, 0, -1)]));
        Assert.Throws<ShapeInferenceException>(() => Shape("Reshape", [F(8, 10), I(3, -1)]));
        Assert.Throws<ShapeInferenceException>(() => Shape("Reshape", [F(8, 10), new TensorInfo("int64", [2])]));
        Assert.Equal([6L, 20], Shape("Flatten", [F(2, 3, 4, 5)], new() { ["axis"] = 2L }));
        Assert.Equal([1L, 120], Shape("Flatten", [F(2, 3, 4, 5)], new() { ["axis"] = 0L }));
        Assert.Equal([8L, 12, 1024, 64], Shape("Transpose", [F(8, 1024, 12, 64)], new() { ["perm"] = new long[] { 0, 2, 1, 3 } }));
        Assert.Equal([5L, 4, 3], Shape("Transpose", [F(3, 4, 5)]));
        Assert.Equal([3L, 1, 4], Shape("Unsqueeze", [F(3, 4), I(1)], opset: 13));
        Assert.Equal([3L, 4, 1], Shape("Unsqueeze", [F(3, 4)], new() { ["axes"] = new long[] { -1 } }, opset: 11));
        Assert.Equal([3L, 4], Shape("Squeeze", [F(1, 3, 1, 4)]));
        Assert.Equal([3L, 1, 4], Shape("Squeeze", [F(1, 3, 1, 4), I(0)]));
        Assert.Throws<ShapeInferenceException>(() => Shape("Squeeze", [F(1, 3), I(1)]));
    }

    [Fact]
    public void SplitConcatGatherSlice()
    {
        var parts = Infer("Split", [F(8, 1024, 2304), I(768, 768, 768)], new() { ["axis"] = 2L }, outputs: 3, opset: 13);
        Assert.All(parts, p => Assert.Equal([8L, 1024, 768], p.Shape));
        var uneven = Infer("Split", [F(10)], new() { ["num_outputs"] = 3L }, outputs: 3, opset: 18);
        Assert.Equal([4L, 4, 2], uneven.Select(p => p.Shape[0]));
        Assert.Equal([2L, 7], Shape("Concat", [F(2, 3), F(2, 4)], new() { ["axis"] = -1L }));
        Assert.Equal([8L, 1024, 768], Shape("Gather", [F(50257, 768), new TensorInfo("int64", [8, 1024])]));
        Assert.Equal([2L, 5], Shape("Gather", [F(2, 4, 5), new TensorInfo("int64", [])], new() { ["axis"] = 1L }));
        // Slice 1:-1 on 10, step 2 → 1,3,5,7: 4; negative step from the end to the start: 9,6,3,0: 4
        Assert.Equal([4L], Shape("Slice", [F(10), I(1), I(-1), I(0), I(2)]));
        Assert.Equal([4L], Shape("Slice", [F(10), I(-1), I(long.MinValue), I(0), I(-3)]));
        Assert.Equal([2L, 0], Shape("Slice", [F(2, 5), I(4), I(2), I(1)]));
        Assert.Equal([3L, 2], Shape("Slice", [F(3, 8)], new() { ["starts"] = new long[] { 6 }, ["ends"] = new long[] { long.MaxValue },
            ["axes"] = new long[] { 1 } }, opset: 9));
    }

    [Fact]
    public void ConstantPropagation_ThroughShapeArithmetic()
    {
        var shape = Infer("Shape", [F(6, 2, 3, 4)])[0];
        Assert.Equal([6L, 2, 3, 4], shape.Value!.Ints!);
        var n = Infer("Gather", [shape, new TensorInfo("int64", [], ConstantValue.FromInts([0]))])[0];
        Assert.Empty(n.Shape);
        Assert.Equal([6L], n.Value!.Ints!);
        var n1 = Infer("Unsqueeze", [n, I(0)], opset: 13)[0];
        var rest = Infer("Slice", [shape, I(1), I(long.MaxValue)])[0];
        Assert.Equal([2L, 3, 4], rest.Value!.Ints!);
        var prod = Infer("ReduceProd", [rest], new() { ["keepdims"] = 1L })[0];
        Assert.Equal([24L], prod.Value!.Ints!);
        var target = Infer("Concat", [n1, prod], new() { ["axis"] = 0L })[0];
        Assert.Equal([6L, 24], target.Value!.Ints!);
        Assert.Equal([6L, 24], Shape("Reshape", [F(6, 2, 3, 4), target]));
        // Arithmetic on shape values stays exact in 64 bits.
        var big = Infer("Add", [I(long.MaxValue - 1), I(1)])[0];
        Assert.Equal([long.MaxValue], big.Value!.Ints!);
        var div = Infer("Div", [I(24), I(5)])[0];
        Assert.Equal([4L], div.Value!.Ints!);
        var range = Infer("Range", [new TensorInfo("int64", [], ConstantValue.FromInts([0])), new TensorInfo("int64", [],
            ConstantValue.FromInts([10])), new TensorInfo("int64", [], ConstantValue.FromInts([3]))])[0];
        Assert.Equal([0L, 3, 6, 9], range.Value!.Ints!);
        var ones = Infer("ConstantOfShape", [I(2, 3)], new() { ["value"] = new TensorInfo("int64", [1], ConstantValue.FromInts([1])) })[0];
        Assert.Equal([2L, 3], ones.Shape);
        Assert.Equal(Enumerable.Repeat(1L, 6), ones.Value!.Ints!);
        var mask = Infer("Where", [new TensorInfo("bool", [3], ConstantValue.FromInts([1, 0, 1])), I(7, 7, 7), I(0, 0, 0)])[0];
        Assert.Equal([7L, 0, 7], mask.Value!.Ints!);
        var cast = Infer("Cast", [new TensorInfo("float32", [2], ConstantValue.FromReals([2.7, -1.5]))], new() { ["to"] = 7L })[0];
        Assert.Equal([2L, -1], cast.Value!.Ints!);
        Assert.Equal([4L, 6], Shape("Expand", [F(1, 6), I(4, 1)]));
    }

    [Fact]
    public void NormalizationLossDropoutAndReductions()
    {
        var bn = Infer("BatchNormalization", [F(4, 16, 8, 8), F(16), F(16), F(16), F(16)], new() { ["training_mode"] = 1L }, outputs: 3);
        Assert.Equal([4L, 16, 8, 8], bn[0].Shape);
        Assert.Equal([16L], bn[1].Shape);
        Assert.Throws<ShapeInferenceException>(() => Infer("BatchNormalization", [F(4, 16, 8, 8), F(15), F(16), F(16), F(16)]));
        var ln = Infer("LayerNormalization", [F(2, 5, 8), F(8), F(8)], new() { ["axis"] = -1L }, outputs: 3);
        Assert.Equal([2L, 5, 1], ln[1].Shape);
        Assert.Empty(Shape("SoftmaxCrossEntropyLoss", [F(8, 1000), new TensorInfo("int64", [8])]));
        Assert.Equal([8L, 256, 256], Shape("SoftmaxCrossEntropyLoss", [F(8, 3, 256, 256), new TensorInfo("int64", [8, 256, 256])],
            new() { ["reduction"] = "none" }));
        Assert.Throws<ShapeInferenceException>(() => Shape("SoftmaxCrossEntropyLoss", [F(8, 1000), new TensorInfo("int64", [9])]));
        var dropout = Infer("Dropout", [F(3, 4)], outputs: 2);
        Assert.Equal("bool", dropout[1].DType);
        Assert.Equal([8L, 1024, 1], Shape("ReduceMean", [F(8, 1024, 768)], new() { ["axes"] = new long[] { -1 } }));
        Assert.Equal([8L, 1024], Shape("ReduceSum", [F(8, 1024, 768), I(-1)], new() { ["keepdims"] = 0L }, opset: 13));
        Assert.Equal([8L, 1024, 768], Shape("ReduceSum", [F(8, 1024, 768)], new() { ["noop_with_empty_axes"] = 1L }, opset: 13));
        Assert.Equal([3L, 1], Shape("ArgMax", [F(3, 7)], new() { ["axis"] = 1L }));
        Assert.Equal([2L, 3, 10, 12], Shape("Pad", [F(2, 3, 8, 8), I(0, 0, 1, 2, 0, 0, 1, 2)], opset: 13));
        Assert.Equal([1L, 3, 16, 16], Shape("Resize", [F(1, 3, 8, 8), null, new TensorInfo("float32", [4], ConstantValue.FromReals([1, 1,
            2, 2]))], opset: 13));
        Assert.Equal([1L, 3, 5, 7], Shape("Resize", [F(1, 3, 8, 8), null, null, I(1, 3, 5, 7)], opset: 13));
        Assert.Equal([4L, 6], Shape("Tile", [F(2, 3), I(2, 2)]));
    }

    [Fact]
    public void UnsupportedAndBadShapes()
    {
        Assert.False(ShapeInference.IsSupported("NonZero"));
        Assert.True(ShapeInference.IsSupported("HardSwish"));
        Assert.Contains("Trilu", ShapeInference.SupportedOps);
        Assert.Throws<ShapeInferenceException>(() => Infer("NonZero", [F(3)]));
        var e = Assert.Throws<ShapeInferenceException>(() => ShapeMath.Validate([2, -1], "x"));
        Assert.Contains("negative", e.Message);
        e = Assert.Throws<ShapeInferenceException>(() => ShapeMath.Validate([1L << 40], "x"));
        Assert.Contains("2^32", e.Message);
        Assert.Throws<ShapeInferenceException>(() => ShapeMath.Bytes([1L << 32, 1L << 32], "float32"));
        Assert.Equal(5, ShapeMath.Bytes([9], "int4")); // two 4-bit elements per byte, rounded up
    }
}
