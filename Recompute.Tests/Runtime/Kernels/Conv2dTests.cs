using Recompute.Runtime.Kernels;

namespace Recompute.Tests.Runtime.Kernels;

public class Conv2dTests
{
    // The kernels are internal: the theory takes a case's name and looks its shape up here.
    private static readonly Dictionary<string, Conv2dShape> Cases = new()
    {
        { "3x3 pad1", Conv2dShape.Square(2, 3, 7, 4, 3, pad: 1) },
        { "pointwise", Conv2dShape.Square(2, 5, 6, 7, 1) },
        { "1x1 stride2", Conv2dShape.Square(1, 4, 9, 3, 1, stride: 2) },
        { "7x7/2 pad3", Conv2dShape.Square(1, 3, 15, 5, 7, stride: 2, pad: 3) },
        { "asymmetric", new Conv2dShape(2, 4, 8, 11, 6, 2, 3, strideH: 2, strideW: 1, padTop: 1, padLeft: 0, padBottom: 0, padRight: 2) },
        { "dilated", Conv2dShape.Square(1, 2, 10, 3, 3, pad: 2, dilation: 2) },
        { "groups 2", Conv2dShape.Square(2, 4, 6, 6, 3, pad: 1, groups: 2) },
        { "depthwise", Conv2dShape.Square(2, 5, 7, 5, 3, pad: 1, groups: 5) },
        { "depthwise stride2 dilated", Conv2dShape.Square(1, 3, 9, 3, 3, stride: 2, pad: 2, dilation: 2, groups: 3) },
        { "depthwise dilated asymmetric wide", new Conv2dShape(2, 3, 9, 37, 3, 3, 2, 1, 1, padTop: 2, padLeft: 0, padBottom: 1,
            padRight: 3, dilationH: 2, dilationW: 3, groups: 3) },
        { "depthwise multiplier 2", Conv2dShape.Square(1, 3, 6, 6, 3, pad: 1, groups: 3) },
        { "depthwise 5x5 two vectors per row", Conv2dShape.Square(2, 4, 19, 4, 5, pad: 2, groups: 4) },
        { "depthwise padding wider than the kernel", new Conv2dShape(1, 2, 6, 20, 2, 3, 3, 1, 1, padTop: 3, padLeft: 4, padBottom: 3,
            padRight: 5, groups: 2) },
        { "kernel larger than stride gap", Conv2dShape.Square(1, 2, 5, 2, 2, stride: 3) },
        { "wide", Conv2dShape.Square(1, 16, 12, 40, 3, pad: 1) },
        // Large enough per image for parallel images and per-image partial weight gradients.
        { "groups 2, images in parallel", new Conv2dShape(3, 32, 24, 20, 40, 3, 3, 1, 1, padTop: 1, padLeft: 1, padBottom: 1,
            padRight: 1, groups: 2) },
        { "stride 2 vector gather", new Conv2dShape(1, 2, 5, 77, 3, 3, 7, strideH: 2, strideW: 2, padTop: 1, padLeft: 3, padBottom: 1, padRight: 3) },
        // A shallow patch over a tall output: im2col, the GEMMs and col2im run a block of output rows at a time.
        { "stem, blocks of output rows", Conv2dShape.Square(2, 3, 160, 8, 7, stride: 2, pad: 3) },
    };

    [Fact]
    public void ShallowPatchesOverTallOutputsAreUnfoldedInBlocksOfRows()
    {
        var stem = Cases["stem, blocks of output rows"];
        int rows = Conv2d.OutputRowsPerBlock(stem);
        Assert.InRange(rows, 1, stem.OutHeight - 1);
        Assert.Equal(0, rows * stem.OutWidth % 32);
        Assert.Equal(Cases["wide"].OutHeight, Conv2d.OutputRowsPerBlock(Cases["wide"]));
        Assert.Equal(Cases["pointwise"].OutHeight, Conv2d.OutputRowsPerBlock(Cases["pointwise"]));
    }

    public static TheoryData<string> Shapes => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardAndBothBackwardsMatchNaiveLoops(string name)
    {
        var s = Cases[name];
        float[] x = GemmTests.Random((int)s.InputLength, 1), w = GemmTests.Random((int)s.WeightLength, 2);
        float[] bias = GemmTests.Random(s.OutChannels, 3), gy = GemmTests.Random((int)s.OutputLength, 4);

        var expected = new float[s.OutputLength];
        ReferenceConv2d.Forward(s, x, w, bias, expected);
        var actual = new float[s.OutputLength];
        Conv2d.Forward(s, x, w, bias, actual);
        AssertClose(expected, actual, name + " forward");

        var expectedGx = new float[s.InputLength];
        ReferenceConv2d.BackwardData(s, gy, w, expectedGx);
        var gx = new float[s.InputLength];
        Array.Fill(gx, float.NaN); // overwritten, not read
        Conv2d.BackwardData(s, gy, w, gx);
        AssertClose(expectedGx, gx, name + " backward data");

        var expectedGw = new float[s.WeightLength];
        var expectedGb = new float[s.OutChannels];
        ReferenceConv2d.BackwardWeights(s, x, gy, expectedGw, expectedGb);
        var gw = new float[s.WeightLength];
        var gb = new float[s.OutChannels];
        Array.Fill(gw, float.NaN);
        Conv2d.BackwardWeights(s, x, gy, gw, gb);
        AssertClose(expectedGw, gw, name + " backward weights");
        AssertClose(expectedGb, gb, name + " backward bias");

        // Accumulating variants add onto what is there.
        var acc = (float[])gx.Clone();
        Conv2d.BackwardData(s, gy, w, acc, accumulate: true);
        AssertClose(expectedGx.Select(v => 2 * v).ToArray(), acc, name + " accumulated data");
        var accW = (float[])gw.Clone();
        var accB = (float[])gb.Clone();
        Conv2d.BackwardWeights(s, x, gy, accW, accB, accumulate: true);
        AssertClose(expectedGw.Select(v => 2 * v).ToArray(), accW, name + " accumulated weights");
        AssertClose(expectedGb.Select(v => 2 * v).ToArray(), accB, name + " accumulated bias");
    }

    [Fact]
    public void BackwardDataIsTheAdjointOfForward()
    {
        // <conv(x), g> == <x, conv_backward_data(g)> for any x, g: checks col2im against im2col on a strided,
        // padded, dilated, grouped shape.
        var s = new Conv2dShape(2, 4, 9, 8, 6, 3, 2, strideH: 2, strideW: 3, padTop: 2, padLeft: 1, padBottom: 1,
            padRight: 0, dilationH: 2, dilationW: 1, groups: 2);
        float[] x = GemmTests.Random((int)s.InputLength, 5), w = GemmTests.Random((int)s.WeightLength, 6);
        float[] g = GemmTests.Random((int)s.OutputLength, 7);
        var y = new float[s.OutputLength];
        Conv2d.Forward(s, x, w, ReadOnlySpan<float>.Empty, y);
        var gx = new float[s.InputLength];
        Conv2d.BackwardData(s, g, w, gx);
        double left = 0, right = 0;
        for (int i = 0; i < y.Length; i++) left += (double)y[i] * g[i];
        for (int i = 0; i < x.Length; i++) right += (double)x[i] * gx[i];
        Assert.True(Math.Abs(left - right) < 1e-4 * Math.Max(1, Math.Abs(left)), $"{left} vs {right}");
    }

    [Theory]
    [InlineData("dense")]
    [InlineData("depthwise")]
    [InlineData("blocks of rows")]
    [InlineData("batched")]
    public void ResultsAreBitwiseIdenticalAcrossThreadCounts(string shape)
    {
        // Above the thresholds for parallel images (dense, blocks of rows), parallel planes (depthwise) and one
        // split GEMM over the batch (batched: planes under 256 pixels).
        var s = shape switch
        {
            "depthwise" => Conv2dShape.Square(2, 48, 50, 48, 3, pad: 1, groups: 48),
            "blocks of rows" => Cases["stem, blocks of output rows"],
            "batched" => Conv2dShape.Square(4, 64, 12, 96, 3, pad: 1),
            _ => Conv2dShape.Square(2, 32, 20, 48, 3, pad: 1),
        };
        float[] x = GemmTests.Random((int)s.InputLength, 8), w = GemmTests.Random((int)s.WeightLength, 9);
        float[] gy = GemmTests.Random((int)s.OutputLength, 10);
        int saved = KernelOptions.MaxDegreeOfParallelism;
        try
        {
            float[][] Run(int threads)
            {
                KernelOptions.MaxDegreeOfParallelism = threads;
                var y = new float[s.OutputLength];
                var gx = new float[s.InputLength];
                var gw = new float[s.WeightLength];
                Conv2d.Forward(s, x, w, ReadOnlySpan<float>.Empty, y);
                Conv2d.BackwardData(s, gy, w, gx);
                Conv2d.BackwardWeights(s, x, gy, gw, Span<float>.Empty);
                return new[] { y, gx, gw };
            }
            var one = Run(1);
            foreach (int threads in new[] { 2, 4 })
            {
                var other = Run(threads);
                for (int i = 0; i < one.Length; i++)
                    Assert.True(one[i].AsSpan().SequenceEqual(other[i]), $"output {i} differs with {threads} threads");
            }
        }
        finally
        {
            KernelOptions.MaxDegreeOfParallelism = saved;
        }
    }

    [Theory]
    [InlineData(1, 1, 0, 0, 1)]
    [InlineData(2, 2, 1, 1, 1)]
    [InlineData(3, 2, 0, 1, 1)]
    [InlineData(1, 3, 1, 0, 2)]
    public void TransposedConvolutionMatchesItsScatterDefinition(int groups, int stride, int pad, int outputPad,
        int dilation)
    {
        int batch = 2, inChannels = 2 * groups, outChannels = 3 * groups, inH = 4, inW = 5, k = 3;
        var s = ConvTranspose2d.Shape(batch, inChannels, inH, inW, outChannels, k, k, stride, stride, pad, pad, pad,
            pad, outputPad, outputPad, dilation, dilation, groups);
        int outH = s.InHeight, outW = s.InWidth;
        Assert.Equal((inH - 1) * stride - 2 * pad + dilation * (k - 1) + 1 + outputPad, outH);

        float[] x = GemmTests.Random(batch * inChannels * inH * inW, 11);
        float[] w = GemmTests.Random(inChannels * (outChannels / groups) * k * k, 12);
        float[] bias = GemmTests.Random(outChannels, 13);
        // ONNX ConvTranspose: every input pixel scatters weight[c, o, kh, kw] into y[o, ih*s - pad + kh*d, ...].
        var expected = new double[batch * outChannels * outH * outW];
        int cg = inChannels / groups, og = outChannels / groups;
        for (int n = 0; n < batch; n++)
            for (int c = 0; c < inChannels; c++)
                for (int ih = 0; ih < inH; ih++)
                    for (int iw = 0; iw < inW; iw++)
                        for (int o = 0; o < og; o++)
                            for (int kh = 0; kh < k; kh++)
                                for (int kw = 0; kw < k; kw++)
                                {
                                    int oy = ih * stride - pad + kh * dilation, ox = iw * stride - pad + kw * dilation;
                                    if (oy < 0 || oy >= outH || ox < 0 || ox >= outW) continue;
                                    int oc = c / cg * og + o;
                                    expected[((n * outChannels + oc) * outH + oy) * outW + ox] +=
                                        (double)x[((n * inChannels + c) * inH + ih) * inW + iw] *
                                        w[((c * og + o) * k + kh) * k + kw];
                                }
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < outChannels; o++)
                for (int i = 0; i < outH * outW; i++)
                    expected[(n * outChannels + o) * outH * outW + i] += bias[o];

        var y = new float[expected.Length];
        ConvTranspose2d.Forward(s, x, w, bias, y);
        AssertClose(expected.Select(v => (float)v).ToArray(), y, "convT forward");

        // Its backward passes are those of the equivalent convolution with the roles of input and output swapped;
        // check them through the adjoint identity and the naive convolution.
        float[] gy = GemmTests.Random(y.Length, 14);
        var gx = new float[x.Length];
        ConvTranspose2d.BackwardData(s, gy, w, gx);
        var expectedGx = new float[x.Length];
        ReferenceConv2d.Forward(s, gy, w, ReadOnlySpan<float>.Empty, expectedGx);
        AssertClose(expectedGx, gx, "convT backward data");
        var gw = new float[w.Length];
        var gb = new float[outChannels];
        ConvTranspose2d.BackwardWeights(s, x, gy, gw, gb);
        var expectedGw = new float[w.Length];
        ReferenceConv2d.BackwardWeights(s, gy, x, expectedGw, Span<float>.Empty);
        AssertClose(expectedGw, gw, "convT backward weights");
        for (int o = 0; o < outChannels; o++)
        {
            double sum = 0;
            for (int n = 0; n < batch; n++)
                for (int i = 0; i < outH * outW; i++) sum += gy[(n * outChannels + o) * outH * outW + i];
            Assert.True(Math.Abs(sum - gb[o]) < 1e-4, $"bias {o}: {gb[o]} vs {sum}");
        }
    }

    [Fact]
    public void InvalidShapesAreRejectedWithTheProblem()
    {
        var groups = Assert.Throws<ArgumentException>(() => Conv2dShape.Square(1, 3, 8, 4, 3, groups: 2));
        Assert.Contains("groups", groups.Message);
        var fit = Assert.Throws<ArgumentException>(() => Conv2dShape.Square(1, 3, 2, 4, 5));
        Assert.Contains("does not fit", fit.Message);
        var s = Conv2dShape.Square(1, 2, 4, 2, 3);
        var length = Assert.Throws<ArgumentException>(() =>
            Conv2d.Forward(s, new float[5], new float[s.WeightLength], ReadOnlySpan<float>.Empty, new float[s.OutputLength]));
        Assert.Contains("input has 5 elements", length.Message);
    }

    internal static void AssertClose(float[] expected, float[] actual, string what, float relative = 1e-4f)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = 1e-3f;
        foreach (float v in expected) scale = MathF.Max(scale, MathF.Abs(v));
        for (int i = 0; i < expected.Length; i++)
            if (!(MathF.Abs(expected[i] - actual[i]) <= relative * scale))
                Assert.Fail($"{what}: element {i} is {actual[i]}, expected {expected[i]}");
    }
}
