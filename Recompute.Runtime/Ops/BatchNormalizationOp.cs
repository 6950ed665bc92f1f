using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// BatchNormalization in training mode: normalises with the batch statistics over N and the spatial dimensions.
/// Inputs X, scale, B, input_mean, input_var; output 0 is Y, outputs 1 and 2 the updated running mean and
/// variance (<c>momentum</c>·running + (1 − momentum)·batch). The backward reads X (the statistics are recomputed
/// in scratch) and the resident scale.
/// </summary>
internal sealed class BatchNormalizationOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => node.OutputIndex == 0 && operand is 0 or 1 or 2;

    private static (int N, int C, int Area) Geometry(OpCall call)
    {
        var x = call.InputShape(0);
        return (x[0], x.Length > 1 ? x[1] : 1, Product(x, 2, x.Length));
    }

    /// <summary>Batch mean and biased variance per channel, accumulated in double in a fixed order.</summary>
    private static void Statistics(ReadOnlySpan<float> x, int n, int c, int area, Span<double> mean, Span<double> variance)
    {
        double count = (double)n * area;
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0;
            for (int b = 0; b < n; b++)
                foreach (var v in x.Slice((b * c + ch) * area, area)) s += v;
            double mu = s / count, q = 0;
            for (int b = 0; b < n; b++)
                foreach (var v in x.Slice((b * c + ch) * area, area)) { double d = v - mu; q += d * d; }
            mean[ch] = mu; variance[ch] = q / count;
        }
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (n, c, area) = Geometry(call);
        var x = call.Input(0).Span; var y = output.Span;
        var mean = new double[c]; var variance = new double[c];
        Statistics(x, n, c, area, mean, variance);
        if (call.Node.OutputIndex is 1 or 2)
        {
            float momentum = (float)call.Attr("momentum", 0.9);
            var running = call.Input(call.Node.OutputIndex == 1 ? 3 : 4).Span;
            var batch = call.Node.OutputIndex == 1 ? mean : variance;
            for (int ch = 0; ch < c; ch++) y[ch] = momentum * running[ch] + (1f - momentum) * (float)batch[ch];
            return;
        }
        double eps = call.Attr("epsilon", 1e-5);
        var scale = call.Input(1).Span; var bias = call.Input(2).Span;
        for (int ch = 0; ch < c; ch++)
        {
            float inv = (float)(1.0 / Math.Sqrt(variance[ch] + eps)), mu = (float)mean[ch];
            float a = scale[ch] * inv, b0 = bias[ch] - mu * a;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * area;
                for (int i = 0; i < area; i++) y[o + i] = x[o + i] * a + b0;
            }
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (n, c, area) = Geometry(call);
        var x = call.Input(0).Span;
        var mean = new double[c]; var variance = new double[c];
        Statistics(x, n, c, area, mean, variance);
        double eps = call.Attr("epsilon", 1e-5);
        double count = (double)n * area;
        for (int ch = 0; ch < c; ch++)
        {
            double inv = 1.0 / Math.Sqrt(variance[ch] + eps), mu = mean[ch];
            double sumG = 0, sumGX = 0;
            for (int b = 0; b < n; b++)
            {
                int o = (b * c + ch) * area;
                for (int i = 0; i < area; i++) { sumG += g[o + i]; sumGX += g[o + i] * ((x[o + i] - mu) * inv); }
            }
            switch (operand)
            {
                case 1: gradInput[ch] = (float)sumGX; break;
                case 2: gradInput[ch] = (float)sumG; break;
                default:
                {
                    // dx = γ·inv/M · (M·g − Σg − x̂·Σ(g·x̂))
                    double gamma = call.Input(1).Span[ch], k = gamma * inv / count;
                    for (int b = 0; b < n; b++)
                    {
                        int o = (b * c + ch) * area;
                        for (int i = 0; i < area; i++)
                        {
                            double xh = (x[o + i] - mu) * inv;
                            gradInput[o + i] = (float)(k * (count * g[o + i] - sumG - xh * sumGX));
                        }
                    }
                    break;
                }
            }
        }
    }
}
