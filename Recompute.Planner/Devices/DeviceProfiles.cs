using System.Collections.Immutable;

namespace Recompute.Planner.Devices;

/// <summary>
/// The GPU profiles shipped with the planner, from the vendors' datasheets (dense figures, without structured
/// sparsity). No GPU is measured here: the achieved fractions are the usual shares that large GEMMs and streaming
/// kernels reach in eager PyTorch, stated in each profile and adjustable in a profile file.
/// </summary>
public static class DeviceProfiles
{
    private const double Tera = 1e12, Giga = 1e9;
    private const long GiB = 1L << 30;

    /// <summary>Fixed cost of a GPU kernel in eager execution: launch and framework dispatch, a few microseconds.</summary>
    private const double GpuKernelSeconds = 5e-6;

    /// <summary>PCIe 4.0 x16: 16 GT/s × 16 lanes, 128b/130b coding, about 31.5 GB/s per direction.</summary>
    private static readonly HostLink Pcie4 = new(31.5 * Giga * 0.8, 10e-6);
    /// <summary>PCIe 5.0 x16: 32 GT/s × 16 lanes, about 63 GB/s per direction.</summary>
    private static readonly HostLink Pcie5 = new(63 * Giga * 0.8, 10e-6);

    private static ImmutableSortedDictionary<string, double> Peaks(double fp32, double tf32, double bf16, double fp16) =>
        ImmutableSortedDictionary.CreateRange<string, double>(StringComparer.Ordinal, [new("fp32", fp32), new("tf32", tf32), new("bf16",
            bf16), new("fp16", fp16)]);

    private static DeviceProfile Gpu(string name, string description, long memory, double bandwidth, double vector,
        ImmutableSortedDictionary<string, double> peaks, HostLink link) =>
        new()
        {
            Name = name, Description = description, MemoryBytes = memory, Bandwidth = bandwidth, VectorFlops = vector,
            MatrixFlops = peaks, FixedSecondsPerOp = GpuKernelSeconds, HostLink = link, BandwidthFraction = 0.8, ComputeFraction = 0.6,
        };

    /// <summary>The shipped GPU profiles by name.</summary>
    public static IReadOnlyList<DeviceProfile> Gpus { get; } =
    [
        // NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5 TFLOPS, TF32 156, BF16/FP16 312 (dense); 40 GB HBM2 at
        // 1,555 GB/s (SXM); PCIe 4.0 host link.
        Gpu("a100-40gb", "NVIDIA A100 40 GB SXM (datasheet)", 40 * GiB, 1555 * Giga, 19.5 * Tera, Peaks(19.5 * Tera, 156 * Tera,
            312 * Tera, 312 * Tera), Pcie4),
        // Same datasheet: 80 GB HBM2e at 2,039 GB/s (SXM), the same compute.
        Gpu("a100-80gb", "NVIDIA A100 80 GB SXM (datasheet)", 80 * GiB, 2039 * Giga, 19.5 * Tera, Peaks(19.5 * Tera, 156 * Tera,
            312 * Tera, 312 * Tera), Pcie4),
        // NVIDIA H100 Tensor Core GPU datasheet, SXM: FP32 67 TFLOPS, TF32 494.5, BF16/FP16 989.5 (dense; the datasheet's
        // 989/1,979 are with sparsity); 80 GB HBM3 at 3.35 TB/s; PCIe 5.0 host link.
        Gpu("h100-sxm", "NVIDIA H100 SXM 80 GB (datasheet)", 80 * GiB, 3350 * Giga, 67 * Tera, Peaks(67 * Tera, 494.5 * Tera, 989.5 * Tera,
            989.5 * Tera), Pcie5),
        // Same datasheet, PCIe: FP32 51 TFLOPS, TF32 378, BF16/FP16 756 (dense); 80 GB HBM2e at 2.0 TB/s.
        Gpu("h100-pcie", "NVIDIA H100 PCIe 80 GB (datasheet)", 80 * GiB, 2000 * Giga, 51 * Tera, Peaks(51 * Tera, 378 * Tera, 756 * Tera,
            756 * Tera), Pcie5),
        // NVIDIA L4 datasheet: FP32 30.3 TFLOPS, TF32 60, BF16/FP16 121 (dense; 120/242 with sparsity); 24 GB GDDR6 at
        // 300 GB/s; PCIe 4.0 x16.
        Gpu("l4", "NVIDIA L4 24 GB (datasheet)", 24 * GiB, 300 * Giga, 30.3 * Tera, Peaks(30.3 * Tera, 60 * Tera, 121 * Tera, 121 * Tera), Pcie4),
        // NVIDIA Ada Lovelace architecture whitepaper, GeForce RTX 4090: FP32 82.6 TFLOPS, TF32 82.6, FP16/BF16 with
        // FP32 accumulation 165.2 (dense); 24 GB GDDR6X at 1,008 GB/s; PCIe 4.0 x16.
        Gpu("rtx-4090", "NVIDIA GeForce RTX 4090 24 GB (whitepaper)", 24 * GiB, 1008 * Giga, 82.6 * Tera, Peaks(82.6 * Tera, 82.6 * Tera,
            165.2 * Tera, 165.2 * Tera), Pcie4),
    ];

    /// <summary>The shipped profile of that name, or null.</summary>
    public static DeviceProfile? Find(string name) => Gpus.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Every name <c>--device</c> takes besides a file: the FLOP model, the measured CPU and the shipped GPUs.</summary>
    public static IReadOnlyList<string> Names { get; } = [DeviceProfile.FlopModel, CpuName, .. Gpus.Select(p => p.Name)];

    /// <summary>The name of the profile measured on this machine.</summary>
    public const string CpuName = "cpu";

    /// <summary>Whether a device name (a profile's, a graph's <see cref="Graph.ComputationGraph.Device"/>, a
    /// <c>--device</c> value) names the CPU profile, in any case.</summary>
    public static bool IsCpu(string? name) => string.Equals(name, CpuName, StringComparison.OrdinalIgnoreCase);
}
