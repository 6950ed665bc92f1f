using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Recompute.Planner.Devices;
using Recompute.Runtime.Execution;

namespace Recompute.Tests.Support;

/// <summary>
/// The environment every test (and every child <c>recompute</c> process) runs in: the <c>cpu</c> device profile comes
/// from a cache folder of this run holding <see cref="FixedCpu"/>, so that plans on the default device are the same on
/// every machine and no test measures the machine unless it means to.
/// </summary>
internal static class TestEnvironment
{
    /// <summary>The cache folder of this test run.</summary>
    public static string CacheFolder { get; } = Path.Combine(Path.GetTempPath(), $"recompute-tests-{Environment.ProcessId}");

#pragma warning disable CA2255 // the test assembly's own set-up, before any test runs
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize()
    {
        Directory.CreateDirectory(CacheFolder);
        Environment.SetEnvironmentVariable(CpuProfile.CacheVariable, CacheFolder);
        // One file per kernel thread count a test may set (train --threads, calibrate --threads), none measured.
        foreach (int threads in Enumerable.Range(1, Math.Max(8, Environment.ProcessorCount)))
            File.WriteAllText(CpuProfile.CachePath(threads), DeviceProfileFile.Format(FixedCpu(threads)));
        DeleteAtExit(CacheFolder);
    }

    /// <summary>Deletes a folder of this test run when the test process exits (what cannot be deleted then stays).</summary>
    public static void DeleteAtExit(string folder) =>
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        };

    /// <summary>
    /// A fixed CPU profile of the order this project's 2-core test machines measure (GEMM and convolution at about
    /// 150 GFLOP/s, streaming kernels at a few GB/s), keyed to this machine so that it is read as measured.
    /// </summary>
    public static DeviceProfile FixedCpu(int? threads = null)
    {
        ClassRates Compute(double flops, double backward) => new(flops, 10e9, backward, 10e9);
        ClassRates Stream(double bytes, double backward) => new(0, bytes, 0, backward);
        return new DeviceProfile
        {
            Name = DeviceProfiles.CpuName,
            Description = "the tests' fixed CPU profile",
            MemoryBytes = 16L << 30,
            FixedSecondsPerOp = 1e-6,
            Classes = ImmutableSortedDictionary.CreateRange(new Dictionary<CostClass, ClassRates>
            {
                [CostClass.MatMul] = Compute(150e9, 120e9),
                [CostClass.Conv] = Compute(140e9, 100e9),
                [CostClass.GroupedConv] = Stream(2e9, 1e9),
                [CostClass.Elementwise] = Stream(15e9, 12e9),
                [CostClass.Activation] = Stream(3e9, 3e9),
                [CostClass.Transcendental] = Stream(1e9, 1.5e9),
                [CostClass.Normalization] = Stream(3e9, 4e9),
                [CostClass.Softmax] = Stream(2e9, 4e9),
                [CostClass.Pooling] = Stream(1.5e9, 2e9),
                [CostClass.Reduction] = Stream(8e9, 6e9),
                [CostClass.DataMovement] = Stream(3e9, 5e9),
            }),
            Metadata = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new[] { new KeyValuePair<string, string>("key",
                threads is { } t ? CpuProfile.MachineKey(t) : CpuProfile.MachineKey()) }),
        };
    }
}
