using System.Numerics.Tensors;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// Geometry of 2-D max/average pooling over NCHW tensors. Output size per axis is
/// floor-or-ceil((in + padBegin + padEnd − dilation·(kernel−1) − 1) / stride) + 1; with ceil mode a last window that
/// would start in the end padding is dropped (as PyTorch and ONNX do).
/// </summary>
internal readonly record struct Pool2dShape
{
    public Pool2dShape(int batch, int channels, int inHeight, int inWidth, int kernelHeight, int kernelWidth,
        int strideH, int strideW, int padTop = 0, int padLeft = 0, int padBottom = 0, int padRight = 0,
        int dilationH = 1, int dilationW = 1, bool ceilMode = false)
    {
        if (batch < 1 || channels < 1 || inHeight < 1 || inWidth < 1 || kernelHeight < 1 || kernelWidth < 1 ||
            strideH < 1 || strideW < 1 || dilationH < 1 || dilationW < 1)
            throw new ArgumentException("Invalid pooling shape: sizes, kernel, strides and dilations must be at least 1.");
        if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0)
            throw new ArgumentException("Invalid pooling shape: pads must be non-negative.");
        Batch = batch; Channels = channels; InHeight = inHeight; InWidth = inWidth;
        KernelHeight = kernelHeight; KernelWidth = kernelWidth; StrideH = strideH; StrideW = strideW;
        PadTop = padTop; PadLeft = padLeft; PadBottom = padBottom; PadRight = padRight;
        DilationH = dilationH; DilationW = dilationW; CeilMode = ceilMode;
        OutHeight = OutSize(inHeight, kernelHeight, strideH, padTop, padBottom, dilationH, ceilMode);
        OutWidth = OutSize(inWidth, kernelWidth, strideW, padLeft, padRight, dilationW, ceilMode);
    }

    private static int OutSize(int size, int kernel, int stride, int padBegin, int padEnd, int dilation, bool ceil)
    {
        int span = size + padBegin + padEnd - dilation * (kernel - 1) - 1;
        if (span < 0)
            throw new ArgumentException($"Invalid pooling shape: the kernel does not fit the padded input ({size}).");
        int outSize = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
        if (ceil && (outSize - 1) * stride >= size + padBegin)
            outSize--;
        return outSize;
    }

    public int Batch { get; }
    public int Channels { get; }
    public int InHeight { get; }
    public int InWidth { get; }
    public int KernelHeight { get; }
    public int KernelWidth { get; }
    public int StrideH { get; }
    public int StrideW { get; }
    public int PadTop { get; }
    public int PadLeft { get; }
    public int PadBottom { get; }
    public int PadRight { get; }
    public int DilationH { get; }
    public int DilationW { get; }
    public bool CeilMode { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }
    public long InputLength => (long)Batch * Channels * InHeight * InWidth;
    public long OutputLength => (long)Batch * Channels * OutHeight * OutWidth;
}

/// <summary>Max pooling. The argmax of each window is the first maximal element in row-major window order;
/// indices are flat positions in the whole input tensor (as ONNX MaxPool's Indices output).</summary>
internal static class MaxPool2d
{
    /// <summary>output = window maxima; <paramref name="indices"/> (empty, or OutputLength) receives the argmax.
    /// A window that covers only padding yields −∞ and index −1.</summary>
    public static void Forward(in Pool2dShape s, ReadOnlySpan<float> input, Span<float> output, Span<int> indices)
    {
        Conv2d.CheckLength(input.Length, s.InputLength, "input");
        Conv2d.CheckLength(output.Length, s.OutputLength, "output");
        if (!indices.IsEmpty) Conv2d.CheckLength(indices.Length, s.OutputLength, "indices");
        int plane = s.InHeight * s.InWidth, o = 0;
        for (int nc = 0; nc < s.Batch * s.Channels; nc++)
        {
            int baseIndex = nc * plane;
            var x = input.Slice(baseIndex, plane);
            for (int y = 0; y < s.OutHeight; y++)
                for (int xo = 0; xo < s.OutWidth; xo++, o++)
                {
                    int best = ArgMax(s, x, y, xo);
                    output[o] = best < 0 ? float.NegativeInfinity : x[best];
                    if (!indices.IsEmpty) indices[o] = best < 0 ? -1 : baseIndex + best;
                }
        }
    }

    /// <summary>gradInput (+)= scatter of gradOutput to the stored argmax positions.</summary>
    public static void Backward(in Pool2dShape s, ReadOnlySpan<float> gradOutput, ReadOnlySpan<int> indices,
        Span<float> gradInput, bool accumulate = false)
    {
        Conv2d.CheckLength(gradOutput.Length, s.OutputLength, "gradOutput");
        Conv2d.CheckLength(indices.Length, s.OutputLength, "indices");
        Conv2d.CheckLength(gradInput.Length, s.InputLength, "gradInput");
        if (!accumulate) gradInput[..(int)s.InputLength].Clear();
        for (int o = 0; o < (int)s.OutputLength; o++)
            if (indices[o] >= 0)
                gradInput[indices[o]] += gradOutput[o];
    }

    /// <summary>gradInput (+)= scatter of gradOutput to the argmax positions, found again from the input (no index
    /// buffer kept between forward and backward). Same result as <see cref="Backward"/>.</summary>
    public static void BackwardFromInput(in Pool2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput,
        Span<float> gradInput, bool accumulate = false)
    {
        Conv2d.CheckLength(input.Length, s.InputLength, "input");
        Conv2d.CheckLength(gradOutput.Length, s.OutputLength, "gradOutput");
        Conv2d.CheckLength(gradInput.Length, s.InputLength, "gradInput");
        if (!accumulate) gradInput[..(int)s.InputLength].Clear();
        int plane = s.InHeight * s.InWidth, o = 0;
        for (int nc = 0; nc < s.Batch * s.Channels; nc++)
        {
            var x = input.Slice(nc * plane, plane);
            var gx = gradInput.Slice(nc * plane, plane);
            for (int y = 0; y < s.OutHeight; y++)
                for (int xo = 0; xo < s.OutWidth; xo++, o++)
                {
                    int best = ArgMax(s, x, y, xo);
                    if (best >= 0) gx[best] += gradOutput[o];
                }
        }
    }

    private static int ArgMax(in Pool2dShape s, ReadOnlySpan<float> plane, int y, int x)
    {
        int best = -1;
        float bestValue = float.NegativeInfinity;
        for (int kh = 0; kh < s.KernelHeight; kh++)
        {
            int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
            if ((uint)ih >= (uint)s.InHeight) continue;
            for (int kw = 0; kw < s.KernelWidth; kw++)
            {
                int iw = x * s.StrideW - s.PadLeft + kw * s.DilationW;
                if ((uint)iw >= (uint)s.InWidth) continue;
                float v = plane[ih * s.InWidth + iw];
                // NaN propagates: a NaN element wins over any number.
                if (best < 0 || v > bestValue || (float.IsNaN(v) && !float.IsNaN(bestValue)))
                {
                    best = ih * s.InWidth + iw;
                    bestValue = v;
                }
            }
        }
        return best;
    }
}

/// <summary>Average pooling. With <c>countIncludePad</c> the divisor counts padding positions (but not the extra
/// positions ceil mode adds past the end padding); otherwise only input positions.</summary>
internal static class AvgPool2d
{
    public static void Forward(in Pool2dShape s, ReadOnlySpan<float> input, Span<float> output, bool countIncludePad)
    {
        Conv2d.CheckLength(input.Length, s.InputLength, "input");
        Conv2d.CheckLength(output.Length, s.OutputLength, "output");
        int plane = s.InHeight * s.InWidth, o = 0;
        for (int nc = 0; nc < s.Batch * s.Channels; nc++)
        {
            var x = input.Slice(nc * plane, plane);
            for (int y = 0; y < s.OutHeight; y++)
                for (int xo = 0; xo < s.OutWidth; xo++, o++)
                {
                    float sum = 0f;
                    for (int kh = 0; kh < s.KernelHeight; kh++)
                    {
                        int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
                        if ((uint)ih >= (uint)s.InHeight) continue;
                        for (int kw = 0; kw < s.KernelWidth; kw++)
                        {
                            int iw = xo * s.StrideW - s.PadLeft + kw * s.DilationW;
                            if ((uint)iw < (uint)s.InWidth) sum += x[ih * s.InWidth + iw];
                        }
                    }
                    int count = Divisor(s, y, xo, countIncludePad);
                    output[o] = count == 0 ? 0f : sum / count;
                }
        }
    }

    /// <summary>gradInput (+)= ∂loss/∂input: each output gradient spread evenly over its window.</summary>
    public static void Backward(in Pool2dShape s, ReadOnlySpan<float> gradOutput, Span<float> gradInput,
        bool countIncludePad, bool accumulate = false)
    {
        Conv2d.CheckLength(gradOutput.Length, s.OutputLength, "gradOutput");
        Conv2d.CheckLength(gradInput.Length, s.InputLength, "gradInput");
        if (!accumulate) gradInput[..(int)s.InputLength].Clear();
        int plane = s.InHeight * s.InWidth, o = 0;
        for (int nc = 0; nc < s.Batch * s.Channels; nc++)
        {
            var gx = gradInput.Slice(nc * plane, plane);
            for (int y = 0; y < s.OutHeight; y++)
                for (int xo = 0; xo < s.OutWidth; xo++, o++)
                {
                    int count = Divisor(s, y, xo, countIncludePad);
                    if (count == 0) continue;
                    float share = gradOutput[o] / count;
                    for (int kh = 0; kh < s.KernelHeight; kh++)
                    {
                        int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
                        if ((uint)ih >= (uint)s.InHeight) continue;
                        for (int kw = 0; kw < s.KernelWidth; kw++)
                        {
                            int iw = xo * s.StrideW - s.PadLeft + kw * s.DilationW;
                            if ((uint)iw < (uint)s.InWidth) gx[ih * s.InWidth + iw] += share;
                        }
                    }
                }
        }
    }

    private static int Divisor(in Pool2dShape s, int y, int x, bool countIncludePad)
    {
        int lowH = countIncludePad ? -s.PadTop : 0, highH = countIncludePad ? s.InHeight + s.PadBottom : s.InHeight;
        int lowW = countIncludePad ? -s.PadLeft : 0, highW = countIncludePad ? s.InWidth + s.PadRight : s.InWidth;
        int rows = 0, cols = 0;
        for (int kh = 0; kh < s.KernelHeight; kh++)
        {
            int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
            if (ih >= lowH && ih < highH) rows++;
        }
        for (int kw = 0; kw < s.KernelWidth; kw++)
        {
            int iw = x * s.StrideW - s.PadLeft + kw * s.DilationW;
            if (iw >= lowW && iw < highW) cols++;
        }
        return rows * cols;
    }
}

/// <summary>Global average pooling: each of <c>planes</c> planes of <c>planeSize</c> values reduces to its mean.</summary>
internal static class GlobalAvgPool
{
    public static void Forward(ReadOnlySpan<float> input, Span<float> output, int planes, int planeSize) =>
        Reduce.Mean(input, output, planes, planeSize, 1);

    public static void Backward(ReadOnlySpan<float> gradOutput, Span<float> gradInput, int planes, int planeSize,
        bool accumulate = false) =>
        Reduce.MeanBackward(gradOutput, gradInput, planes, planeSize, 1, accumulate);
}

/// <summary>
/// Sum and mean over the middle axis of an [outer, reduce, inner] view (any set of contiguous axes maps to this).
/// The order is fixed: over r ascending (per inner element), or a deterministic <see cref="Reductions.Sum"/> when
/// inner is 1.
/// </summary>
internal static class Reduce
{
    public static void Sum(ReadOnlySpan<float> input, Span<float> output, int outer, int reduce, int inner)
    {
        CheckShape(input.Length, output.Length, outer, reduce, inner);
        for (int o = 0; o < outer; o++)
        {
            var x = input.Slice(o * reduce * inner, reduce * inner);
            if (inner == 1)
            {
                output[o] = Reductions.Sum(x);
                continue;
            }
            var dst = output.Slice(o * inner, inner);
            if (reduce == 0) { dst.Clear(); continue; }
            x[..inner].CopyTo(dst);
            for (int r = 1; r < reduce; r++)
                TensorPrimitives.Add(dst, x.Slice(r * inner, inner), dst);
        }
    }

    public static void Mean(ReadOnlySpan<float> input, Span<float> output, int outer, int reduce, int inner)
    {
        Sum(input, output, outer, reduce, inner);
        var dst = output[..(outer * inner)];
        TensorPrimitives.Divide(dst, reduce, dst);
    }

    /// <summary>gradInput (+)= broadcast of gradOutput over the reduced axis.</summary>
    public static void SumBackward(ReadOnlySpan<float> gradOutput, Span<float> gradInput, int outer, int reduce,
        int inner, bool accumulate = false) =>
        Broadcast(gradOutput, gradInput, outer, reduce, inner, 1f, accumulate);

    /// <summary>gradInput (+)= broadcast of gradOutput / reduce over the reduced axis.</summary>
    public static void MeanBackward(ReadOnlySpan<float> gradOutput, Span<float> gradInput, int outer, int reduce,
        int inner, bool accumulate = false) =>
        Broadcast(gradOutput, gradInput, outer, reduce, inner, reduce, accumulate);

    private static void Broadcast(ReadOnlySpan<float> gradOutput, Span<float> gradInput, int outer, int reduce,
        int inner, float divisor, bool accumulate)
    {
        CheckShape(gradInput.Length, gradOutput.Length, outer, reduce, inner);
        for (int o = 0; o < outer; o++)
            for (int r = 0; r < reduce; r++)
            {
                var dst = gradInput.Slice((o * reduce + r) * inner, inner);
                var g = gradOutput.Slice(o * inner, inner);
                if (inner == 1)
                {
                    dst[0] = (accumulate ? dst[0] : 0f) + g[0] / divisor;
                }
                else if (accumulate)
                {
                    for (int i = 0; i < inner; i++) dst[i] += g[i] / divisor;
                }
                else
                {
                    TensorPrimitives.Divide(g, divisor, dst);
                }
            }
    }

    private static void CheckShape(int inputLength, int outputLength, int outer, int reduce, int inner)
    {
        if (outer < 0 || reduce < 0 || inner < 0)
            throw new ArgumentException($"Invalid reduction shape [{outer}, {reduce}, {inner}].");
        Conv2d.CheckLength(inputLength, (long)outer * reduce * inner, "input");
        Conv2d.CheckLength(outputLength, (long)outer * inner, "output");
    }
}
