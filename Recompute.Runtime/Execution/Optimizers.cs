using Recompute.Runtime.Data;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>Updates parameters from their accumulated gradients after a training step.</summary>
public interface IOptimizer
{
    /// <summary>Applies one update to every parameter that received a gradient in the last step.</summary>
    void Update(ModelState model);

    /// <summary>A new optimizer with the same settings and no state (for a second model trained side by side).</summary>
    IOptimizer Fresh();

    /// <summary>The optimizer's state (moments, step count) as named arrays, for a checkpoint.</summary>
    IReadOnlyList<NamedArray> ExportState(ModelState model) => throw new NotSupportedException($"{GetType().Name} cannot be checkpointed");

    /// <summary>Restores a state written by <see cref="ExportState"/> (replacing the current one).</summary>
    /// <exception cref="ArgumentException">The state does not fit the model (a name or shape differs).</exception>
    void ImportState(ModelState model,
        IReadOnlyList<NamedArray> state) => throw new NotSupportedException($"{GetType().Name} cannot be checkpointed");
}

/// <summary>The learning rate of each step (steps count from 1): constant, step decay, cosine, with linear warm-up.</summary>
public abstract class LearningRateSchedule
{
    /// <summary>The learning rate of step <paramref name="step"/> (1 for the first update).</summary>
    public abstract double At(int step);

    /// <summary>A constant rate.</summary>
    public static LearningRateSchedule Constant(double rate) => new Fn(_ => rate);

    /// <summary>The rate times <paramref name="factor"/> after every <paramref name="every"/> steps (step decay).</summary>
    public static LearningRateSchedule StepDecay(double rate, int every, double factor)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(every);
        return new Fn(step => rate * Math.Pow(factor, (step - 1) / every));
    }

    /// <summary>Cosine annealing from <paramref name="rate"/> at step 1 to <paramref name="minimum"/> at <paramref
    /// name="steps"/> (and after).</summary>
    public static LearningRateSchedule Cosine(double rate, int steps, double minimum = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        return new Fn(step => step >= steps ? minimum : minimum + (rate - minimum) * 0.5 * (1 + Math.Cos(Math.PI * (step - 1) / Math.Max(1,
            steps - 1))));
    }

    /// <summary>Linear warm-up over the first <paramref name="steps"/> steps (the rate of step 1 × step/steps), then
    /// this schedule, its steps counted from the end of the warm-up.</summary>
    public LearningRateSchedule WithWarmup(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        var after = this;
        return new Fn(step => step <= steps ? after.At(1) * step / (steps + 0.0) : after.At(step - steps));
    }

    private sealed class Fn(Func<int, double> f) : LearningRateSchedule
    {
        public override double At(int step) => f(step);
    }
}

/// <summary>Helpers the optimizers share: state arrays by parameter name.</summary>
internal static class OptimizerState
{
    public static NamedArray Array(string key, ModelState model, int p, Tensor t) => NamedArray.Of($"{key}/{model.Graph[p].Name}",
        t.Span.ToArray(), t.Shape);

    public static void Restore(ModelState model, IReadOnlyList<NamedArray> state, string key, Dictionary<int, Tensor> into)
    {
        foreach (var t in into.Values) t.Dispose();
        into.Clear();
        foreach (var a in state)
        {
            if (!a.Name.StartsWith(key + "/", StringComparison.Ordinal)) continue;
            string name = a.Name[(key.Length + 1)..];
            if (!model.Graph.TryFind(name, out int p) || !model.Parameters.Contains(p))
                throw new ArgumentException($"optimizer state '{a.Name}' names no parameter of graph '{model.Graph.Name}'");
            var shape = model.Value(p).Shape;
            if (a.Floats is null || !a.Shape.SequenceEqual(shape))
                throw new ArgumentException($"optimizer state '{a.Name}' is {a.DType}{a.ShapeText}, parameter '{name}' is float32[{string.Join(",", shape)}]");
            var t = model.Arena.Allocate(MemoryCategory.OptimizerState, shape);
            a.Floats.AsSpan().CopyTo(t.Span);
            into[p] = t;
        }
    }

    /// <summary>Refuses arrays of another optimizer's state (Adam's moments given to SGD would be dropped silently).</summary>
    public static void Expect(IReadOnlyList<NamedArray> state, string optimizer, params string[] keys)
    {
        foreach (var a in state)
            if (a.Name != "t" && !keys.Any(k => a.Name.StartsWith(k + "/", StringComparison.Ordinal)))
                throw new ArgumentException($"optimizer state '{a.Name}' is not {optimizer}'s (another optimizer wrote the checkpoint?)");
    }

    public static long Scalar(IReadOnlyList<NamedArray> state, string name) =>
        state.FirstOrDefault(a => a.Name == name)?.Longs is [var v] ? v : throw new ArgumentException($"optimizer state has no '{name}'");
}

/// <summary>Stochastic gradient descent with (heavy-ball) momentum and L2 weight decay.</summary>
public sealed class Sgd(double learningRate, double momentum = 0.9, double weightDecay = 0) : IOptimizer
{
    private readonly Dictionary<int, Tensor> _velocity = [];
    private int _t;

    public double LearningRate { get; } = learningRate;
    public double Momentum { get; } = momentum;
    public double WeightDecay { get; } = weightDecay;
    /// <summary>The learning rate per step; null: <see cref="LearningRate"/> throughout.</summary>
    public LearningRateSchedule? Schedule { get; init; }

    public IOptimizer Fresh() => new Sgd(LearningRate, Momentum, WeightDecay) { Schedule = Schedule };

    public void Update(ModelState model)
    {
        _t++;
        float lr = (float)(Schedule?.At(_t) ?? LearningRate), mu = (float)Momentum, wd = (float)WeightDecay;
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

    public IReadOnlyList<NamedArray> ExportState(ModelState model) =>
        [NamedArray.Of("t", [(long)_t]), .. _velocity.OrderBy(kv => kv.Key).Select(kv => OptimizerState.Array("velocity", model, kv.Key, kv.Value))];

    public void ImportState(ModelState model, IReadOnlyList<NamedArray> state)
    {
        OptimizerState.Expect(state, "SGD", "velocity");
        _t = checked((int)OptimizerState.Scalar(state, "t"));
        OptimizerState.Restore(model, state, "velocity", _velocity);
    }
}

/// <summary>
/// Adam (Kingma and Ba) with bias correction; with <see cref="DecoupledWeightDecay"/>, AdamW (Loshchilov and Hutter):
/// the weights decay by lr·wd·w apart from the adaptive step. Without it, weight decay is L2 added to the gradient.
/// </summary>
public class Adam(double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : IOptimizer
{
    private readonly Dictionary<int, Tensor> _m = [];
    private readonly Dictionary<int, Tensor> _v = [];
    private int _t;

    public double LearningRate { get; } = learningRate;
    public double Beta1 { get; } = beta1;
    public double Beta2 { get; } = beta2;
    public double Epsilon { get; } = epsilon;
    /// <summary>Weight decay coefficient (default 0).</summary>
    public double WeightDecay { get; init; }
    /// <summary>Decay weights apart from the adaptive step (AdamW) instead of adding wd·w to the gradient.</summary>
    public bool DecoupledWeightDecay { get; init; }
    /// <summary>The learning rate per step; null: <see cref="LearningRate"/> throughout.</summary>
    public LearningRateSchedule? Schedule { get; init; }

    public virtual IOptimizer Fresh() => new Adam(LearningRate, Beta1, Beta2, Epsilon) { WeightDecay = WeightDecay,
        DecoupledWeightDecay = DecoupledWeightDecay, Schedule = Schedule };

    public void Update(ModelState model)
    {
        _t++;
        var coefficients = new AdamCoefficients((float)Beta1, (float)Beta2, (float)Epsilon, (float)(1 - Math.Pow(Beta1, _t)),
            (float)(1 - Math.Pow(Beta2, _t)), (float)(Schedule?.At(_t) ?? LearningRate), (float)WeightDecay, DecoupledWeightDecay);
        foreach (var p in model.Parameters)
        {
            if (!model.HasGradient(p)) continue;
            var w = model.Value(p); var g = model.Gradient(p);
            if (!_m.TryGetValue(p, out var m))
            {
                _m[p] = m = model.Arena.Allocate(MemoryCategory.OptimizerState, w.Shape);
                _v[p] = model.Arena.Allocate(MemoryCategory.OptimizerState, w.Shape);
            }
            var v = _v[p];
            // Element-wise with the same bits on every path: any split across threads gives the serial result.
            ParallelRanges.For(w.Length, 7L * w.Length, new AdamRange(w, g, m, v, coefficients));
        }
    }

    private readonly struct AdamRange(Tensor w, Tensor g, Tensor m, Tensor v, AdamCoefficients coefficients) : IRangeBody
    {
        public void Run(int from, int to) =>
            AdamKernel.Update(w.Span[from..to], g.Span[from..to], m.Span[from..to], v.Span[from..to], coefficients);
    }

    public IReadOnlyList<NamedArray> ExportState(ModelState model) =>
    [
        NamedArray.Of("t", [(long)_t]),
        .. _m.OrderBy(kv => kv.Key).Select(kv => OptimizerState.Array("m", model, kv.Key, kv.Value)),
        .. _v.OrderBy(kv => kv.Key).Select(kv => OptimizerState.Array("v", model, kv.Key, kv.Value)),
    ];

    public void ImportState(ModelState model, IReadOnlyList<NamedArray> state)
    {
        OptimizerState.Expect(state, "Adam", "m", "v");
        _t = checked((int)OptimizerState.Scalar(state, "t"));
        OptimizerState.Restore(model, state, "m", _m);
        OptimizerState.Restore(model, state, "v", _v);
        if (!_m.Keys.Order().SequenceEqual(_v.Keys.Order())) throw new ArgumentException("optimizer state: the first and second moments name different parameters");
    }
}

/// <summary>AdamW: Adam with decoupled weight decay (default 0.01).</summary>
public sealed class AdamW : Adam
{
    public AdamW(double learningRate, double weightDecay = 0.01, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
        : base(learningRate, beta1, beta2, epsilon) { WeightDecay = weightDecay; DecoupledWeightDecay = true; }

    public override IOptimizer Fresh() => new AdamW(LearningRate, WeightDecay, Beta1, Beta2, Epsilon) { Schedule = Schedule };
}
