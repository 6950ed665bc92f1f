using System.Diagnostics;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Runtime.Execution;

namespace Recompute.Cli.Commands;

/// <summary>
/// The device whose seconds a command plans in: <c>--device NAME|FILE</c>, else the <c>RECOMPUTE_DEVICE</c>
/// environment variable, else <c>cpu</c> (this machine, measured once and cached). <c>flop</c> keeps the FLOP model.
/// </summary>
public static class DeviceChoice
{
    /// <summary>The environment variable that sets the default device.</summary>
    public const string Variable = "RECOMPUTE_DEVICE";

    /// <summary>The device used when the command line names none: the variable's value, else <c>cpu</c>.</summary>
    public static string DefaultName(string? variable) => string.IsNullOrWhiteSpace(variable) ? DeviceProfiles.CpuName : variable.Trim();

    /// <summary>The default as this process sees it.</summary>
    public static string DefaultName() => DefaultName(Environment.GetEnvironmentVariable(Variable));

    public static string Help { get; } =
        $"the device whose seconds plans minimise: {string.Join(", ", DeviceProfiles.Names)}, or a profile file (docs/device-profiles.md) " +
        $"[default: ${Variable}, else cpu: this machine, measured once]";

    /// <summary>
    /// The profile a name stands for, or null for the FLOP model. Measuring the CPU says so on <paramref name="notes"/>
    /// (stderr), with the time it took and where the profile is cached.
    /// </summary>
    /// <exception cref="UsageException">Neither a device name nor an existing file.</exception>
    /// <param name="context">Where given, a measurement is left out of the command's time (<see cref="CommandContext.ExcludeSetup"/>).</param>
    public static DeviceProfile? Resolve(string name, string command, TextWriter notes, CancellationToken cancellation, CommandContext? context = null)
    {
        if (string.Equals(name, DeviceProfile.FlopModel, StringComparison.OrdinalIgnoreCase)) return null;
        if (DeviceProfiles.IsCpu(name))
        {
            long start = Stopwatch.GetTimestamp();
            var threadAtStart = CommandStop.ThreadTime();
            var profile = CpuProfile.LoadOrMeasure(out bool measured, cancellation: cancellation);
            if (measured) context?.ExcludeSetup(Stopwatch.GetElapsedTime(start), CommandStop.ThreadTime() - threadAtStart);
            if (measured)
                notes.WriteLine($"recompute {command}: measured this CPU for the 'cpu' device profile in {Stopwatch.GetElapsedTime(start).TotalSeconds:0.0} s " +
                    $"(once; cached in {Recompute.Planner.Files.TerminalText.Escape(CpuProfile.CachePath())})");
            return profile;
        }
        if (DeviceProfiles.Find(name) is { } shipped) return shipped;
        if (File.Exists(name) || Directory.Exists(name) || name.EndsWith(".json",
            StringComparison.OrdinalIgnoreCase)) return DeviceProfileFile.Load(name);
        throw new UsageException($"--device must be one of {string.Join(", ", DeviceProfiles.Names)} or a profile file, not '{Recompute.Planner.Files.TerminalText.Escape(name)}'" +
            Suggestions.DidYouMean(name, DeviceProfiles.Names));
    }

    /// <summary>The graph in the profile's seconds, when the profile applies to it (FLOP-model graphs with shapes).</summary>
    public static ComputationGraph Apply(DeviceProfile? profile, ComputationGraph graph) => profile is null ? graph : profile.Apply(graph);
}
