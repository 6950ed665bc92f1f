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
        public int Channels => Mean.Length;
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
        if (x.Category != MemoryCategory.Activation || x.IsView)
        {
            var own = new ChannelStatistics(c);
            Compute(x, n, c, area, own);
            return own;
        }
        if (Cache.TryGetValue(x.Buffer, out var cached) && ReferenceEquals(cached.Owner, x)) return cached;
        if (cached is null || cached.Channels != c)
        {
            cached = new ChannelStatistics(c);
            Cache.AddOrUpdate(x.Buffer, cached);
        }
        Compute(x, n, c, area, cached);
        cached.Owner = x;
        cached.GradientKey = 0;
        return cached;
    }

    /// <summary>Mean and biased variance per channel: float sums per plane in a fixed order, double across planes.</summary>
    private static void Compute(Tensor x, int n, int c, int area, ChannelStatistics stats)
    {
        double count = (double)n * area;
        ParallelRanges.For(c, (long)n * c * area, (from, to) =>
        {
            var data = x.Span;
            for (int ch = from; ch < to; ch++)
            {
                double s = 0;
                for (int b = 0; b < n; b++) s += Reductions.Sum(data.Slice((b * c + ch) * area, area));
                double mu = s / count, q = 0;
                for (int b = 0; b < n; b++) q += Reductions.SumSquaredDeviation(data.Slice((b * c + ch) * area, area), (float)mu);
                stats.Mean[ch] = mu;
                stats.Variance[ch] = q / count;
            }
        });
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (n, c, area) = Geometry(call);
        var x = call.Input(0);
        var stats = StatisticsOf(x, n, c, area);
        var y = output.Span;
        if (call.Node.OutputIndex is 1 or 2)
        {
            float momentum = (float)call.Attr("momentum", 0.9);
            var running = call.Input(call.Node.OutputIndex == 1 ? 3 : 4).Span;
            var batch = call.Node.OutputIndex == 1 ? stats.Mean : stats.Variance;
            for (int ch = 0; ch < c; ch++) y[ch] = momentum * running[ch] + (1f - momentum) * (float)batch[ch];
            return;
        }
        double eps = call.Attr("epsilon", 1e-5);
        var scale = call.Input(1); var bias = call.Input(2);
        ParallelRanges.For(c, 2L * n * c * area, (from, to) =>
        {
            ReadOnlySpan<float> xs = x.Span, gamma = scale.Span, beta = bias.Span;
            var ys = output.Span;
            for (int ch = from; ch < to; ch++)
            {
                float inv = (float)(1.0 / Math.Sqrt(stats.Variance[ch] + eps)), mu = (float)stats.Mean[ch];
                float a = gamma[ch] * inv;
                for (int b = 0; b < n; b++)
                {
                    int o = (b * c + ch) * area;
                    Affine.ApplyCentered(xs.Slice(o, area), mu, xs.Slice(o, area), a, 0f, beta[ch], ys.Slice(o, area));
                }
            }
        });
    }

    public override unsafe void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (n, c, area) = Geometry(call);
        var x = call.Input(0);
        var stats = StatisticsOf(x, n, c, area);
        double eps = call.Attr("epsilon", 1e-5);
        double count = (double)n * area;
        fixed (float* pg = g)
        fixed (float* pgx = gradInput)
        {
            nint gp = (nint)pg, gxp = (nint)pgx;
            int length = g.Length;
            ulong key = GradientKey(g);
            if (stats.GradientKey != key)
            {
                ParallelRanges.For(c, 2L * n * c * area, (from, to) =>
                {
                    var xs = x.Span;
                    var gs = new ReadOnlySpan<float>((float*)gp, length);
                    for (int ch = from; ch < to; ch++)
                    {
                        float mu = (float)stats.Mean[ch];
                        double sumG = 0, sumGC = 0;
                        for (int b = 0; b < n; b++)
                        {
                            int o = (b * c + ch) * area;
                            sumG += Reductions.Sum(gs.Slice(o, area));
                            sumGC += Reductions.DotCentered(xs.Slice(o, area), mu, gs.Slice(o, area));
                        }
                        stats.SumG[ch] = sumG; stats.SumGCentered[ch] = sumGC;
                    }
                });
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
            var scale = call.Input(1);
            ParallelRanges.For(c, 3L * n * c * area, (from, to) =>
            {
                var xs = x.Span;
                var gs = new ReadOnlySpan<float>((float*)gp, length);
                var dx = new Span<float>((float*)gxp, length);
                for (int ch = from; ch < to; ch++)
                {
                    // dx = γ·inv/M · (M·g − Σg − x̂·Σ(g·x̂)) = a·(x − μ) + b·g + k, with x̂ = (x − μ)·inv.
                    double inv = 1.0 / Math.Sqrt(stats.Variance[ch] + eps), gamma = scale.Span[ch];
                    float a = (float)(-gamma * inv * inv * inv * stats.SumGCentered[ch] / count);
                    float b = (float)(gamma * inv);
                    float k = (float)(-gamma * inv * stats.SumG[ch] / count);
                    float mu = (float)stats.Mean[ch];
                    for (int i = 0; i < n; i++)
                    {
                        int o = (i * c + ch) * area;
                        Affine.ApplyCentered(xs.Slice(o, area), mu, gs.Slice(o, area), a, b, k, dx.Slice(o, area));
                    }
                }
            });
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
