using Recompute.Planner.Costs;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// Geometry of a 2-D convolution over NCHW float32 tensors. Weights are [OutChannels, InChannels/Groups,
/// KernelHeight, KernelWidth]; the output is [Batch, OutChannels, OutHeight, OutWidth] with
/// OutHeight = (InHeight + PadTop + PadBottom - DilationH*(KernelHeight-1) - 1) / StrideH + 1 (likewise width).
/// </summary>
internal readonly record struct Conv2dShape
{
    public Conv2dShape(int batch, int inChannels, int inHeight, int inWidth, int outChannels, int kernelHeight,
        int kernelWidth, int strideH = 1, int strideW = 1, int padTop = 0, int padLeft = 0, int padBottom = 0,
        int padRight = 0, int dilationH = 1, int dilationW = 1, int groups = 1)
    {
        Require(batch >= 1, "batch must be at least 1");
        Require(inChannels >= 1 && outChannels >= 1, "channel counts must be at least 1");
        Require(inHeight >= 1 && inWidth >= 1, "input height and width must be at least 1");
        Require(kernelHeight >= 1 && kernelWidth >= 1, "kernel height and width must be at least 1");
        Require(strideH >= 1 && strideW >= 1, "strides must be at least 1");
        Require(dilationH >= 1 && dilationW >= 1, "dilations must be at least 1");
        Require(padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0, "pads must be non-negative");
        Require(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0,
            $"groups ({groups}) must divide input channels ({inChannels}) and output channels ({outChannels})");
        Batch = batch; InChannels = inChannels; InHeight = inHeight; InWidth = inWidth; OutChannels = outChannels;
        KernelHeight = kernelHeight; KernelWidth = kernelWidth; StrideH = strideH; StrideW = strideW;
        PadTop = padTop; PadLeft = padLeft; PadBottom = padBottom; PadRight = padRight;
        DilationH = dilationH; DilationW = dilationW; Groups = groups;
        long spanH = WindowGeometry.PaddedSpan(inHeight, kernelHeight, dilationH, padTop, padBottom);
        long spanW = WindowGeometry.PaddedSpan(inWidth, kernelWidth, dilationW, padLeft, padRight);
        Require(spanH >= 0 && spanW >= 0,
            $"the dilated kernel {kernelHeight}x{kernelWidth} does not fit the padded input {inHeight}x{inWidth}");
        OutHeight = (int)(spanH / strideH + 1);
        OutWidth = (int)(spanW / strideW + 1);
    }

    /// <summary>A square convolution with symmetric padding.</summary>
    public static Conv2dShape Square(int batch, int inChannels, int size, int outChannels, int kernel, int stride = 1,
        int pad = 0, int dilation = 1, int groups = 1) =>
        new(batch, inChannels, size, size, outChannels, kernel, kernel, stride, stride, pad, pad, pad, pad,
            dilation, dilation, groups);

    public int Batch { get; }
    public int InChannels { get; }
    public int InHeight { get; }
    public int InWidth { get; }
    public int OutChannels { get; }
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
    public int Groups { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    /// <summary>Input channels per group.</summary>
    public int GroupInChannels => InChannels / Groups;
    /// <summary>Output channels per group.</summary>
    public int GroupOutChannels => OutChannels / Groups;
    /// <summary>Rows of the im2col matrix of one group: GroupInChannels × KernelHeight × KernelWidth.</summary>
    public int PatchSize => GroupInChannels * KernelHeight * KernelWidth;

    public long InputLength => (long)Batch * InChannels * InHeight * InWidth;
    public long WeightLength => (long)OutChannels * PatchSize;
    public long OutputLength => (long)Batch * OutChannels * OutHeight * OutWidth;

    /// <summary>Multiply-adds of one forward pass (each backward pass costs the same).</summary>
    public long MultiplyAdds => OutputLength * PatchSize;

    /// <summary>True when im2col is the identity (1×1 kernel, stride 1, no padding).</summary>
    internal bool IsPointwise => KernelHeight == 1 && KernelWidth == 1 && StrideH == 1 && StrideW == 1 &&
        PadTop == 0 && PadLeft == 0 && PadBottom == 0 && PadRight == 0;

    /// <summary>True for a depthwise convolution with channel multiplier 1 (each channel its own group).</summary>
    internal bool IsDepthwise => GroupInChannels == 1 && GroupOutChannels == 1;

    private static void Require(bool condition, string problem)
    {
        if (!condition)
            throw new ArgumentException($"Invalid convolution shape: {problem}.");
    }
}
