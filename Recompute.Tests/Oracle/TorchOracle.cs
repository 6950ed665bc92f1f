using System.Collections.Concurrent;
using System.Diagnostics;
using Recompute.Runtime.Data;

namespace Recompute.Tests.Oracle;

/// <summary>
/// PyTorch (Debian's python3-torch under <c>/usr/bin/python3</c>) as a gradient oracle: <c>torch_oracle.py</c> exports a
/// module to ONNX in training mode with its weights and writes one training step's loss and gradients (float32 and
/// float64) for the same batch. Each case is exported once per test run.
/// </summary>
internal static class TorchOracle
{
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<string?> MissingReason = new(Probe);
    private static readonly ConcurrentDictionary<string, Lazy<(string Onnx, Dictionary<string, NamedArray> Arrays)>> Exports = new();
    private static readonly string Directory = Path.Combine(Path.GetTempPath(), $"recompute-torch-oracle-{Environment.ProcessId}");

    /// <summary>Why the oracle cannot run here (the skip reason of its tests), or null when it can.</summary>
    public static string? Missing => MissingReason.Value;

    private static string? Probe()
    {
        if (!File.Exists(Python)) return $"{Python} is absent: apt-get install python3-torch python3-torchvision python3-onnx python3-numpy";
        var (code, output) = Run("-c \"import torch, torchvision, onnx, numpy\"");
        return code == 0 ? null : $"{Python} cannot import torch, torchvision, onnx and numpy ({output.Trim()}): apt-get install python3-torch python3-torchvision python3-onnx python3-numpy";
    }

    /// <summary>The ONNX file of <paramref name="name"/> and its arrays (batch, loss, gradients, see torch_oracle.py).</summary>
    public static (string Onnx, Dictionary<string, NamedArray> Arrays) Export(string name) =>
        Exports.GetOrAdd(name, n => new Lazy<(string, Dictionary<string, NamedArray>)>(() =>
        {
            lock (Exports)
            {
                if (!System.IO.Directory.Exists(Directory))
                {
                    System.IO.Directory.CreateDirectory(Directory);
                    // ResNet-18's export and gradients are some 200 MB: gone with the test process.
                    Support.TestEnvironment.DeleteAtExit(Directory);
                }
            }
            string script = Path.Combine(Support.Paths.RepoRoot, "Recompute.Tests", "Oracle", "torch_oracle.py");
            var (code, output) = Run($"\"{script}\" {n} \"{Directory}\"");
            if (code != 0) throw new InvalidOperationException($"torch_oracle.py {n} failed ({code}): {output}");
            var arrays = Npz.Read(Path.Combine(Directory, n + ".npz")).ToDictionary(a => a.Name, StringComparer.Ordinal);
            return (Path.Combine(Directory, n + ".onnx"), arrays);
        })).Value;

    private static (int Code, string Output) Run(string arguments)
    {
        var start = new ProcessStartInfo(Python, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    /// <summary>‖a − b‖₂ / ‖b‖₂ (0 when both are zero).</summary>
    public static double NormRelative(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) return double.PositiveInfinity;
        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = (double)a[i] - b[i];
            diff += d * d; norm += (double)b[i] * b[i];
        }
        return diff == 0 ? 0 : Math.Sqrt(diff / norm);
    }

    /// <summary>‖a − b‖₂.</summary>
    public static double NormAbsolute(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double diff = 0;
        for (int i = 0; i < a.Length; i++) diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        return Math.Sqrt(diff);
    }

    /// <summary>max_i |a_i − b_i| / |b_i|: the element-wise relative difference (what a parameter-by-parameter comparison reports).</summary>
    public static double ElementRelative(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double worst = 0;
        for (int i = 0; i < a.Length; i++)
            if (a[i] != b[i]) worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]) / Math.Abs((double)b[i]));
        return worst;
    }
}

/// <summary>A fact that needs the PyTorch oracle: skipped, with the reason shown, where <c>/usr/bin/python3</c> has no torch.</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public TorchFactAttribute()
    {
        if (TorchOracle.Missing is { } reason) Skip = reason;
    }
}
