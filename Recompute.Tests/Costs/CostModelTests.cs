using Recompute.Planner.Costs;

namespace Recompute.Tests.Costs;

public class CostModelTests
{
    private static double Flops(string op, TensorInfo?[] inputs, Dictionary<string, object>? attrs = null, int outputs = 1, int index = 0)
    {
        attrs ??= [];
        var outs = ShapeInference.Infer(new OpContext { OpType = op, Inputs = inputs, Attributes = attrs, OutputCount = outputs });
        return CostModel.ForwardFlops(op, attrs, inputs, outs, index);
    }

    private static TensorInfo F(params long[] shape) => new("float32", shape);

    [Fact]
    public void ConvolutionsAndMatrixProducts_CountTwoFlopsPerMultiplyAdd()
    {
        // Conv 3→8 channels, 3×3 kernel, 4×4 output, batch 2: 2·(2·8·4·4)·(3·3·3) + bias 2·8·4·4
        Assert.Equal(2.0 * (2 * 8 * 16) * 27 + 2 * 8 * 16, Flops("Conv", [F(2, 3, 6, 6), F(8, 3, 3, 3), F(8)]));
        // grouped: weights [8, 1, 3, 3], group 8 (depthwise): 2·(1·8·4·4)·(1·9)
        Assert.Equal(2.0 * 8 * 16 * 9, Flops("Conv", [F(1, 8, 6, 6), F(8, 1, 3, 3)], new() { ["group"] = 8L }));
        // ConvTranspose 4→2 channels, 2×2 kernel, stride 2, input 3×3: 2·(1·4·3·3)·(2·2·2)
        Assert.Equal(2.0 * 4 * 9 * 8, Flops("ConvTranspose", [F(1, 4, 3, 3), F(4, 2, 2, 2)], new() { ["strides"] = new long[] { 2, 2 } }));
        // batched MatMul [2,3,5]×[5,7]: 2·2·3·7·5
        Assert.Equal(2.0 * 2 * 3 * 7 * 5, Flops("MatMul", [F(2, 3, 5), F(5, 7)]));
        // Gemm with transA: A [5,3] → M=3, K=5; B [5,4]: 2·3·4·5 + 3·4 for C
        Assert.Equal(2.0 * 3 * 4 * 5 + 12, Flops("Gemm", [F(5, 3), F(5, 4), F(4)], new() { ["transA"] = 1L }));
    }

    [Fact]
    public void ElementwiseReductionsPoolsAndNormalizations()
    {
        Assert.Equal(24, Flops("Relu", [F(2, 3, 4)]));
        Assert.Equal(24, Flops("Add", [F(2, 3, 4), F(4)]));
        Assert.Equal(24, Flops("ReduceMean", [F(2, 3, 4)], new() { ["axes"] = new long[] { -1 } }));
        Assert.Equal(3 * 24, Flops("Softmax", [F(2, 3, 4)]));
        Assert.Equal(5 * 2 * 4 * 9, Flops("BatchNormalization", [F(2, 4, 3, 3), F(4), F(4), F(4), F(4)], outputs: 3));
        Assert.Equal(4, Flops("BatchNormalization", [F(2, 4, 3, 3), F(4), F(4), F(4), F(4)], outputs: 3, index: 1));
        // 2×2 max pool with stride 2 on 4×4: 4 outputs · 4 window elements
        Assert.Equal(16, Flops("MaxPool", [F(1, 1, 4, 4)], new() { ["kernel_shape"] = new long[] { 2, 2 }, ["strides"] = new long[] { 2, 2 } }));
        Assert.Equal(4 * 10 * 4, Flops("SoftmaxCrossEntropyLoss", [F(4, 10), new TensorInfo("int64", [4])]));
        Assert.Equal(2 * 16, Flops("Transpose", [F(2, 16)]));
    }
}
