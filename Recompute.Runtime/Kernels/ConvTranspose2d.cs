using System.Buffers;
using System.Numerics.Tensors;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// 2-D transposed convolution (ONNX ConvTranspose, NCHW) expressed through <see cref="Conv2d"/>: its forward pass is
/// the data gradient of the "equivalent" convolution that maps the transposed convolution's output back to its input.
/// ONNX's weight layout [InChannels, OutChannels/Groups, KH, KW] is exactly that convolution's weight layout.
/// </summary>
internal static class ConvTranspose2d
{
    /// <summary>
    /// The equivalent convolution of a transposed convolution: its input is the transposed convolution's output
    /// (outChannels × outH × outW with outH = (inH−1)·strideH − padTop − padBottom + dilationH·(KH−1) + 1 +
    /// outputPadH) and its output is the transposed convolution's input.
    /// </summary>
    public static Conv2dShape Shape(int batch, int inChannels, int inHeight, int inWidth, int outChannels,
        int kernelHeight, int kernelWidth, int strideH = 1, int strideW = 1, int padTop = 0, int padLeft = 0,
        int padBottom = 0, int padRight = 0, int outputPadH = 0, int outputPadW = 0, int dilationH = 1,
        int dilationW = 1, int groups = 1)
    {
        if (outputPadH < 0 || outputPadW < 0 || outputPadH >= Math.Max(strideH, dilationH) ||
            outputPadW >= Math.Max(strideW, dilationW) || outputPadH >= strideH || outputPadW >= strideW)
            throw new ArgumentException(
                $"Invalid transposed convolution shape: output padding ({outputPadH}, {outputPadW}) must be non-negative and below the stride ({strideH}, {strideW}).");
        int outHeight = (inHeight - 1) * strideH - padTop - padBottom + dilationH * (kernelHeight - 1) + 1 + outputPadH;
        int outWidth = (inWidth - 1) * strideW - padLeft - padRight + dilationW * (kernelWidth - 1) + 1 + outputPadW;
        if (outHeight < 1 || outWidth < 1)
            throw new ArgumentException(
                $"Invalid transposed convolution shape: the output would be {outHeight}x{outWidth}.");
        var shape = new Conv2dShape(batch, outChannels, outHeight, outWidth, inChannels, kernelHeight, kernelWidth,
            strideH, strideW, padTop, padLeft, padBottom, padRight, dilationH, dilationW, groups);
        if (shape.OutHeight != inHeight || shape.OutWidth != inWidth)
            throw new ArgumentException("Invalid transposed convolution shape: it does not invert to its input size.");
        return shape;
    }

    /// <summary>output = convT(input, weight) + bias, where <paramref name="shape"/> comes from
    /// <see cref="Shape"/>; input has shape.OutputLength elements and output shape.InputLength.</summary>
    public static void Forward(in Conv2dShape shape, ReadOnlySpan<float> input, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias, Span<float> output)
    {
        Conv2d.BackwardData(shape, input, weight, output);
        if (bias.IsEmpty)
            return;
        Conv2d.CheckLength(bias.Length, shape.InChannels, "bias");
        int plane = shape.InHeight * shape.InWidth;
        for (int n = 0; n < shape.Batch; n++)
            for (int c = 0; c < shape.InChannels; c++)
            {
                var p = output.Slice((n * shape.InChannels + c) * plane, plane);
                TensorPrimitives.Add(p, bias[c], p);
            }
    }

    /// <summary>gradInput (+)= ∂loss/∂input of the transposed convolution (a plain convolution of the gradient).</summary>
    public static void BackwardData(in Conv2dShape shape, ReadOnlySpan<float> gradOutput, ReadOnlySpan<float> weight,
        Span<float> gradInput, bool accumulate = false)
    {
        if (!accumulate)
        {
            Conv2d.Forward(shape, gradOutput, weight, ReadOnlySpan<float>.Empty, gradInput);
            return;
        }
        int length = checked((int)shape.OutputLength);
        Conv2d.CheckLength(gradInput.Length, length, "gradInput");
        float[] scratch = ArrayPool<float>.Shared.Rent(length);
        try
        {
            Conv2d.Forward(shape, gradOutput, weight, ReadOnlySpan<float>.Empty, scratch.AsSpan(0, length));
            TensorPrimitives.Add(gradInput[..length], scratch.AsSpan(0, length), gradInput[..length]);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>gradWeight (+)= ∂loss/∂weight and gradBias (+)= ∂loss/∂bias (when not empty).</summary>
    public static void BackwardWeights(in Conv2dShape shape, ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput,
        Span<float> gradWeight, Span<float> gradBias, bool accumulate = false)
    {
        Conv2d.BackwardWeights(shape, gradOutput, input, gradWeight, Span<float>.Empty, accumulate);
        if (gradBias.IsEmpty)
            return;
        Conv2d.CheckLength(gradBias.Length, shape.InChannels, "gradBias");
        int plane = shape.InHeight * shape.InWidth;
        for (int c = 0; c < shape.InChannels; c++)
        {
            float total = accumulate ? gradBias[c] : 0f;
            for (int n = 0; n < shape.Batch; n++)
                total += Reductions.Sum(gradOutput.Slice((n * shape.InChannels + c) * plane, plane));
            gradBias[c] = total;
        }
    }
}
