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
internal static partial class Conv2d
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
                ForEachImage(s, new ImagePass(s, px, pw, py, backward: false));
        if (!bias.IsEmpty)
            fixed (float* pb = bias)
            fixed (float* py = output)
                ForEachItem(s.Batch, (long)s.OutChannels * ohw, new AddBias(pb, py, s.OutChannels, ohw));
    }

    /// <summary>Image n's output planes plus their channel's bias (images in parallel: each writes only its own).</summary>
    private readonly unsafe struct AddBias(float* bias, float* output, int channels, int planeSize) : IIndexBody
    {
        public void Run(int n)
        {
            for (int m = 0; m < channels; m++)
            {
                var plane = new Span<float>(output + ((long)n * channels + m) * planeSize, planeSize);
                TensorPrimitives.Add(plane, bias[m], plane);
            }
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
            ForEachImage(s, new ImagePass(s, pgy, pw, pgx, backward: true));
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
        int ohw = s.OutHeight * s.OutWidth, mg = s.GroupOutChannels;
        fixed (float* pf = from)
        fixed (float* pt = to)
            ForEachItem(s.Batch, (long)mg * ohw, new GroupMove(s, pf, pt, g, toMatrix));
    }

    private readonly unsafe struct GroupMove(Conv2dShape s, float* from, float* to, int g, bool toMatrix) : IIndexBody
    {
        private readonly Conv2dShape _s = s;

        public void Run(int n)
        {
            int ohw = _s.OutHeight * _s.OutWidth, total = _s.Batch * ohw, mg = _s.GroupOutChannels;
            for (int m = 0; m < mg; m++)
            {
                long tensorAt = (long)(n * _s.OutChannels + g * mg + m) * ohw, matrixAt = (long)m * total + (long)n * ohw;
                new ReadOnlySpan<float>(from + (toMatrix ? tensorAt : matrixAt), ohw)
                    .CopyTo(new Span<float>(to + (toMatrix ? matrixAt : tensorAt), ohw));
            }
        }
    }

    /// <summary>Unfolds group g of every image into its columns of a PatchSize × (batch·OHW) matrix, images in parallel.</summary>
    private static unsafe void Im2ColImages(in Conv2dShape s, ReadOnlySpan<float> input, int g, Span<float> patches)
    {
        int ohw = s.OutHeight * s.OutWidth;
        fixed (float* px = input)
        fixed (float* pc = patches)
            ForEachItem(s.Batch, (long)s.PatchSize * ohw, new ImageColumns(s, px, pc, patches.Length, g, add: false));
    }

    /// <summary>Adds each image's columns of a PatchSize × (batch·OHW) matrix back into group g of its gradient,
    /// images in parallel (each writes only its own image).</summary>
    private static unsafe void Col2ImImages(in Conv2dShape s, ReadOnlySpan<float> patches, int g, Span<float> gradInput)
    {
        int ohw = s.OutHeight * s.OutWidth;
        fixed (float* pc = patches)
        fixed (float* px = gradInput)
            ForEachItem(s.Batch, (long)s.PatchSize * ohw, new ImageColumns(s, px, pc, patches.Length, g, add: true));
    }

    /// <summary>Image n's columns of the batch's patch matrix: unfolded from group g of the image, or added back into it.</summary>
    private readonly unsafe struct ImageColumns(Conv2dShape s, float* image, float* patches, int patchLength, int g, bool add) : IIndexBody
    {
        private readonly Conv2dShape _s = s;

        public void Run(int n)
        {
            int hw = _s.InHeight * _s.InWidth, ohw = _s.OutHeight * _s.OutWidth, total = _s.Batch * ohw, cg = _s.GroupInChannels;
            float* planes = image + (long)(n * _s.InChannels + g * cg) * hw;
            if (add)
                Col2ImAdd(_s, new ReadOnlySpan<float>(patches + (long)n * ohw, patchLength - n * ohw), new Span<float>(planes, cg * hw), total);
            else
                Im2Col(_s, new ReadOnlySpan<float>(planes, cg * hw), new Span<float>(patches + (long)n * ohw, patchLength - n * ohw), total);
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
    private static void ForEachImage(in Conv2dShape s, ImagePass body)
    {
        int degree = KernelOptions.MaxDegreeOfParallelism;
        bool parallelImages = degree > 1 && s.Batch > 1 && s.MultiplyAdds / s.Batch >= ImageParallelThreshold;
        if (!parallelImages)
        {
            float[]? col = body.RentColumns();
            try
            {
                for (int n = 0; n < s.Batch; n++) body.Run(n, col, degree);
            }
            finally
            {
                if (col is not null) ArrayPool<float>.Shared.Return(col);
            }
            return;
        }
        WorkerPool.For(s.Batch, degree, body);
    }

    /// <summary>The forward (input, weight → output) or the data gradient (output gradient, weight → input gradient)
    /// of one image, on pinned buffers.</summary>
    private readonly unsafe struct ImagePass(Conv2dShape s, float* from, float* weight, float* to, bool backward) : IIndexBody
    {
        private readonly Conv2dShape _s = s;

        /// <summary>An im2col scratch buffer, or null for pointwise shapes.</summary>
        public float[]? RentColumns() => _s.IsPointwise ? null : ArrayPool<float>.Shared.Rent(BlockColumnsLength(_s));

        public void Run(int n, float[]? col, int gemmThreads)
        {
            if (backward) BackwardDataImage(_s, from, weight, to, n, col, gemmThreads);
            else ForwardImage(_s, from, weight, to, n, col, gemmThreads);
        }

        /// <summary>One image of a parallel pass: single-threaded GEMMs with a scratch buffer of its own.</summary>
        public void Run(int n)
        {
            float[]? col = RentColumns();
            try
            {
                Run(n, col, 1);
            }
            finally
            {
                if (col is not null) ArrayPool<float>.Shared.Return(col);
            }
        }
    }

    /// <summary>The Cg input planes of image n, group g.</summary>
    private static unsafe ReadOnlySpan<float> GroupPlanes(in Conv2dShape s, float* input, int n, int g)
    {
        int hw = s.InHeight * s.InWidth, cg = s.GroupInChannels;
        return new ReadOnlySpan<float>(input + (long)(n * s.InChannels + g * cg) * hw, cg * hw);
    }

    /// <summary>About this many bytes of im2col columns per block of output rows: with the weights and the output
    /// block they stay in a core's L2 between being written and being read by the GEMM.</summary>
    private const int ColumnBlockBytes = 576 * 1024;

    /// <summary>Only patches this small are unfolded a block of rows at a time: with a shallow GEMM the columns cost
    /// as much to write and read as the product itself, so keeping them in L2 pays; deeper GEMMs lose more to the
    /// narrower products than they gain.</summary>
    private const int ShallowPatch = 256;

    /// <summary>
    /// Output rows per block of the per-image passes: as many as fit <see cref="ColumnBlockBytes"/> (at least one),
    /// lowered to a count whose columns fill whole 32-wide GEMM slivers where one at least half as large does. The
    /// whole plane for pointwise shapes, which have no columns.
    /// </summary>
    internal static int OutputRowsPerBlock(in Conv2dShape s)
    {
        if (s.IsPointwise || s.PatchSize > ShallowPatch) return s.OutHeight;
        long rowBytes = (long)s.PatchSize * s.OutWidth * sizeof(float);
        int rows = (int)Math.Clamp(ColumnBlockBytes / rowBytes, 1, s.OutHeight);
        if (rows == s.OutHeight) return rows;
        for (int r = rows; r * 2 >= rows && r >= 1; r--)
            if (r * s.OutWidth % 32 == 0) return r;
        return rows;
    }

    /// <summary>Length of the im2col scratch of a per-image pass (one block of output rows).</summary>
    private static int BlockColumnsLength(in Conv2dShape s) => s.PatchSize * OutputRowsPerBlock(s) * s.OutWidth;

    /// <summary>
    /// One image's forward, per group and block of output rows: im2col of the block, then its GEMM written straight
    /// into the block's columns of the output planes. Every output element is the same dot product, in the same k
    /// order, as one GEMM over the whole plane.
    /// </summary>
    private static unsafe void ForwardImage(in Conv2dShape s, float* input, float* weight, float* output, int n,
        float[]? col, int gemmThreads)
    {
        int ohw = s.OutHeight * s.OutWidth, ow = s.OutWidth, mg = s.GroupOutChannels, kg = s.PatchSize;
        for (int g = 0; g < s.Groups; g++)
        {
            float* y = output + (long)(n * s.OutChannels + g * mg) * ohw;
            if (col is null)
            {
                Gemm.Multiply(new ReadOnlySpan<float>(weight + (long)g * mg * kg, mg * kg), GroupPlanes(s, input, n, g), new Span<float>(y, mg * ohw), mg, ohw, kg,
                    false, false, 1f, 0f, gemmThreads);
                continue;
            }
            ForEachColumnBlock(s, GroupPlanes(s, input, n, g), col,
                new ForwardBlock(weight + (long)g * mg * kg, y, mg, kg, ohw, ow, gemmThreads));
        }
    }

    /// <summary>What a per-image pass does with one block of output rows' im2col columns (PatchSize × width, starting
    /// at output row y0).</summary>
    private interface IColumnBlock
    {
        void Run(int y0, int width, ReadOnlySpan<float> columns);
    }

    /// <summary>Unfolds <paramref name="image"/> a block of output rows at a time (<see cref="OutputRowsPerBlock"/>)
    /// into <paramref name="col"/> and hands each block to <paramref name="body"/>, blocks in order.</summary>
    private static void ForEachColumnBlock<T>(in Conv2dShape s, ReadOnlySpan<float> image, float[] col, T body) where T : struct, IColumnBlock
    {
        int rowsPerBlock = OutputRowsPerBlock(s), ow = s.OutWidth;
        for (int y0 = 0; y0 < s.OutHeight; y0 += rowsPerBlock)
        {
            int y1 = Math.Min(s.OutHeight, y0 + rowsPerBlock), width = (y1 - y0) * ow;
            var columns = col.AsSpan(0, s.PatchSize * width);
            Im2Col(s, image, columns, width, outRowFrom: y0, outRowTo: y1);
            body.Run(y0, width, columns);
        }
    }

    /// <summary>The forward's block: W times the block's columns, written into its columns of the output planes.</summary>
    private readonly unsafe struct ForwardBlock(float* weight, float* output, int mg, int kg, int ohw, int ow, int gemmThreads) : IColumnBlock
    {
        public void Run(int y0, int width, ReadOnlySpan<float> columns) =>
            Gemm.MultiplyStrided(new ReadOnlySpan<float>(weight, mg * kg), kg, 1, columns, width, 1,
                new Span<float>(output + (long)y0 * ow, (mg - 1) * ohw + width), ohw, 1, mg, width, kg, 1f, 0f, gemmThreads);
    }

    /// <summary>One image's data gradient, per group and block of output rows: the block's columns of Wᵀ·∂y, added
    /// back into the input gradient (blocks in order, so the summation order is fixed).</summary>
    private static unsafe void BackwardDataImage(in Conv2dShape s, float* gradOutput, float* weight, float* gradInput,
        int n, float[]? col, int gemmThreads)
    {
        int hw = s.InHeight * s.InWidth, ohw = s.OutHeight * s.OutWidth, ow = s.OutWidth;
        int cg = s.GroupInChannels, mg = s.GroupOutChannels, kg = s.PatchSize;
        int rowsPerBlock = OutputRowsPerBlock(s);
        for (int g = 0; g < s.Groups; g++)
        {
            var gy = new ReadOnlySpan<float>(gradOutput + (long)(n * s.OutChannels + g * mg) * ohw, mg * ohw);
            var w = new ReadOnlySpan<float>(weight + (long)g * mg * kg, mg * kg);
            var gx = new Span<float>(gradInput + (long)(n * s.InChannels + g * cg) * hw, cg * hw);
            if (col is null)
            {
                Gemm.Multiply(w, gy, gx, kg, ohw, mg, true, false, 1f, 1f, gemmThreads);
                continue;
            }
            for (int y0 = 0; y0 < s.OutHeight; y0 += rowsPerBlock)
            {
                int y1 = Math.Min(s.OutHeight, y0 + rowsPerBlock), width = (y1 - y0) * ow;
                var columns = col.AsSpan(0, kg * width);
                Gemm.MultiplyStrided(w, 1, kg, gy[(y0 * ow)..], ohw, 1, columns, width, 1, kg, width, mg, 1f, 0f, gemmThreads);
                Col2ImAdd(s, columns, gx, width, y0, y1);
            }
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
    /// (their rows, so that threads can fill one matrix), and only output rows [outRowFrom, outRowTo) when given (a
    /// PatchSize × ((outRowTo − outRowFrom)·OutWidth) block of columns).</summary>
    internal static void Im2Col(in Conv2dShape s, ReadOnlySpan<float> image, Span<float> col, int ldc = -1,
        int channelFrom = 0, int channelTo = -1, int outRowFrom = 0, int outRowTo = -1)
    {
        int h = s.InHeight, w = s.InWidth, ow = s.OutWidth;
        if (outRowTo < 0) outRowTo = s.OutHeight;
        int width = (outRowTo - outRowFrom) * ow;
        if (ldc < 0) ldc = width;
        if (channelTo < 0) channelTo = s.GroupInChannels;
        int row = channelFrom * s.KernelHeight * s.KernelWidth;
        for (int c = channelFrom; c < channelTo; c++)
        {
            var plane = image.Slice(c * h * w, h * w);
            for (int kh = 0; kh < s.KernelHeight; kh++)
                for (int kw = 0; kw < s.KernelWidth; kw++, row++)
                {
                    var dst = col.Slice(row * ldc, width);
                    int offW = kw * s.DilationW - s.PadLeft;
                    var (first, end) = ValidRange(offW, s.StrideW, w, ow);
                    for (int y = outRowFrom; y < outRowTo; y++)
                    {
                        var line = dst.Slice((y - outRowFrom) * ow, ow);
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
    /// from (rows in increasing order, so the summation order is fixed); only output rows [outRowFrom, outRowTo)
    /// when given, from a block of columns as <see cref="Im2Col"/> writes it.</summary>
    internal static void Col2ImAdd(in Conv2dShape s, ReadOnlySpan<float> col, Span<float> image, int ldc = -1,
        int outRowFrom = 0, int outRowTo = -1)
    {
        int h = s.InHeight, w = s.InWidth, ow = s.OutWidth;
        if (outRowTo < 0) outRowTo = s.OutHeight;
        int width = (outRowTo - outRowFrom) * ow;
        if (ldc < 0) ldc = width;
        int row = 0;
        for (int c = 0; c < s.GroupInChannels; c++)
        {
            var plane = image.Slice(c * h * w, h * w);
            for (int kh = 0; kh < s.KernelHeight; kh++)
                for (int kw = 0; kw < s.KernelWidth; kw++, row++)
                {
                    var src = col.Slice(row * ldc, width);
                    int offW = kw * s.DilationW - s.PadLeft;
                    var (first, end) = ValidRange(offW, s.StrideW, w, ow);
                    if (first >= end)
                        continue;
                    for (int y = outRowFrom; y < outRowTo; y++)
                    {
                        int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
                        if ((uint)ih >= (uint)h)
                            continue;
                        var line = src.Slice((y - outRowFrom) * ow, ow);
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
    private static void ForEachItem(int count, long workPerItem, Action<int> body) =>
        ForEachItem(count, workPerItem, new ActionItem(body));

    private static void ForEachItem<T>(int count, long workPerItem, T body) where T : struct, IIndexBody
    {
        int degree = KernelOptions.MaxDegreeOfParallelism;
        if (degree == 1 || count < 2 || workPerItem * count < ImageParallelThreshold)
        {
            for (int i = 0; i < count; i++) body.Run(i);
            return;
        }
        int chunks = Math.Min(count, degree * 4);
        WorkerPool.For(chunks, degree, new ItemChunks<T>(body, count, chunks));
    }

    private readonly struct ItemChunks<T>(T body, int count, int chunks) : IIndexBody where T : struct, IIndexBody
    {
        public void Run(int chunk)
        {
            for (int i = count * chunk / chunks; i < count * (chunk + 1) / chunks; i++) body.Run(i);
        }
    }

    private readonly struct ActionItem(Action<int> body) : IIndexBody
    {
        public void Run(int index) => body(index);
    }

    internal static void CheckLength(int actual, long required, string name)
    {
        if (actual < required)
            throw new ArgumentException($"{name} has {actual} elements, the shape needs {required}.", name);
    }
}
