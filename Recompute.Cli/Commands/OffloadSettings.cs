using System.CommandLine;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Devices;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>--offload [BANDWIDTH]</c> and <c>--host-memory B</c>: plan with offloading to host memory. Without a value the
/// link is the device profile's <c>hostLink</c>; the <c>cpu</c> profile, which has none, gets a copy within memory at half
/// its measured copy rate (a copy reads and writes every byte). A bandwidth ("25GB/s") keeps the profile's latency, or
/// 10 µs.
/// </summary>
internal sealed class OffloadSettings
{
    /// <summary>Latency of one transfer when the bandwidth is given and the profile has no link.</summary>
    public const double DefaultLatencySeconds = 10e-6;

    public Option<string?> Offload { get; } = new("--offload")
    {
        Description = "plan with offloading to host memory over a link of this bandwidth per direction (\"25GB/s\"); without a value, the device profile's host link",
        HelpName = "BANDWIDTH",
        Arity = ArgumentArity.ZeroOrOne,
    };

    /// <summary>
    /// Moves <c>--offload</c> past the words after it that are not a bandwidth (a graph or schedule file), so that
    /// <c>plan --offload model.onnx</c> plans model.onnx with the profile's link: the option's value is optional, and the
    /// parser would otherwise take the file as the bandwidth. A bandwidth starts with a digit or a decimal point.
    /// </summary>
    public static string[] SeparateOptionalValue(string[] args)
    {
        var result = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--") { result.AddRange(args[i..]); break; }
            if (args[i] != "--offload") { result.Add(args[i]); continue; }
            int j = i + 1;
            while (j < args.Length && args[j].Length > 0 && args[j][0] != '-' && !char.IsAsciiDigit(args[j][0]) && args[j][0] != '.')
                result.Add(args[j++]);
            result.Add("--offload");
            i = j - 1;
        }
        return [.. result];
    }

    public Option<SizeValue?> HostMemory { get; } = CliOptions.Size("--host-memory", "host memory for offloaded values (with --offload; default: unlimited)", allowPercent: false);

    public void AddTo(Command command)
    {
        command.Options.Add(Offload);
        command.Options.Add(HostMemory);
    }

    /// <summary>True when <c>--offload</c> is on the command line (with or without a value).</summary>
    public bool Given(ParseResult parse) => parse.GetResult(Offload) is { Implicit: false };

    /// <summary>The options, or null without <c>--offload</c>.</summary>
    /// <param name="profile">The device profile the graph's seconds come from (null: none).</param>
    /// <exception cref="UsageException">A bad bandwidth, no link to take, or <c>--host-memory</c> without <c>--offload</c>.</exception>
    public OffloadOptions? Read(ParseResult parse, DeviceProfile? profile)
    {
        if (!Given(parse))
        {
            if (parse.GetValue(HostMemory) is not null) throw new UsageException("--host-memory applies with --offload only");
            return null;
        }
        var text = parse.GetValue(Offload);
        HostLink link = string.IsNullOrWhiteSpace(text) ? ProfileLink(profile)
            : new HostLink(ParseBandwidth(text), profile?.HostLink?.LatencySeconds ?? DefaultLatencySeconds) { Blocking = DeviceProfiles.IsCpu(profile?.Name) };
        long host = parse.GetValue(HostMemory) is { } h ? h.Resolve(() => throw new UsageException("--host-memory is a size, not a percentage")) : SolverOptions.UnlimitedBudget;
        return new OffloadOptions(link) { HostBudgetBytes = host };
    }

    /// <summary>The link of a profile; the CPU's is a copy within memory, made on the step's own thread (blocking).</summary>
    public static HostLink ProfileLink(DeviceProfile? profile)
    {
        if (profile?.HostLink is { } link) return link;
        if (profile is not null && DeviceProfiles.IsCpu(profile.Name))
        {
            double copy = profile.Classes.TryGetValue(CostClass.DataMovement, out var rates) && rates.BytesPerSecond > 0
                ? rates.BytesPerSecond : profile.Bandwidth * profile.BandwidthFraction;
            if (copy > 0) return new HostLink(copy / 2, 0) { Blocking = true };
        }
        throw new UsageException(profile is null
            ? "--offload without a bandwidth takes the device profile's host link, and no device profile is in use: give --offload BANDWIDTH (\"25GB/s\") or --device"
            : $"--offload without a bandwidth takes the device profile's host link, and '{Recompute.Planner.Files.TerminalText.Escape(profile.Name)}' has none: give --offload BANDWIDTH (\"25GB/s\")");
    }

    /// <summary>"25GB/s", "25GB", "2.5e10": bytes per second.</summary>
    public static double ParseBandwidth(string text)
    {
        var t = text.Trim();
        if (t.EndsWith("/s", StringComparison.OrdinalIgnoreCase)) t = t[..^2];
        try { return ByteSize.Parse(t); }
        catch (FormatException)
        {
            throw new UsageException($"--offload: '{Recompute.Planner.Files.TerminalText.Escape(text)}' is not a bandwidth (bytes per second: \"25GB/s\", \"32GiB/s\")");
        }
    }

    /// <summary>"50.4 GB/s, 10 µs a transfer".</summary>
    public static string Describe(HostLink link) =>
        string.Create(CultureInfo.InvariantCulture, $"{link.BytesPerSecond / 1e9:0.0} GB/s per direction, {link.LatencySeconds * 1e6:0.#} µs a transfer");
}
