using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recompute.Runtime.Kernels;

/// <summary>
/// 2-D convolution over NCHW float32 tensors (groups, stride, padding, dilation): im2col + <see cref="Gemm"/> per
/// image and group, a direct kernel for depthwise convolution, col2im for the data gradient. All three passes are
/// deterministic (fixed summation order for any thread count).
/// </summary>
internal static class Conv2d
{
    /// <summary>output = conv(input, weight) + bias. <paramref name="bias"/> is empty or has OutChannels values.
    /// The output is overwritten.</summary>
    public static unsafe void Forward(in Conv2dShape shape, ReadOnlySpan<float> input, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias, Span<float> output)
    {
        var s = shape;
        CheckLength(input.Length, s.InputLength, "input");
        CheckLength(weight.Length, s.WeightLength, "weight");
        CheckLength(output.Length, s.OutputLength, "output");
        if (!bias.IsEmpty) CheckLength(bias.Length, s.OutChannels, "bias");

        int ohw = s.OutHeight * s.OutWidth;
        if (s.IsDepthwise)
            DepthwiseForward(s, input, weight, output);
        else if (UseBatchedGemm(s))
            ForwardBatched(s, input, weight, output);
        else
            fixed (float* px = input)
            fixed (float* pw = weight)
            fixed (float* py = output)
            {
                nint x = (nint)px, w = (nint)pw, y = (nint)py;
                ForEachImage(s, (n, col, gemmThreads) => ForwardImage(s, (float*)x, (float*)w, (float*)y, n, col, gemmThreads));
            }
        if (!bias.IsEmpty)
            for (int n = 0; n < s.Batch; n++)
                for (int m = 0; m < s.OutChannels; m++)
                {
                    var plane = output.Slice((n * s.OutChannels + m) * ohw, ohw);
                    TensorPrimitives.Add(plane, bias[m], plane);
                }
    }

    /// <summary>gradInput (+)= ∂loss/∂input given ∂loss/∂output. Overwrites unless <paramref name="accumulate"/>.</summary>
    public static unsafe void BackwardData(in Conv2dShape shape, ReadOnlySpan<float> gradOutput, ReadOnlySpan<float> weight,
        Span<float> gradInput, bool accumulate = false)
    {
        var s = shape;
        CheckLength(gradOutput.Length, s.OutputLength, "gradOutput");
        CheckLength(weight.Length, s.WeightLength, "weight");
        CheckLength(gradInput.Length, s.InputLength, "gradInput");
        if (!accumulate)
            gradInput[..(int)s.InputLength].Clear();
        if (s.IsDepthwise)
        {
            DepthwiseBackwardData(s, gradOutput, weight, gradInput);
            return;
        }
        if (UseBatchedGemm(s))
        {
            BackwardDataBatched(s, gradOutput, weight, gradInput);
            return;
        }
        fixed (float* pgy = gradOutput)
        fixed (float* pw = weight)
        fixed (float* pgx = gradInput)
        {
            nint gy = (nint)pgy, w = (nint)pw, gx = (nint)pgx;
            ForEachImage(s, (n, col, gemmThreads) =>
                BackwardDataImage(s, (float*)gy, (float*)w, (float*)gx, n, col, gemmThreads));
        }
    }

    /// <summary>Output planes smaller than this many pixels are handled with one GEMM over the whole batch
    /// (n = batch·OutHeight·OutWidth) instead of one thin GEMM per image.</summary>
    private const int BatchedSpatialLimit = 256;

    private static bool UseBatchedGemm(in Conv2dShape s) =>
        s.Batch > 1 && s.OutHeight * s.OutWidth < BatchedSpatialLimit;

    /// <summary>Forward with the patches of all images side by side: per group, col is PatchSize × (batch·OHW)
    /// and the GEMM result Mg × (batch·OHW) is scattered back to NCHW.</summary>
    private static void ForwardBatched(in Conv2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> weight,
        Span<float> output)
    {
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, total = s.Batch * ohw;
        int cg = s.GroupInChannels, mg = s.GroupOutChannels, kg = s.PatchSize;
        float[] col = ArrayPool<float>.Shared.Rent(kg * total), result = ArrayPool<float>.Shared.Rent(mg * total);
        try
        {
            for (int g = 0; g < s.Groups; g++)
            {
                var patches = col.AsSpan(0, kg * total);
                Im2ColImages(s, input, g, patches);
                var product = result.AsSpan(0, mg * total);
                Gemm.Multiply(weight.Slice(g * mg * kg, mg * kg), patches, product, mg, total, kg);
                MoveGroup(s, product, g, output, toMatrix: false);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(col);
            ArrayPool<float>.Shared.Return(result);
        }
    }

    /// <summary>Copies group g of an NCHW output-shaped tensor ([batch, OutChannels, OHW]) to an Mg × (batch·OHW)
    /// matrix, or back (<paramref name="toMatrix"/> false), images in parallel: plain copies of disjoint rows.</summary>
    private static unsafe void MoveGroup(in Conv2dShape s, ReadOnlySpan<float> from, int g, Span<float> to, bool toMatrix)
    {
        var shape = s;
        int ohw = s.OutHeight * s.OutWidth, total = s.Batch * ohw, mg = s.GroupOutChannels;
        fixed (float* pf = from)
        fixed (float* pt = to)
        {
            nint f = (nint)pf, t = (nint)pt;
            ForEachItem(s.Batch, (long)mg * ohw, n =>
            {
                for (int m = 0; m < mg; m++)
                {
                    long tensorAt = (long)(n * shape.OutChannels + g * mg + m) * ohw, matrixAt = (long)m * total + (long)n * ohw;
                    new ReadOnlySpan<float>((float*)f + (toMatrix ? tensorAt : matrixAt), ohw)
                        .CopyTo(new Span<float>((float*)t + (toMatrix ? matrixAt : tensorAt), ohw));
                }
            });
        }
    }

    /// <summary>Unfolds group g of every image into its columns of a PatchSize × (batch·OHW) matrix, images in parallel.</summary>
    private static unsafe void Im2ColImages(in Conv2dShape s, ReadOnlySpan<float> input, int g, Span<float> patches)
    {
        var shape = s;
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, total = s.Batch * ohw, cg = s.GroupInChannels;
        int patchLength = patches.Length;
        fixed (float* px = input)
        fixed (float* pc = patches)
        {
            nint x = (nint)px, c = (nint)pc;
            ForEachItem(s.Batch, (long)s.PatchSize * ohw, n =>
                Im2Col(shape, new ReadOnlySpan<float>((float*)x + (long)(n * shape.InChannels + g * cg) * hw, cg * hw),
                    new Span<float>((float*)c + (long)n * ohw, patchLength - n * ohw), total));
        }
    }

    /// <summary>Adds each image's columns of a PatchSize × (batch·OHW) matrix back into group g of its gradient,
    /// images in parallel (each writes only its own image).</summary>
    private static unsafe void Col2ImImages(in Conv2dShape s, ReadOnlySpan<float> patches, int g, Span<float> gradInput)
    {
        var shape = s;
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, total = s.Batch * ohw, cg = s.GroupInChannels;
        int patchLength = patches.Length;
        fixed (float* pc = patches)
        fixed (float* px = gradInput)
        {
            nint c = (nint)pc, x = (nint)px;
            ForEachItem(s.Batch, (long)s.PatchSize * ohw, n =>
                Col2ImAdd(shape, new ReadOnlySpan<float>((float*)c + (long)n * ohw, patchLength - n * ohw),
                    new Span<float>((float*)x + (long)(n * shape.InChannels + g * cg) * hw, cg * hw), total));
        }
    }

    /// <summary>Unfolds one image into a PatchSize × OHW matrix with its channels split across threads.</summary>
    private static unsafe void Im2ColChannels(in Conv2dShape s, ReadOnlySpan<float> image, Span<float> col)
    {
        var shape = s;
        int perChannel = s.KernelHeight * s.KernelWidth * s.OutHeight * s.OutWidth;
        int imageLength = image.Length, colLength = col.Length;
        fixed (float* px = image)
        fixed (float* pc = col)
        {
            nint x = (nint)px, c = (nint)pc;
            int degree = Math.Min(KernelOptions.MaxDegreeOfParallelism, s.GroupInChannels);
            if (degree <= 1 || (long)perChannel * s.GroupInChannels < ImageParallelThreshold)
            {
                Im2Col(s, image, col);
                return;
            }
            WorkerPool.For(degree, degree, part =>
                Im2Col(shape, new ReadOnlySpan<float>((float*)x, imageLength), new Span<float>((float*)c, colLength), -1,
                    shape.GroupInChannels * part / degree, shape.GroupInChannels * (part + 1) / degree));
        }
    }

    private static void BackwardDataBatched(in Conv2dShape s, ReadOnlySpan<float> gradOutput, ReadOnlySpan<float> weight,
        Span<float> gradInput)
    {
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, total = s.Batch * ohw;
        int cg = s.GroupInChannels, mg = s.GroupOutChannels, kg = s.PatchSize;
        float[] col = ArrayPool<float>.Shared.Rent(kg * total), grads = ArrayPool<float>.Shared.Rent(mg * total);
        try
        {
            for (int g = 0; g < s.Groups; g++)
            {
                var gy = grads.AsSpan(0, mg * total);
                MoveGroup(s, gradOutput, g, gy, toMatrix: true);
                var patches = col.AsSpan(0, kg * total);
                Gemm.Multiply(weight.Slice(g * mg * kg, mg * kg), gy, patches, kg, total, mg, transA: true);
                Col2ImImages(s, patches, g, gradInput);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(col);
            ArrayPool<float>.Shared.Return(grads);
        }
    }

    private static void BackwardWeightsBatched(in Conv2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput,
        Span<float> gradWeight, bool accumulate)
    {
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, total = s.Batch * ohw;
        int cg = s.GroupInChannels, mg = s.GroupOutChannels, kg = s.PatchSize;
        float[] col = ArrayPool<float>.Shared.Rent(kg * total), grads = ArrayPool<float>.Shared.Rent(mg * total);
        try
        {
            for (int g = 0; g < s.Groups; g++)
            {
                var gy = grads.AsSpan(0, mg * total);
                MoveGroup(s, gradOutput, g, gy, toMatrix: true);
                var patches = col.AsSpan(0, kg * total);
                Im2ColImages(s, input, g, patches);
                Gemm.Multiply(gy, patches, gradWeight.Slice(g * mg * kg, mg * kg), mg, kg, total,
                    transB: true, beta: accumulate ? 1f : 0f);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(col);
            ArrayPool<float>.Shared.Return(grads);
        }
    }

    /// <summary>Work below this many multiply-adds per image is not split across images.</summary>
    private const long ImageParallelThreshold = 1L << 20;

    /// <summary>
    /// Runs <paramref name="body"/> for every image with an im2col scratch buffer (null for pointwise shapes). With
    /// several images and threads, images run in parallel with single-threaded GEMMs; otherwise images run in order
    /// with multi-threaded GEMMs. Each image writes only its own output, and GEMM results do not depend on thread
    /// counts, so the result is the same either way.
    /// </summary>
    private static void ForEachImage(Conv2dShape s, Action<int, float[]?, int> body)
    {
        int degree = KernelOptions.MaxDegreeOfParallelism;
        int colLength = s.IsPointwise ? 0 : s.PatchSize * s.OutHeight * s.OutWidth;
        bool parallelImages = degree > 1 && s.Batch > 1 && s.MultiplyAdds / s.Batch >= ImageParallelThreshold;
        if (!parallelImages)
        {
            float[]? col = colLength == 0 ? null : ArrayPool<float>.Shared.Rent(colLength);
            try
            {
                for (int n = 0; n < s.Batch; n++) body(n, col, degree);
            }
            finally
            {
                if (col is not null) ArrayPool<float>.Shared.Return(col);
            }
            return;
        }
        WorkerPool.For(s.Batch, degree, n =>
        {
            float[]? col = colLength == 0 ? null : ArrayPool<float>.Shared.Rent(colLength);
            try
            {
                body(n, col, 1);
            }
            finally
            {
                if (col is not null) ArrayPool<float>.Shared.Return(col);
            }
        });
    }

    private static unsafe void ForwardImage(in Conv2dShape s, float* input, float* weight, float* output, int n,
        float[]? col, int gemmThreads)
    {
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth;
        int cg = s.GroupInChannels, mg = s.GroupOutChannels, kg = s.PatchSize;
        for (int g = 0; g < s.Groups; g++)
        {
            var image = new ReadOnlySpan<float>(input + (long)(n * s.InChannels + g * cg) * hw, cg * hw);
            ReadOnlySpan<float> patches = image;
            if (col is not null)
            {
                Im2Col(s, image, col.AsSpan(0, kg * ohw));
                patches = col.AsSpan(0, kg * ohw);
            }
            Gemm.Multiply(new ReadOnlySpan<float>(weight + (long)g * mg * kg, mg * kg), patches,
                new Span<float>(output + (long)(n * s.OutChannels + g * mg) * ohw, mg * ohw), mg, ohw, kg,
                false, false, 1f, 0f, gemmThreads);
        }
    }

    private static unsafe void BackwardDataImage(in Conv2dShape s, float* gradOutput, float* weight, float* gradInput,
        int n, float[]? col, int gemmThreads)
    {
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth;
        int cg = s.GroupInChannels, mg = s.GroupOutChannels, kg = s.PatchSize;
        for (int g = 0; g < s.Groups; g++)
        {
            var gy = new ReadOnlySpan<float>(gradOutput + (long)(n * s.OutChannels + g * mg) * ohw, mg * ohw);
            var w = new ReadOnlySpan<float>(weight + (long)g * mg * kg, mg * kg);
            var gx = new Span<float>(gradInput + (long)(n * s.InChannels + g * cg) * hw, cg * hw);
            if (col is null)
            {
                Gemm.Multiply(w, gy, gx, kg, ohw, mg, true, false, 1f, 1f, gemmThreads);
            }
            else
            {
                var patches = col.AsSpan(0, kg * ohw);
                Gemm.Multiply(w, gy, patches, kg, ohw, mg, true, false, 1f, 0f, gemmThreads);
                Col2ImAdd(s, patches, gx);
            }
        }
    }

    /// <summary>gradWeight (+)= ∂loss/∂weight and, when <paramref name="gradBias"/> is not empty, gradBias (+)=
    /// ∂loss/∂bias. Overwrites unless <paramref name="accumulate"/>.</summary>
    public static void BackwardWeights(in Conv2dShape shape, ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput,
        Span<float> gradWeight, Span<float> gradBias, bool accumulate = false)
    {
        var s = shape;
        CheckLength(input.Length, s.InputLength, "input");
        CheckLength(gradOutput.Length, s.OutputLength, "gradOutput");
        CheckLength(gradWeight.Length, s.WeightLength, "gradWeight");
        if (!gradBias.IsEmpty) CheckLength(gradBias.Length, s.OutChannels, "gradBias");
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth;
        int cg = s.GroupInChannels, mg = s.GroupOutChannels, kg = s.PatchSize;

        if (!gradBias.IsEmpty)
            for (int m = 0; m < s.OutChannels; m++)
            {
                float total = accumulate ? gradBias[m] : 0f;
                for (int n = 0; n < s.Batch; n++)
                    total += Reductions.Sum(gradOutput.Slice((n * s.OutChannels + m) * ohw, ohw));
                gradBias[m] = total;
            }

        if (s.IsDepthwise)
        {
            DepthwiseBackwardWeights(s, input, gradOutput, gradWeight, accumulate);
            return;
        }
        if (UseBatchedGemm(s))
        {
            BackwardWeightsBatched(s, input, gradOutput, gradWeight, accumulate);
            return;
        }
        float[]? col = s.IsPointwise ? null : ArrayPool<float>.Shared.Rent(kg * ohw);
        try
        {
            for (int n = 0; n < s.Batch; n++)
                for (int g = 0; g < s.Groups; g++)
                {
                    var image = input.Slice((n * s.InChannels + g * cg) * hw, cg * hw);
                    ReadOnlySpan<float> patches = image;
                    if (col is not null)
                    {
                        Im2ColChannels(s, image, col.AsSpan(0, kg * ohw));
                        patches = col.AsSpan(0, kg * ohw);
                    }
                    var gy = gradOutput.Slice((n * s.OutChannels + g * mg) * ohw, mg * ohw);
                    float beta = accumulate || n > 0 ? 1f : 0f;
                    Gemm.Multiply(gy, patches, gradWeight.Slice(g * mg * kg, mg * kg), mg, kg, ohw,
                        transB: true, beta: beta);
                }
        }
        finally
        {
            if (col is not null) ArrayPool<float>.Shared.Return(col);
        }
    }

    /// <summary>Valid output columns [first, end) for kernel column offset <paramref name="offset"/>: those with
    /// 0 ≤ ow·stride + offset &lt; size.</summary>
    private static (int First, int End) ValidRange(int offset, int stride, int size, int outSize)
    {
        int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        int last = size - 1 - offset;
        int end = last < 0 ? 0 : Math.Min(outSize, last / stride + 1);
        return (Math.Min(first, outSize), Math.Max(end, Math.Min(first, outSize)));
    }

    /// <summary>Unfolds the Cg input planes of one image and group into a PatchSize × (OutHeight·OutWidth) matrix,
    /// row (c·KH + kh)·KW + kw, zero where the kernel reads padding; only channels [channelFrom, channelTo) when given
    /// (their rows, so that threads can fill one matrix).</summary>
    internal static void Im2Col(in Conv2dShape s, ReadOnlySpan<float> image, Span<float> col, int ldc = -1,
        int channelFrom = 0, int channelTo = -1)
    {
        int h = s.InHeight, w = s.InWidth, oh = s.OutHeight, ow = s.OutWidth, ohw = oh * ow;
        if (ldc < 0) ldc = ohw;
        if (channelTo < 0) channelTo = s.GroupInChannels;
        int row = channelFrom * s.KernelHeight * s.KernelWidth;
        for (int c = channelFrom; c < channelTo; c++)
        {
            var plane = image.Slice(c * h * w, h * w);
            for (int kh = 0; kh < s.KernelHeight; kh++)
                for (int kw = 0; kw < s.KernelWidth; kw++, row++)
                {
                    var dst = col.Slice(row * ldc, ohw);
                    int offW = kw * s.DilationW - s.PadLeft;
                    var (first, end) = ValidRange(offW, s.StrideW, w, ow);
                    for (int y = 0; y < oh; y++)
                    {
                        var line = dst.Slice(y * ow, ow);
                        int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
                        if ((uint)ih >= (uint)h)
                        {
                            line.Clear();
                            continue;
                        }
                        line[..first].Clear();
                        line[end..].Clear();
                        var src = plane.Slice(ih * w, w);
                        if (s.StrideW == 1)
                        {
                            src.Slice(first + offW, end - first).CopyTo(line[first..end]);
                        }
                        else if (s.StrideW == 2)
                        {
                            GatherStride2(src, offW, line, first, end);
                        }
                        else
                        {
                            for (int x = first; x < end; x++)
                                line[x] = src[x * s.StrideW + offW];
                        }
                    }
                }
        }
    }

    /// <summary>line[x] = src[2x + offset] for x in [first, end) (the common stride-2 case, vectorised).</summary>
    internal static void GatherStride2(ReadOnlySpan<float> src, int offset, Span<float> line, int first, int end)
    {
        int x = first;
        if (Avx512F.IsSupported)
        {
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            ref float ps = ref MemoryMarshal.GetReference(src);
            ref float pl = ref MemoryMarshal.GetReference(line);
            for (; x + 16 <= end && 2 * x + offset + 32 <= src.Length; x += 16)
            {
                int at = 2 * x + offset;
                var lo = Vector512.LoadUnsafe(ref ps, (nuint)at);
                var hi = Vector512.LoadUnsafe(ref ps, (nuint)(at + 16));
                Avx512F.PermuteVar16x32x2(lo, evens, hi).StoreUnsafe(ref pl, (nuint)x);
            }
        }
        for (; x < end; x++)
            line[x] = src[2 * x + offset];
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: adds every patch entry back into the input position it came
    /// from (rows in increasing order, so the summation order is fixed).</summary>
    internal static void Col2ImAdd(in Conv2dShape s, ReadOnlySpan<float> col, Span<float> image, int ldc = -1)
    {
        int h = s.InHeight, w = s.InWidth, oh = s.OutHeight, ow = s.OutWidth, ohw = oh * ow;
        if (ldc < 0) ldc = ohw;
        int row = 0;
        for (int c = 0; c < s.GroupInChannels; c++)
        {
            var plane = image.Slice(c * h * w, h * w);
            for (int kh = 0; kh < s.KernelHeight; kh++)
                for (int kw = 0; kw < s.KernelWidth; kw++, row++)
                {
                    var src = col.Slice(row * ldc, ohw);
                    int offW = kw * s.DilationW - s.PadLeft;
                    var (first, end) = ValidRange(offW, s.StrideW, w, ow);
                    if (first >= end)
                        continue;
                    for (int y = 0; y < oh; y++)
                    {
                        int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
                        if ((uint)ih >= (uint)h)
                            continue;
                        var line = src.Slice(y * ow, ow);
                        var dst = plane.Slice(ih * w, w);
                        if (s.StrideW == 1)
                        {
                            var target = dst.Slice(first + offW, end - first);
                            TensorPrimitives.Add(target, line[first..end], target);
                        }
                        else
                        {
                            for (int x = first; x < end; x++)
                                dst[x * s.StrideW + offW] += line[x];
                        }
                    }
                }
        }
    }

    /// <summary>Runs <paramref name="body"/> for items [0, count), in parallel chunks when the work is large
    /// enough. Items must write disjoint outputs; the split then cannot change the result.</summary>
    private static void ForEachItem(int count, long workPerItem, Action<int> body)
    {
        int degree = KernelOptions.MaxDegreeOfParallelism;
        if (degree == 1 || count < 2 || workPerItem * count < ImageParallelThreshold)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        int chunks = Math.Min(count, degree * 4);
        WorkerPool.For(chunks, degree, chunk =>
        {
            for (int i = count * chunk / chunks; i < count * (chunk + 1) / chunks; i++) body(i);
        });
    }

    private static unsafe void DepthwiseForward(in Conv2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> weight,
        Span<float> output)
    {
        var shape = s;
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, taps = s.KernelHeight * s.KernelWidth;
        fixed (float* px = input)
        fixed (float* pw = weight)
        fixed (float* py = output)
        {
            nint x = (nint)px, w = (nint)pw, y = (nint)py;
            ForEachItem(s.Batch * s.InChannels, (long)ohw * taps, plane =>
            {
                int c = plane % shape.InChannels;
                var xs = new ReadOnlySpan<float>((float*)x + (long)plane * hw, hw);
                var ws = new ReadOnlySpan<float>((float*)w + (long)c * taps, taps);
                var ys = new Span<float>((float*)y + (long)plane * ohw, ohw);
                if (shape.StrideH == 1 && shape.StrideW == 1 && Vector512.IsHardwareAccelerated)
                    DepthwiseForwardPlaneStride1(shape, xs, ws, ys);
                else
                    DepthwiseForwardPlane(shape, xs, ws, ys);
            });
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
        var shape = s;
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, taps = s.KernelHeight * s.KernelWidth;
        fixed (float* pgy = gradOutput)
        fixed (float* pw = weight)
        fixed (float* pgx = gradInput)
        {
            nint gyp = (nint)pgy, wp = (nint)pw, gxp = (nint)pgx;
            bool vectorised = shape.StrideH == 1 && shape.StrideW == 1 && Vector512.IsHardwareAccelerated;
            ForEachItem(s.Batch * s.InChannels, (long)ohw * taps, plane =>
            {
                var gys = new ReadOnlySpan<float>((float*)gyp + (long)plane * ohw, ohw);
                var ws = new ReadOnlySpan<float>((float*)wp + (long)(plane % shape.InChannels) * taps, taps);
                var gxs = new Span<float>((float*)gxp + (long)plane * hw, hw);
                if (vectorised)
                    DepthwiseBackwardDataPlaneStride1(shape, gys, ws, gxs);
                else
                    DepthwiseBackwardDataPlane(shape, gys, ws, gxs);
            });
        }
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
        var shape = s;
        int taps = s.KernelHeight * s.KernelWidth;
        fixed (float* px = input)
        fixed (float* pgy = gradOutput)
        fixed (float* pgw = gradWeight)
        {
            nint xp = (nint)px, gyp = (nint)pgy, gwp = (nint)pgw;
            long inputLength = s.InputLength, outputLength = s.OutputLength;
            bool vectorised = shape.StrideH == 1 && shape.StrideW == 1 && Vector512.IsHardwareAccelerated;
            ForEachItem(s.InChannels, (long)s.Batch * s.OutHeight * s.OutWidth * taps, c =>
            {
                var xs = new ReadOnlySpan<float>((float*)xp, (int)inputLength);
                var gys = new ReadOnlySpan<float>((float*)gyp, (int)outputLength);
                var gws = new Span<float>((float*)gwp + (long)c * taps, taps);
                if (vectorised)
                    DepthwiseBackwardWeightsChannelStride1(shape, c, xs, gys, gws, accumulate);
                else
                    DepthwiseBackwardWeightsChannel(shape, c, xs, gys, gws, accumulate);
            });
        }
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

    internal static void CheckLength(int actual, long required, string name)
    {
        if (actual < required)
            throw new ArgumentException($"{name} has {actual} elements, the shape needs {required}.", name);
    }
}
