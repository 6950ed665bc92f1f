using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Recompute.Runtime.Kernels;

/// <summary>Depthwise convolution (one input channel per group): direct kernels, no im2col.</summary>
internal static partial class Conv2d
{
    private static unsafe void DepthwiseForward(in Conv2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> weight,
        Span<float> output)
    {
        int ohw = s.OutHeight * s.OutWidth, taps = s.KernelHeight * s.KernelWidth;
        fixed (float* px = input)
        fixed (float* pw = weight)
        fixed (float* py = output)
            ForEachItem(s.Batch * s.InChannels, (long)ohw * taps, new DepthwisePass(s, px, pw, py, DepthwiseKind.Forward, false));
    }

    private enum DepthwiseKind { Forward, BackwardData, BackwardWeights }

    /// <summary>One plane (forward, data gradient) or one channel (weight gradient) of a depthwise pass, on pinned
    /// buffers: x is the input or the output gradient, y the output, the input gradient or the weight gradient.</summary>
    private readonly unsafe struct DepthwisePass(Conv2dShape s, float* x, float* w, float* y, DepthwiseKind kind, bool accumulate)
        : IIndexBody
    {
        private readonly Conv2dShape _s = s;

        public void Run(int item)
        {
            var s = _s;
            int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, taps = s.KernelHeight * s.KernelWidth;
            bool vectorised = s.StrideH == 1 && s.StrideW == 1 && Vector512.IsHardwareAccelerated;
            switch (kind)
            {
                case DepthwiseKind.Forward:
                {
                    var xs = new ReadOnlySpan<float>(x + (long)item * hw, hw);
                    var ws = new ReadOnlySpan<float>(w + (long)(item % s.InChannels) * taps, taps);
                    var ys = new Span<float>(y + (long)item * ohw, ohw);
                    if (vectorised) DepthwiseForwardPlaneStride1(s, xs, ws, ys);
                    else DepthwiseForwardPlane(s, xs, ws, ys);
                    break;
                }
                case DepthwiseKind.BackwardData:
                {
                    var gys = new ReadOnlySpan<float>(x + (long)item * ohw, ohw);
                    var ws = new ReadOnlySpan<float>(w + (long)(item % s.InChannels) * taps, taps);
                    var gxs = new Span<float>(y + (long)item * hw, hw);
                    if (vectorised) DepthwiseBackwardDataPlaneStride1(s, gys, ws, gxs);
                    else DepthwiseBackwardDataPlane(s, gys, ws, gxs);
                    break;
                }
                default:
                {
                    // x is the input, w the output gradient, y the weight gradient; item is a channel.
                    var xs = new ReadOnlySpan<float>(x, (int)s.InputLength);
                    var gys = new ReadOnlySpan<float>(w, (int)s.OutputLength);
                    var gws = new Span<float>(y + (long)item * taps, taps);
                    if (vectorised) DepthwiseBackwardWeightsChannelStride1(s, item, xs, gys, gws, accumulate);
                    else DepthwiseBackwardWeightsChannel(s, item, xs, gys, gws, accumulate);
                    break;
                }
            }
        }
    }

    /// <summary>One plane of a stride-1 depthwise convolution: the plane is copied into a zero-padded scratch
    /// (wide enough for whole 16-lane vectors), then every output vector sums its taps in registers.</summary>
    private static void DepthwiseForwardPlaneStride1(in Conv2dShape s, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<float> y)
    {
        int h = s.InHeight, wd = s.InWidth, oh = s.OutHeight, ow = s.OutWidth;
        int kh = s.KernelHeight, kw = s.KernelWidth, dh = s.DilationH, dw = s.DilationW;
        int rowVectors = (ow + 15) / 16;
        int pw = rowVectors * 16 + (kw - 1) * dw;
        int ph = oh + (kh - 1) * dh;
        float[] padded = ArrayPool<float>.Shared.Rent(ph * pw + rowVectors * 16);
        try
        {
            var pad = padded.AsSpan(0, ph * pw);
            pad.Clear();
            for (int r = 0; r < ph; r++)
            {
                int ih = r - s.PadTop;
                if ((uint)ih >= (uint)h) continue;
                // Padded column pc holds input column pc − PadLeft; copy the part that lands inside the row.
                int from = Math.Max(0, -s.PadLeft), to = Math.Min(wd, pw - s.PadLeft);
                if (to > from)
                    x.Slice(ih * wd + from, to - from).CopyTo(pad.Slice(r * pw + from + s.PadLeft, to - from));
            }
            var row = padded.AsSpan(ph * pw, rowVectors * 16);
            ref float pp = ref MemoryMarshal.GetReference(pad);
            ref float pr = ref MemoryMarshal.GetReference(row);
            for (int r = 0; r < oh; r++)
            {
                for (int v = 0; v < rowVectors; v++)
                {
                    var acc = Vector512<float>.Zero;
                    for (int i = 0; i < kh; i++)
                    {
                        nuint at = (nuint)((r + i * dh) * pw + v * 16);
                        for (int j = 0; j < kw; j++)
                            acc += Vector512.Create(w[i * kw + j]) * Vector512.LoadUnsafe(ref pp, at + (nuint)(j * dw));
                    }
                    acc.StoreUnsafe(ref pr, (nuint)(v * 16));
                }
                row[..ow].CopyTo(y.Slice(r * ow, ow));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(padded);
        }
    }

    private static void DepthwiseForwardPlane(in Conv2dShape s, ReadOnlySpan<float> x, ReadOnlySpan<float> weight,
        Span<float> y)
    {
        int h = s.InHeight, w = s.InWidth, oh = s.OutHeight, ow = s.OutWidth;
        // Rows of the usual widths fit the stack; a row wider than 1024 pixels gets a heap buffer.
        Span<float> line = s.StrideW != 2 ? default : ow <= 1024 ? stackalloc float[ow] : new float[ow];
        y.Clear();
        for (int kh = 0; kh < s.KernelHeight; kh++)
            for (int kw = 0; kw < s.KernelWidth; kw++)
            {
                float wv = weight[kh * s.KernelWidth + kw];
                int offW = kw * s.DilationW - s.PadLeft;
                var (first, end) = ValidRange(offW, s.StrideW, w, ow);
                if (first >= end) continue;
                for (int r = 0; r < oh; r++)
                {
                    int ih = r * s.StrideH - s.PadTop + kh * s.DilationH;
                    if ((uint)ih >= (uint)h) continue;
                    var src = x.Slice(ih * w, w);
                    var dst = y.Slice(r * ow + first, end - first);
                    if (s.StrideW == 1)
                        TensorPrimitives.MultiplyAdd(src.Slice(first + offW, end - first), wv, dst, dst);
                    else if (s.StrideW == 2)
                    {
                        // The row's even-spaced pixels side by side, then the same multiply and add as the loop below.
                        GatherStride2(src, offW, line, first, end);
                        TensorPrimitives.MultiplyAdd(line[first..end], wv, dst, dst);
                    }
                    else
                        for (int i = 0; i < dst.Length; i++)
                            dst[i] += wv * src[(first + i) * s.StrideW + offW];
                }
            }
    }

    private static unsafe void DepthwiseBackwardData(in Conv2dShape s, ReadOnlySpan<float> gradOutput,
        ReadOnlySpan<float> weight, Span<float> gradInput)
    {
        int ohw = s.OutHeight * s.OutWidth, taps = s.KernelHeight * s.KernelWidth;
        fixed (float* pgy = gradOutput)
        fixed (float* pw = weight)
        fixed (float* pgx = gradInput)
            ForEachItem(s.Batch * s.InChannels, (long)ohw * taps, new DepthwisePass(s, pgy, pw, pgx, DepthwiseKind.BackwardData, false));
    }

    /// <summary>gx (+)= the data gradient of one stride-1 depthwise plane, as a correlation of the zero-padded output
    /// gradient with the flipped kernel: input pixel (ih, iw) reads gradient (ih + PadTop − kh·DH, iw + PadLeft − kw·DW)
    /// for every tap, so whole 16-pixel input vectors sum their taps in registers, like the forward. The padded plane
    /// holds gradient (oy, ox) at row oy + (KH − 1)·DH, column ox + (KW − 1)·DW.</summary>
    private static void DepthwiseBackwardDataPlaneStride1(in Conv2dShape s, ReadOnlySpan<float> gy, ReadOnlySpan<float> w,
        Span<float> gx)
    {
        int h = s.InHeight, wd = s.InWidth, oh = s.OutHeight, ow = s.OutWidth;
        int kh = s.KernelHeight, kw = s.KernelWidth, dh = s.DilationH, dw = s.DilationW;
        int rowVectors = (wd + 15) / 16;
        int top = (kh - 1) * dh, left = (kw - 1) * dw;
        int pw = rowVectors * 16 + s.PadLeft + left;
        int ph = h + s.PadTop + top;
        float[] padded = ArrayPool<float>.Shared.Rent(ph * pw + rowVectors * 16);
        try
        {
            var pad = padded.AsSpan(0, ph * pw);
            pad.Clear();
            // Gradient rows and columns past the padded plane reach no input pixel of the vectors below.
            int rows = Math.Min(oh, ph - top), cols = Math.Min(ow, pw - left);
            for (int r = 0; r < rows; r++)
                gy.Slice(r * ow, cols).CopyTo(pad.Slice((r + top) * pw + left, cols));
            var row = padded.AsSpan(ph * pw, rowVectors * 16);
            ref float pp = ref MemoryMarshal.GetReference(pad);
            ref float pr = ref MemoryMarshal.GetReference(row);
            for (int ih = 0; ih < h; ih++)
            {
                for (int v = 0; v < rowVectors; v++)
                {
                    var acc = Vector512<float>.Zero;
                    for (int i = 0; i < kh; i++)
                    {
                        nuint at = (nuint)((ih + s.PadTop + (kh - 1 - i) * dh) * pw + v * 16 + s.PadLeft);
                        for (int j = 0; j < kw; j++)
                            acc += Vector512.Create(w[i * kw + j]) * Vector512.LoadUnsafe(ref pp, at + (nuint)((kw - 1 - j) * dw));
                    }
                    acc.StoreUnsafe(ref pr, (nuint)(v * 16));
                }
                var target = gx.Slice(ih * wd, wd);
                TensorPrimitives.Add(target, row[..wd], target);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(padded);
        }
    }

    private static void DepthwiseBackwardDataPlane(in Conv2dShape s, ReadOnlySpan<float> gy, ReadOnlySpan<float> weight,
        Span<float> gx)
    {
        int h = s.InHeight, w = s.InWidth, oh = s.OutHeight, ow = s.OutWidth;
        for (int kh = 0; kh < s.KernelHeight; kh++)
            for (int kw = 0; kw < s.KernelWidth; kw++)
            {
                float wv = weight[kh * s.KernelWidth + kw];
                int offW = kw * s.DilationW - s.PadLeft;
                var (first, end) = ValidRange(offW, s.StrideW, w, ow);
                if (first >= end) continue;
                for (int r = 0; r < oh; r++)
                {
                    int ih = r * s.StrideH - s.PadTop + kh * s.DilationH;
                    if ((uint)ih >= (uint)h) continue;
                    var src = gy.Slice(r * ow + first, end - first);
                    var dst = gx.Slice(ih * w, w);
                    if (s.StrideW == 1)
                    {
                        var target = dst.Slice(first + offW, end - first);
                        TensorPrimitives.MultiplyAdd(src, wv, target, target);
                    }
                    else
                        for (int i = 0; i < src.Length; i++)
                            dst[(first + i) * s.StrideW + offW] += wv * src[i];
                }
            }
    }

    private static unsafe void DepthwiseBackwardWeights(in Conv2dShape s, ReadOnlySpan<float> input,
        ReadOnlySpan<float> gradOutput, Span<float> gradWeight, bool accumulate)
    {
        int taps = s.KernelHeight * s.KernelWidth;
        fixed (float* px = input)
        fixed (float* pgy = gradOutput)
        fixed (float* pgw = gradWeight)
            ForEachItem(s.InChannels, (long)s.Batch * s.OutHeight * s.OutWidth * taps,
                new DepthwisePass(s, px, pgy, pgw, DepthwiseKind.BackwardWeights, accumulate));
    }

    /// <summary>Channel <paramref name="c"/>'s weight gradient of a stride-1 depthwise convolution: each image's plane
    /// zero-padded as in the forward, its output gradient padded to whole 16-lane rows with zeros, then per tap one
    /// vector accumulator over every row and image (a fixed order), summed across lanes at the end.</summary>
    private static void DepthwiseBackwardWeightsChannelStride1(in Conv2dShape s, int c, ReadOnlySpan<float> input,
        ReadOnlySpan<float> gradOutput, Span<float> gradWeight, bool accumulate)
    {
        int h = s.InHeight, wd = s.InWidth, oh = s.OutHeight, ow = s.OutWidth;
        int kh = s.KernelHeight, kw = s.KernelWidth, dh = s.DilationH, dw = s.DilationW, taps = kh * kw;
        int rowVectors = (ow + 15) / 16, line = rowVectors * 16;
        int pw = line + (kw - 1) * dw;
        int ph = oh + (kh - 1) * dh;
        float[] scratch = ArrayPool<float>.Shared.Rent(ph * pw + oh * line + taps * 16);
        try
        {
            var pad = scratch.AsSpan(0, ph * pw);
            var grad = scratch.AsSpan(ph * pw, oh * line);
            var sums = scratch.AsSpan(ph * pw + oh * line, taps * 16);
            sums.Clear();
            ref float pp = ref MemoryMarshal.GetReference(pad);
            ref float pg = ref MemoryMarshal.GetReference(grad);
            ref float ps = ref MemoryMarshal.GetReference(sums);
            for (int n = 0; n < s.Batch; n++)
            {
                var x = input.Slice((n * s.InChannels + c) * h * wd, h * wd);
                var gy = gradOutput.Slice((n * s.OutChannels + c) * oh * ow, oh * ow);
                pad.Clear();
                for (int r = 0; r < ph; r++)
                {
                    int ih = r - s.PadTop;
                    if ((uint)ih >= (uint)h) continue;
                    int from = Math.Max(0, -s.PadLeft), to = Math.Min(wd, pw - s.PadLeft);
                    if (to > from)
                        x.Slice(ih * wd + from, to - from).CopyTo(pad.Slice(r * pw + from + s.PadLeft, to - from));
                }
                grad.Clear();
                for (int r = 0; r < oh; r++)
                    gy.Slice(r * ow, ow).CopyTo(grad.Slice(r * line, ow));
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                    {
                        var acc = Vector512<float>.Zero;
                        for (int r = 0; r < oh; r++)
                        {
                            nuint at = (nuint)((r + i * dh) * pw + j * dw), g = (nuint)(r * line);
                            for (int v = 0; v < line; v += 16)
                                acc += Vector512.LoadUnsafe(ref pg, g + (nuint)v) * Vector512.LoadUnsafe(ref pp, at + (nuint)v);
                        }
                        nuint tap = (nuint)((i * kw + j) * 16);
                        (Vector512.LoadUnsafe(ref ps, tap) + acc).StoreUnsafe(ref ps, tap);
                    }
            }
            for (int t = 0; t < taps; t++)
                gradWeight[t] = (accumulate ? gradWeight[t] : 0f) + Vector512.Sum(Vector512.LoadUnsafe(ref ps, (nuint)(t * 16)));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    private static void DepthwiseBackwardWeightsChannel(in Conv2dShape s, int c, ReadOnlySpan<float> input,
        ReadOnlySpan<float> gradOutput, Span<float> gradWeight, bool accumulate)
    {
        int h = s.InHeight, w = s.InWidth, oh = s.OutHeight, ow = s.OutWidth;
        for (int kh = 0; kh < s.KernelHeight; kh++)
            for (int kw = 0; kw < s.KernelWidth; kw++)
            {
                int index = kh * s.KernelWidth + kw;
                float total = accumulate ? gradWeight[index] : 0f;
                int offW = kw * s.DilationW - s.PadLeft;
                var (first, end) = ValidRange(offW, s.StrideW, w, ow);
                if (first < end)
                    for (int n = 0; n < s.Batch; n++)
                    {
                        var x = input.Slice((n * s.InChannels + c) * h * w, h * w);
                        var gy = gradOutput.Slice((n * s.OutChannels + c) * oh * ow, oh * ow);
                        for (int r = 0; r < oh; r++)
                        {
                            int ih = r * s.StrideH - s.PadTop + kh * s.DilationH;
                            if ((uint)ih >= (uint)h) continue;
                            var g = gy.Slice(r * ow + first, end - first);
                            var src = x.Slice(ih * w, w);
                            if (s.StrideW == 1)
                                total += Reductions.Dot(src.Slice(first + offW, end - first), g);
                            else
                            {
                                float line = 0f;
                                for (int i = 0; i < g.Length; i++)
                                    line += g[i] * src[(first + i) * s.StrideW + offW];
                                total += line;
                            }
                        }
                    }
                gradWeight[index] = total;
            }
    }
}
