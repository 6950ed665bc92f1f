using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Recompute.Runtime.Data;

namespace Recompute.Tests.Oracle;

/// <summary>Runs an ONNX file through Microsoft.ML.OnnxRuntime (CPU, one thread, no graph rewrites that change numerics).</summary>
internal static class OrtOracle
{
    public static Dictionary<string, float[]> Run(string path, IEnumerable<NamedArray> inputs, IReadOnlyList<string>? outputs = null)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(path, options);
        var feeds = new List<NamedOnnxValue>();
        foreach (var a in inputs)
        {
            if (!session.InputMetadata.ContainsKey(a.Name)) continue;
            var dims = a.Shape.ToArray();
            feeds.Add(a.Floats is { } f
                ? NamedOnnxValue.CreateFromTensor(a.Name, new DenseTensor<float>(f, dims))
                : NamedOnnxValue.CreateFromTensor(a.Name, new DenseTensor<long>(a.Longs!, dims)));
        }
        using var results = outputs is null ? session.Run(feeds) : session.Run(feeds, outputs);
        var values = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var r in results)
        {
            values[r.Name] = r.Value switch
            {
                Tensor<float> t => t.ToArray(),
                Tensor<long> t => t.ToArray().Select(v => (float)v).ToArray(),
                Tensor<bool> t => t.ToArray().Select(v => v ? 1f : 0f).ToArray(),
                Tensor<double> t => t.ToArray().Select(v => (float)v).ToArray(),
                var other => throw new InvalidOperationException($"output '{r.Name}' of type {other?.GetType().Name}"),
            };
        }
        return values;
    }

    /// <summary>Largest |a − b| relative to max(|b|, the largest |b| of the tensor × 1e-3): a relative comparison that
    /// tiny elements cannot blow up.</summary>
    public static double RelativeDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) return double.PositiveInfinity;
        double scale = 0;
        foreach (var v in b) scale = Math.Max(scale, Math.Abs((double)v));
        double worst = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(d)) return double.PositiveInfinity;
            worst = Math.Max(worst, d / Math.Max(Math.Abs((double)b[i]), Math.Max(scale * 1e-3, 1e-30)));
        }
        return worst;
    }
}
