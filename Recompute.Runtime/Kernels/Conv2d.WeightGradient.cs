using System.Buffers;
using System.Numerics.Tensors;

namespace Recompute.Runtime.Kernels;

/// <summary>The weight gradient: one GEMM per image and group over its columns, or one partial gradient per image summed in image order.</summary>
internal static partial class Conv2d
{
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
            unsafe
            {
                fixed (float* pgy = gradOutput)
                fixed (float* pgb = gradBias)
                    ParallelRanges.For(s.OutChannels, s.OutputLength, new BiasGradient(pgy, pgb, s.Batch, s.OutChannels, ohw, accumulate));
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
        if (UsePerImageWeightGradients(s))
        {
            BackwardWeightsPerImage(s, input, gradOutput, gradWeight, accumulate);
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

    /// <summary>The bias gradient of channels [from, to): each channel's plane sums added in image order.</summary>
    private readonly unsafe struct BiasGradient(float* gradOutput, float* gradBias, int batch, int channels, int planeSize,
        bool accumulate) : IRangeBody
    {
        public void Run(int from, int to)
        {
            for (int m = from; m < to; m++)
            {
                float total = accumulate ? gradBias[m] : 0f;
                for (int n = 0; n < batch; n++)
                    total += Reductions.Sum(new ReadOnlySpan<float>(gradOutput + ((long)n * channels + m) * planeSize, planeSize));
                gradBias[m] = total;
            }
        }
    }

    /// <summary>Whether the weight gradient is summed from one partial gradient per image: the same test as the
    /// forward's parallel images, never depending on the thread count (the summation order differs from one GEMM
    /// chain over the images, and must not change with it).</summary>
    private static bool UsePerImageWeightGradients(in Conv2dShape s) =>
        s.Batch > 1 && s.MultiplyAdds / s.Batch >= ImageParallelThreshold && (long)s.Batch * s.WeightLength <= PartialWeightLimit;

    /// <summary>At most this many floats of per-image partial weight gradients (16 MB).</summary>
    private const long PartialWeightLimit = 1L << 22;

    /// <summary>
    /// Weight gradient with one partial gradient per image, images in parallel with single-threaded im2col and GEMM
    /// (one fork for the whole call instead of several per image and k slice), then the partials added in image order.
    /// Each partial is computed the same way on whichever thread, so the bits do not depend on the thread count.
    /// </summary>
    private static unsafe void BackwardWeightsPerImage(in Conv2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput,
        Span<float> gradWeight, bool accumulate)
    {
        int weightLength = (int)s.WeightLength, batch = s.Batch;
        float[] partials = ArrayPool<float>.Shared.Rent(batch * weightLength);
        try
        {
            fixed (float* px = input)
            fixed (float* pgy = gradOutput)
            fixed (float* pp = partials)
            fixed (float* pw = gradWeight)
            {
                var job = new WeightGradientImages(s, px, pgy, pp);
                int degree = Math.Min(KernelOptions.MaxDegreeOfParallelism, batch);
                if (degree <= 1)
                    for (int n = 0; n < batch; n++) job.Run(n);
                else
                    WorkerPool.For(batch, degree, job);
                var sum = new PartialSum(pp, batch, weightLength, accumulate, pw);
                ParallelRanges.For(weightLength, (long)batch * weightLength, sum);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    /// <summary>Image n's weight gradient into its own partial, on the calling thread: per group, one GEMM, or for
    /// shapes with columns one per block of output rows (im2col of the block, then ∂y's block times its transpose,
    /// added in block order).</summary>
    private readonly unsafe struct WeightGradientImages(Conv2dShape s, float* input, float* gradOutput, float* partials) : IIndexBody
    {
        private readonly Conv2dShape _s = s;

        public void Run(int n)
        {
            var s = _s;
            int ohw = s.OutHeight * s.OutWidth, ow = s.OutWidth, mg = s.GroupOutChannels, kg = s.PatchSize;
            float[]? col = s.IsPointwise ? null : ArrayPool<float>.Shared.Rent(BlockColumnsLength(s));
            try
            {
                var partial = new Span<float>(partials + (long)n * s.WeightLength, (int)s.WeightLength);
                for (int g = 0; g < s.Groups; g++)
                {
                    var target = partial.Slice(g * mg * kg, mg * kg);
                    if (col is null)
                    {
                        var gy = new ReadOnlySpan<float>(gradOutput + (long)(n * s.OutChannels + g * mg) * ohw, mg * ohw);
                        Gemm.Multiply(gy, GroupPlanes(s, input, n, g), target, mg, kg, ohw, false, true, 1f, 0f, 1);
                        continue;
                    }
                    fixed (float* pt = target)
                        ForEachColumnBlock(s, GroupPlanes(s, input, n, g), col,
                            new WeightBlock(gradOutput + (long)(n * s.OutChannels + g * mg) * ohw, pt, mg, kg, ohw, ow));
                }
            }
            finally
            {
                if (col is not null) ArrayPool<float>.Shared.Return(col);
            }
        }
    }

    /// <summary>The weight gradient's block: ∂y's block of columns times the block's im2col columns transposed, added
    /// onto the blocks before it.</summary>
    private readonly unsafe struct WeightBlock(float* gradOutput, float* target, int mg, int kg, int ohw, int ow) : IColumnBlock
    {
        public void Run(int y0, int width, ReadOnlySpan<float> columns) =>
            Gemm.MultiplyStrided(new ReadOnlySpan<float>(gradOutput + (long)y0 * ow, (mg - 1) * ohw + width), ohw, 1, columns, 1, width,
                new Span<float>(target, mg * kg), kg, 1, mg, kg, width, 1f, y0 == 0 ? 0f : 1f, 1);
    }

    /// <summary>Target[i] (+)= partial 0 + partial 1 + … over a range, in image order.</summary>
    private readonly unsafe struct PartialSum(float* partials, int count, int length, bool accumulate, float* target) : IRangeBody
    {
        public void Run(int start, int end)
        {
            var sum = new Span<float>(target + start, end - start);
            int first = 0;
            if (!accumulate)
            {
                new ReadOnlySpan<float>(partials + start, end - start).CopyTo(sum);
                first = 1;
            }
            for (int n = first; n < count; n++)
                TensorPrimitives.Add(sum, new ReadOnlySpan<float>(partials + (long)n * length + start, end - start), sum);
        }
    }
}
