namespace Recompute.Planner.Costs;

/// <summary>
/// ONNX's sliding-window arithmetic (convolution, pooling) along one axis: the one copy that shape inference and the
/// runtime's kernels read, so that the planner sizes exactly what the runtime computes.
/// </summary>
internal static class WindowGeometry
{
    /// <summary>Whether <c>auto_pad</c> asks for SAME padding (the output is the input divided by the stride, rounded up).</summary>
    public static bool IsSame(string autoPad) => autoPad is "SAME_UPPER" or "SAME_LOWER";

    /// <summary>The padded input minus the dilated window: negative when not even one window fits.</summary>
    public static long PaddedSpan(long input, long kernel, long dilation, long padBegin, long padEnd) =>
        input + padBegin + padEnd - ((kernel - 1) * dilation + 1);

    /// <summary>Output length of a window along one axis; throws <see cref="ShapeInferenceException"/> when none fits.</summary>
    public static long OutputLength(long input, long kernel, long stride, long dilation, long padBegin, long padEnd, string autoPad, bool ceil)
    {
        long effective = (kernel - 1) * dilation + 1;
        long outLen;
        switch (autoPad)
        {
            case "SAME_UPPER" or "SAME_LOWER": outLen = (input + stride - 1) / stride; break;
            case "VALID": outLen = (input - effective) / stride + 1; if (input < effective) outLen = 0; break;
            case "NOTSET" or "":
                long span = PaddedSpan(input, kernel, dilation, padBegin, padEnd);
                if (span < 0) throw new ShapeInferenceException($"the window ({effective}) is larger than the padded input ({input + padBegin + padEnd})");
                outLen = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
                // A window that would start entirely in the end padding is dropped (ceil_mode).
                if (ceil && (outLen - 1) * stride >= input + padBegin) outLen--;
                break;
            default: throw new ShapeInferenceException($"unknown auto_pad '{autoPad}'");
        }
        return outLen;
    }

    /// <summary>The least total padding for which <paramref name="output"/> windows cover the input.</summary>
    public static long PaddingFor(long input, long output, long kernel, long stride, long dilation) =>
        Math.Max(0, (output - 1) * stride + (kernel - 1) * dilation + 1 - input);

    /// <summary>The padding before the input out of <paramref name="total"/>: SAME_UPPER puts the odd pixel at the end,
    /// SAME_LOWER at the start.</summary>
    public static long SamePadBegin(long total, string autoPad) => autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
}
