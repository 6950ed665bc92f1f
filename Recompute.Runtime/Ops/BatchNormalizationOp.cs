using System.Runtime.CompilerServices;
using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// BatchNormalization in training mode: normalises with the batch statistics over N and the spatial dimensions.
/// Inputs X, scale, B, input_mean, input_var; output 0 is Y, outputs 1 and 2 the updated running mean and
/// variance (<c>momentum</c>·running + (1 − momentum)·batch). The backward reads X (the statistics are recomputed
/// from it, per channel, outside the planned memory) and the resident scale.
/// </summary>
/// <remarks>
/// The per-channel statistics of an activation, and the two gradient sums of its backward, are kept beside the
/// activation's buffer (a weak table, so they die with it) with the tensor they were computed for: outputs 0, 1 and 2
/// and the three operand gradients then read X's statistics once instead of six times. A recomputed X, or the next
/// step's X in the same pooled buffer, is another tensor and gets its statistics afresh, in the same arrays, so a
/// steady-state step allocates none.
/// </remarks>
internal sealed class BatchNormalizationOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => node.OutputIndex == 0 && operand is 0 or 1 or 2;

    /// <summary>Batch statistics of one X, and the sums of one output gradient against it.</summary>
    private sealed class ChannelStatistics(int channels)
    {
        /// <summary>The tensor these statistics are X's of (null: none yet).</summary>
        public Tensor? Owner;
        /// <summary>How many channels the arrays hold (at least the current X's: a pooled buffer serves tensors of
        /// the same length and any channel count).</summary>
        public int Capacity => Mean.Length;
        public readonly double[] Mean = new double[channels];
        public readonly double[] Variance = new double[channels];
        /// <summary>Identity of the output gradient <see cref="SumG"/> and <see cref="SumGCentered"/> were taken from (0: none).</summary>
        public ulong GradientKey;
        public readonly double[] SumG = new double[channels];
        /// <summary>Σ g·(x − μ) per channel (times 1/σ it is the scale's gradient).</summary>
        public readonly double[] SumGCentered = new double[channels];
    }

    private static readonly ConditionalWeakTable<float[], ChannelStatistics> Cache = new();

    private static (int N, int C, int Area) Geometry(OpCall call)
    {
        var x = call.InputShape(0);
        return (x[0], x.Length > 1 ? x[1] : 1, Product(x, 2, x.Length));
    }

    /// <summary>X's statistics: from the cache for an activation (a tensor the executor allocated for this step), else computed.</summary>
    private static ChannelStatistics StatisticsOf(Tensor x, int n, int c, int area)
    {
        var (stats, known) = Slot(x, c);
        if (!known) Compute(x, n, c, area, stats);
        return stats;
    }

    /// <summary>Where X's statistics are kept, and whether they are computed already: the cached ones of an activation
    /// (claimed for X, to be computed when they were another tensor's), or fresh arrays for any other tensor.</summary>
    private static (ChannelStatistics Stats, bool Known) Slot(Tensor x, int c)
    {
        if (x.Category != MemoryCategory.Activation || x.IsView) return (new ChannelStatistics(c), false);
        if (Cache.TryGetValue(x.Buffer, out var cached) && ReferenceEquals(cached.Owner, x)) return (cached, true);
        if (cached is null || cached.Capacity < c)
        {
            cached = new ChannelStatistics(c);
            Cache.AddOrUpdate(x.Buffer, cached);
        }
        cached.Owner = x;
        cached.GradientKey = 0;
        return (cached, false);
    }

    /// <summary>Mean and biased variance per channel: float sums per plane in a fixed order, double across planes.</summary>
    private static unsafe void Compute(Tensor x, int n, int c, int area, ChannelStatistics stats)
    {
        fixed (float* px = x.Span)
            ParallelRanges.For(c, (long)n * c * area, new Statistics(px, n, c, area, stats));
    }

    private readonly unsafe struct Statistics(float* x, int n, int c, int area, ChannelStatistics stats) : IRangeBody
    {
        public void Run(int from, int to)
        {
            double count = (double)n * area;
            for (int ch = from; ch < to; ch++)
            {
                double s = 0;
                for (int b = 0; b < n; b++) s += Reductions.Sum(new ReadOnlySpan<float>(x + (long)(b * c + ch) * area, area));
                double mu = s / count, q = 0;
                for (int b = 0; b < n; b++)
                    q += Reductions.SumSquaredDeviation(new ReadOnlySpan<float>(x + (long)(b * c + ch) * area, area), (float)mu);
                stats.Mean[ch] = mu;
                stats.Variance[ch] = q / count;
            }
        }
    }

    /// <summary>y = γ·(x − μ)/σ + β per channel.</summary>
    private readonly unsafe struct Normalize(float* x, float* gamma, float* beta, float* y, int n, int c, int area, double eps,
        ChannelStatistics stats) : IRangeBody
    {
        public void Run(int from, int to)
        {
            for (int ch = from; ch < to; ch++)
            {
                float inv = (float)(1.0 / Math.Sqrt(stats.Variance[ch] + eps)), mu = (float)stats.Mean[ch];
                float a = gamma[ch] * inv;
                for (int b = 0; b < n; b++)
                {
                    long o = (long)(b * c + ch) * area;
                    var xs = new ReadOnlySpan<float>(x + o, area);
                    Affine.ApplyCentered(xs, mu, xs, a, 0f, beta[ch], new Span<float>(y + o, area));
                }
            }
        }
    }

    /// <summary>The statistics and the normalisation of each channel in one pass over the channels (one fork, and the
    /// channel's planes are still in cache when they are normalised); the same bits as the two passes.</summary>
    private readonly unsafe struct StatisticsAndNormalize(Statistics statistics, Normalize normalize) : IRangeBody
    {
        public void Run(int from, int to)
        {
            for (int ch = from; ch < to; ch++)
            {
                statistics.Run(ch, ch + 1);
                normalize.Run(ch, ch + 1);
            }
        }
    }

    /// <summary>Σg and Σg·(x − μ) per channel.</summary>
    private readonly unsafe struct GradientSums(float* x, float* g, int n, int c, int area, ChannelStatistics stats) : IRangeBody
    {
        public void Run(int from, int to)
        {
            for (int ch = from; ch < to; ch++)
            {
                float mu = (float)stats.Mean[ch];
                double sumG = 0, sumGC = 0;
                for (int b = 0; b < n; b++)
                {
                    long o = (long)(b * c + ch) * area;
                    var gs = new ReadOnlySpan<float>(g + o, area);
                    sumG += Reductions.Sum(gs);
                    sumGC += Reductions.DotCentered(new ReadOnlySpan<float>(x + o, area), mu, gs);
                }
                stats.SumG[ch] = sumG; stats.SumGCentered[ch] = sumGC;
            }
        }
    }

    /// <summary>The data gradient per channel.</summary>
    private readonly unsafe struct DataGradient(float* x, float* g, float* gamma, float* dx, int n, int c, int area, double eps,
        ChannelStatistics stats) : IRangeBody
    {
        public void Run(int from, int to)
        {
            double count = (double)n * area;
            for (int ch = from; ch < to; ch++)
            {
                // dx = γ·inv/M · (M·g − Σg − x̂·Σ(g·x̂)) = a·(x − μ) + b·g + k, with x̂ = (x − μ)·inv.
                double inv = 1.0 / Math.Sqrt(stats.Variance[ch] + eps), scale = gamma[ch];
                float a = (float)(-scale * inv * inv * inv * stats.SumGCentered[ch] / count);
                float b = (float)(scale * inv);
                float k = (float)(-scale * inv * stats.SumG[ch] / count);
                float mu = (float)stats.Mean[ch];
                for (int i = 0; i < n; i++)
                {
                    long o = (long)(i * c + ch) * area;
                    Affine.ApplyCentered(new ReadOnlySpan<float>(x + o, area), mu, new ReadOnlySpan<float>(g + o, area), a, b, k,
                        new Span<float>(dx + o, area));
                }
            }
        }
    }

    public override unsafe void Forward(OpCall call, Tensor output)
    {
        var (n, c, area) = Geometry(call);
        var x = call.Input(0);
        var y = output.Span;
        if (call.Node.OutputIndex is 1 or 2)
        {
            var stats = StatisticsOf(x, n, c, area);
            float momentum = (float)call.Attr("momentum", 0.9);
            var running = call.Input(call.Node.OutputIndex == 1 ? 3 : 4).Span;
            var batch = call.Node.OutputIndex == 1 ? stats.Mean : stats.Variance;
            for (int ch = 0; ch < c; ch++) y[ch] = momentum * running[ch] + (1f - momentum) * (float)batch[ch];
            return;
        }
        double eps = call.Attr("epsilon", 1e-5);
        var (slot, known) = Slot(x, c);
        fixed (float* px = x.Span)
        fixed (float* pgamma = call.Input(1).Span)
        fixed (float* pbeta = call.Input(2).Span)
        fixed (float* py = y)
        {
            var normalize = new Normalize(px, pgamma, pbeta, py, n, c, area, eps, slot);
            if (known) ParallelRanges.For(c, 2L * n * c * area, normalize);
            else ParallelRanges.For(c, 4L * n * c * area, new StatisticsAndNormalize(new Statistics(px, n, c, area, slot), normalize));
        }
    }

    public override unsafe void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (n, c, area) = Geometry(call);
        var x = call.Input(0);
        var stats = StatisticsOf(x, n, c, area);
        double eps = call.Attr("epsilon", 1e-5);
        fixed (float* px = x.Span)
        fixed (float* pg = g)
        fixed (float* pgx = gradInput)
        {
            ulong key = GradientKey(g);
            if (stats.GradientKey != key)
            {
                ParallelRanges.For(c, 2L * n * c * area, new GradientSums(px, pg, n, c, area, stats));
                stats.GradientKey = key;
            }
            switch (operand)
            {
                case 1:
                    for (int ch = 0; ch < c; ch++) gradInput[ch] = (float)(stats.SumGCentered[ch] / Math.Sqrt(stats.Variance[ch] + eps));
                    return;
                case 2:
                    for (int ch = 0; ch < c; ch++) gradInput[ch] = (float)stats.SumG[ch];
                    return;
            }
            fixed (float* pgamma = call.Input(1).Span)
                ParallelRanges.For(c, 3L * n * c * area, new DataGradient(px, pg, pgamma, pgx, n, c, area, eps, stats));
        }
    }

    /// <summary>
    /// Which output gradient the cached sums belong to: its address, length and three of its values. One X has one
    /// output gradient in a step, so this only guards direct callers (tests) that hand the same X other gradients; a
    /// buffer moved by the collector only costs a recount.
    /// </summary>
    private static unsafe ulong GradientKey(ReadOnlySpan<float> g)
    {
        if (g.IsEmpty) return 1;
        fixed (float* p = g)
        {
            ulong h = (ulong)(nint)p * 0x9E3779B97F4A7C15UL ^ (ulong)g.Length;
            foreach (int i in (ReadOnlySpan<int>)[0, g.Length / 2, g.Length - 1])
                h = (h ^ BitConverter.SingleToUInt32Bits(g[i])) * 0x100000001B3UL;
            return h | 1;
        }
    }
}
