namespace Recompute.Tests.Runtime.Ops;

/// <summary>Every operator's backward against finite differences, on small shapes (broadcasting included).</summary>
public class OperatorGradientTests
{
    private static Operand F(params long[] shape) => new(shape);
    private static Dictionary<string, object> A(params (string, object)[] a) => Net.A(a);

    [Theory]
    [InlineData("Add")]
    [InlineData("Sub")]
    [InlineData("Mul")]
    public void BroadcastingBinaryOps(string op)
    {
        GradientCheck.Check(op, [F(2, 3, 4), F(2, 3, 4)], [2, 3, 4]);
        GradientCheck.Check(op, [F(2, 3, 4), F(3, 1)], [2, 3, 4]);
        GradientCheck.Check(op, [F(4), F(2, 1, 4)], [2, 1, 4]);
    }

    [Fact]
    public void DivAndPow()
    {
        var positive = new Operand([3, 1], Values: [1.5f, 2f, 0.7f]);
        GradientCheck.Check("Div", [F(2, 3, 2), positive], [2, 3, 2]);
        GradientCheck.Check("Pow", [new Operand([2, 3], Values: [0.5f, 1.2f, 2f, 0.8f, 1.7f, 1.1f]), new Operand([], Values: [2f])], [2, 3]);
        GradientCheck.Check("Pow", [new Operand([2, 2], Values: [0.5f, 1.2f, 2f, 0.8f]), new Operand([2], Values: [1.5f, 0.5f])], [2, 2]);
    }

    [Theory]
    [InlineData("Relu")]
    [InlineData("Erf")]
    [InlineData("Tanh")]
    [InlineData("Sigmoid")]
    [InlineData("Exp")]
    [InlineData("Neg")]
    public void UnaryOps(string op) => GradientCheck.Check(op, [F(3, 5)], [3, 5], eps: 1e-3);

    [Fact]
    public void SqrtAndClip()
    {
        GradientCheck.Check("Sqrt", [new Operand([4], Values: [0.5f, 1f, 2f, 4f])], [4]);
        GradientCheck.Check("Clip", [F(3, 4), new Operand([], Values: [-0.5f]), new Operand([], Values: [0.6f])], [3, 4], eps: 1e-3);
    }

    [Fact]
    public void MatMulWithBatchesAndBroadcast()
    {
        GradientCheck.Check("MatMul", [F(2, 3, 4), F(4, 5)], [2, 3, 5]);
        GradientCheck.Check("MatMul", [F(2, 2, 3, 4), F(2, 2, 4, 2)], [2, 2, 3, 2]);
        GradientCheck.Check("MatMul", [F(3, 4), F(2, 4, 2)], [2, 3, 2]);
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(1L, 0L)]
    [InlineData(0L, 1L)]
    [InlineData(1L, 1L)]
    public void GemmWithTransposesAndBias(long transA, long transB)
    {
        long[] a = transA == 1 ? [4, 3] : [3, 4], b = transB == 1 ? [5, 4] : [4, 5];
        GradientCheck.Check("Gemm", [F(a), F(b), F(5)], [3, 5], A(("transA", transA), ("transB", transB), ("alpha", 0.5), ("beta", 2.0)));
    }

    [Fact]
    public void ConvWithPaddingStrideDilationAndGroups()
    {
        GradientCheck.Check("Conv", [F(2, 2, 5, 5), F(3, 2, 3, 3), F(3)], [2, 3, 5, 5], A(("pads", new long[] { 1, 1, 1, 1 })));
        GradientCheck.Check("Conv", [F(1, 2, 6, 6), F(2, 2, 3, 3)], [1, 2, 2, 2], A(("strides", new long[] { 2, 2 }), ("dilations",
            new long[] { 2, 2 })));
        GradientCheck.Check("Conv", [F(1, 4, 4, 4), F(6, 2, 1, 1)], [1, 6, 4, 4], A(("group", 2L)));
    }

    [Fact]
    public void ConvTransposeUpsampling()
    {
        GradientCheck.Check("ConvTranspose", [F(1, 3, 3, 3), F(3, 2, 2, 2), F(2)], [1, 2, 6, 6], A(("strides", new long[] { 2, 2 })));
        GradientCheck.Check("ConvTranspose", [F(2, 2, 3, 3), F(2, 2, 3, 3)], [2, 2, 5, 5], A(("strides", new long[] { 2, 2 }), ("pads",
            new long[] { 1, 1, 1, 1 })));
    }

    [Fact]
    public void Pooling()
    {
        GradientCheck.Check("MaxPool", [F(1, 2, 4, 4)], [1, 2, 2, 2], A(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2,
            2 })), eps: 1e-3);
        GradientCheck.Check("MaxPool", [F(1, 1, 5, 5)], [1, 1, 3, 3], A(("kernel_shape", new long[] { 3, 3 }), ("strides", new long[] { 2,
            2 }), ("pads", new long[] { 1, 1, 1, 1 })), eps: 1e-3);
        GradientCheck.Check("AveragePool", [F(1, 2, 5, 5)], [1, 2, 3, 3], A(("kernel_shape", new long[] { 3, 3 }), ("strides",
            new long[] { 2, 2 }), ("pads", new long[] { 1, 1, 1, 1 })));
        GradientCheck.Check("AveragePool", [F(1, 1, 4, 4)], [1, 1, 2, 2], A(("kernel_shape", new long[] { 3, 3 }), ("strides",
            new long[] { 2, 2 }), ("pads", new long[] { 1, 1, 1, 1 }), ("count_include_pad", 1L)));
        GradientCheck.Check("GlobalAveragePool", [F(2, 3, 3, 3)], [2, 3, 1, 1]);
    }

    [Fact]
    public void BatchNormalizationTraining()
    {
        GradientCheck.Check("BatchNormalization", [F(3, 2, 2, 2), F(2), F(2), F(2), new Operand([2], Values: [1f, 1f])], [3, 2, 2, 2],
            A(("epsilon", 1e-5)), tolerance: 5e-3);
        GradientCheck.Check("BatchNormalization", [F(4, 3), F(3), F(3), F(3), new Operand([3], Values: [1f, 1f, 1f])], [4, 3], tolerance: 5e-3);
    }

    [Fact]
    public void Reductions()
    {
        GradientCheck.Check("ReduceMean", [F(2, 3, 4)], [2, 3, 1], A(("axes", new long[] { -1 })));
        GradientCheck.Check("ReduceMean", [F(2, 3, 4)], [3], A(("axes", new long[] { 0, 2 }), ("keepdims", 0L)));
        GradientCheck.Check("ReduceSum", [F(2, 3), new Operand([1], "int64", [1f])], [2, 1]);
        GradientCheck.Check("ReduceMean", [F(2, 3)], [1, 1]);
    }

    [Fact]
    public void SoftmaxAndCrossEntropy()
    {
        GradientCheck.Check("Softmax", [F(2, 3, 4)], [2, 3, 4], A(("axis", -1L)));
        GradientCheck.Check("Softmax", [F(2, 3, 4)], [2, 3, 4], A(("axis", 1L)));
        GradientCheck.Check("SoftmaxCrossEntropyLoss", [F(4, 5), new Operand([4], "int64", [0f, 4f, 2f, 2f])], []);
        GradientCheck.Check("SoftmaxCrossEntropyLoss", [F(2, 3, 2), new Operand([2, 2], "int64", [0f, 1f, 2f, 1f])], [], A(("reduction", "sum")));
        GradientCheck.Check("SoftmaxCrossEntropyLoss", [F(3, 4), new Operand([3], "int64", [1f, 3f, 0f])], [3], A(("reduction", "none")));
        GradientCheck.Check("SoftmaxCrossEntropyLoss", [F(3, 4), new Operand([3], "int64", [1f, 3f, 0f])], [], A(("ignore_index", 3L)));
    }

    [Fact]
    public void ShapeOps()
    {
        GradientCheck.Check("Reshape", [F(2, 6), new Operand([3], "int64", [3f, 2f, 2f])], [3, 2, 2]);
        GradientCheck.Check("Flatten", [F(2, 3, 2)], [2, 6], A(("axis", 1L)));
        GradientCheck.Check("Transpose", [F(2, 3, 4)], [4, 2, 3], A(("perm", new long[] { 2, 0, 1 })));
        GradientCheck.Check("Transpose", [F(2, 3)], [3, 2]);
        GradientCheck.Check("Split", [F(2, 6)], [2, 2], A(("axis", 1L)), outputIndex: 1);
        GradientCheck.Check("Split", [F(5, 2), new Operand([2], "int64", [2f, 3f])], [3, 2], A(("axis", 0L)), outputIndex: 1);
        GradientCheck.Check("Concat", [F(2, 1, 3), F(2, 2, 3)], [2, 3, 3], A(("axis", 1L)));
        GradientCheck.Check("Gather", [F(5, 3), new Operand([2, 2], "int64", [4f, 0f, 4f, -1f])], [2, 2, 3]);
        GradientCheck.Check("Gather", [F(2, 4), new Operand([3], "int64", [3f, 1f, 1f])], [2, 3], A(("axis", 1L)));
        GradientCheck.Check("Cast", [F(2, 2)], [2, 2], A(("to", 1L)));
    }

    [Fact]
    public void MaskingOps()
    {
        GradientCheck.Check("Where", [new Operand([2, 3], "bool", [1f, 0f, 1f, 0f, 0f, 1f]), F(2, 3), F(3)], [2, 3]);
        GradientCheck.Check("Trilu", [F(2, 3, 3)], [2, 3, 3], A(("upper", 0L)));
        GradientCheck.Check("Trilu", [F(3, 4), new Operand([], "int64", [1f])], [3, 4]);
        // Training mode (operand 2 true): the mask regenerated, and the mask read from output 1 as the memory model keeps it.
        GradientCheck.Check("Dropout", [F(4, 8), new Operand([], Values: [0.3f]), new Operand([], "bool", [1f])], [4, 8]);
        GradientCheck.Check("Dropout", [F(4, 8), new Operand([], Values: [0.3f]), new Operand([], "bool", [1f])], [4, 8],
            otherOutputs: [(1, [4, 8])]);
    }

    /// <summary>The fused ops the ONNX importer plans the decomposed forms of an export as (FusedPatterns).</summary>
    [Fact]
    public void FusedOps()
    {
        GradientCheck.Check("Gelu", [F(3, 5)], [3, 5]);
        GradientCheck.Check("Gelu", [F(3, 5)], [3, 5], A(("approximate", "tanh")));
        var ln = A(("axis", -1L), ("epsilon", 1e-5));
        // Statistics recomputed from X (a LayerNormalization without its Mean and InvStdDev outputs) ...
        GradientCheck.Check("LayerNormalization", [F(2, 3, 6), F(6), F(6)], [2, 3, 6], ln, eps: 1e-3);
        // ... and read from outputs 1 and 2, as the memory model keeps them.
        GradientCheck.Check("LayerNormalization", [F(2, 3, 6), F(6), F(6)], [2, 3, 6], ln, eps: 1e-3, otherOutputs: [(1, [2, 3, 1]), (2, [2, 3, 1])]);
        // Normalised over the last two axes.
        GradientCheck.Check("LayerNormalization", [F(2, 3, 4), F(3, 4), F(3, 4)], [2, 3, 4], A(("axis", 1L)), eps: 1e-3);
    }
}
