using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>Updates parameters from their accumulated gradients after a training step.</summary>
public interface IOptimizer
{
    /// <summary>Applies one update to every parameter that received a gradient in the last step.</summary>
    void Update(ModelState model);

    /// <summary>A new optimizer with the same settings and no state (for a second model trained side by side).</summary>
    IOptimizer Fresh();
}

/// <summary>Stochastic gradient descent with (heavy-ball) momentum and L2 weight decay.</summary>
public sealed class Sgd(double learningRate, double momentum = 0.9, double weightDecay = 0) : IOptimizer
{
    private readonly Dictionary<int, Tensor> _velocity = [];

    public double LearningRate { get; } = learningRate;
    public double Momentum { get; } = momentum;
    public double WeightDecay { get; } = weightDecay;

    public IOptimizer Fresh() => new Sgd(LearningRate, Momentum, WeightDecay);

    public void Update(ModelState model)
    {
        float lr = (float)LearningRate, mu = (float)Momentum, wd = (float)WeightDecay;
        foreach (var p in model.Parameters)
        {
            if (!model.HasGradient(p)) continue;
            var w = model.Value(p).Span; var g = model.Gradient(p).Span;
            if (mu == 0f)
            {
                for (int i = 0; i < w.Length; i++) w[i] -= lr * (g[i] + wd * w[i]);
                continue;
            }
            if (!_velocity.TryGetValue(p, out var vt)) _velocity[p] = vt = model.Arena.Allocate(MemoryCategory.OptimizerState, model.Value(p).Shape);
            var v = vt.Span;
            for (int i = 0; i < w.Length; i++)
            {
                v[i] = mu * v[i] + g[i] + wd * w[i];
                w[i] -= lr * v[i];
            }
        }
    }
}

/// <summary>Adam (Kingma and Ba) with bias correction.</summary>
public sealed class Adam(double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : IOptimizer
{
    private readonly Dictionary<int, (Tensor M, Tensor V)> _moments = [];
    private int _t;

    public double LearningRate { get; } = learningRate;
    public double Beta1 { get; } = beta1;
    public double Beta2 { get; } = beta2;
    public double Epsilon { get; } = epsilon;

    public IOptimizer Fresh() => new Adam(LearningRate, Beta1, Beta2, Epsilon);

    public void Update(ModelState model)
    {
        _t++;
        float b1 = (float)Beta1, b2 = (float)Beta2, eps = (float)Epsilon;
        float c1 = (float)(1 - Math.Pow(Beta1, _t)), c2 = (float)(1 - Math.Pow(Beta2, _t)), lr = (float)LearningRate;
        foreach (var p in model.Parameters)
        {
            if (!model.HasGradient(p)) continue;
            var w = model.Value(p).Span; var g = model.Gradient(p).Span;
            if (!_moments.TryGetValue(p, out var mv))
                _moments[p] = mv = (model.Arena.Allocate(MemoryCategory.OptimizerState, model.Value(p).Shape),
                    model.Arena.Allocate(MemoryCategory.OptimizerState, model.Value(p).Shape));
            var m = mv.M.Span; var v = mv.V.Span;
            for (int i = 0; i < w.Length; i++)
            {
                m[i] = b1 * m[i] + (1f - b1) * g[i];
                v[i] = b2 * v[i] + (1f - b2) * g[i] * g[i];
                w[i] -= lr * (m[i] / c1) / (MathF.Sqrt(v[i] / c2) + eps);
            }
        }
    }
}
