using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
using Recompute.Planner.Devices;
using Recompute.Planner.Units;
using Recompute.Runtime.Execution;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>recompute device [NAME|FILE]</c>: the device profiles that turn FLOPs and bytes into seconds. Without a name, the
/// list; with one, its rates; <c>--measure</c> measures this machine's <c>cpu</c> profile again.
/// </summary>
public sealed class DeviceCommand : CliCommand
{
    private readonly Argument<string?> _name = new("device") { Description = "a device name or a profile file (default: list them)",
        Arity = ArgumentArity.ZeroOrOne };
    private readonly Option<bool> _measure = new("--measure") { Description = "measure this machine's cpu profile now and cache it (a few seconds)" };
    private readonly Option<string> _format = CliOptions.Format();

    public DeviceCommand() : base("device", "device profiles: list them, show one, or measure this CPU (--measure)",
        "device [NAME|FILE] [--measure] [options]",
        "A profile turns each operation's FLOPs and bytes into seconds: max(FLOPs / achieved FLOP/s, bytes / achieved bandwidth) + a fixed cost " +
        "per kernel. --format json prints a profile in the file format that --device FILE reads (docs/device-profiles.md).")
    {
        Arguments.Add(_name);
        Add(_measure, _format);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        var stdout = context.Stdout;
        string? name = parse.GetValue(_name);
        bool measure = parse.GetValue(_measure);
        if (measure && name is not null && !DeviceProfiles.IsCpu(name))
            throw new UsageException($"--measure measures this machine's cpu profile; '{Planner.Files.TerminalText.Escape(name)}' is not measured here");
        if (name is null && !measure)
        {
            var table = new ColumnTable("device", "what");
            table.Add(DeviceProfile.FlopModel, "no device: times are FLOP counts (the model of earlier plans)");
            table.Add(DeviceProfiles.CpuName, $"this machine's CPU as the runtime uses it, measured once and cached ({CpuProfile.CachePath()})");
            foreach (var p in DeviceProfiles.Gpus) table.Add(p.Name, p.Description);
            table.WriteTo(stdout, context.Interactive, false, true);
            return ExitCodes.Success;
        }
        DeviceProfile? profile;
        if (measure)
        {
            long start = Stopwatch.GetTimestamp();
            profile = CpuProfile.LoadOrMeasure(out _, remeasure: true, cancellation: context.Cancellation);
            context.Stderr.WriteLine($"recompute device: measured this CPU in {Stopwatch.GetElapsedTime(start).TotalSeconds:0.0} s; cached in {Planner.Files.TerminalText.Escape(CpuProfile.CachePath())}");
        }
        else profile = DeviceChoice.Resolve(name!, "device", context.Stderr, context.Cancellation);
        if (profile is null)
        {
            stdout.WriteLine("flop: no device; times are the cost model's FLOP counts (docs/device-profiles.md)");
            return ExitCodes.Success;
        }
        if (parse.GetValue(_format) == "json")
        {
            stdout.Write(DeviceProfileFile.Format(profile));
            return ExitCodes.Success;
        }
        var ci = CultureInfo.InvariantCulture;
        var head = new TextTable().Row("device", profile.Name);
        if (profile.Description.Length > 0) head.Row("what", profile.Description);
        if (profile.MemoryBytes is { } m) head.Row("memory", ByteSize.Format(m));
        head.Row("fixed cost", string.Create(ci, $"{profile.FixedSecondsPerOp * 1e6:0.0} µs per kernel"));
        if (profile.Classes.Count == 0)
            head.Row("achieved", string.Create(ci,
                $"{profile.ComputeFraction:P0} of the FLOP peaks, {profile.BandwidthFraction:P0} of {profile.Bandwidth / 1e9:0} GB/s"));
        if (profile.HostLink is { } link) head.Row("host link", string.Create(ci,
            $"{link.BytesPerSecond / 1e9:0.0} GB/s per direction, {link.LatencySeconds * 1e6:0} µs a transfer"));
        foreach (var (k, v) in profile.Metadata.Where(kv => kv.Key == "measured")) head.Row(k, v);
        head.WriteTo(stdout, context.Interactive);
        stdout.WriteLine();
        var rates = new ColumnTable("kernel", "fp32 GFLOP/s", "GB/s", "backward GFLOP/s", "backward GB/s");
        foreach (var cls in Enum.GetValues<CostClass>().Where(c => c != CostClass.Free))
        {
            var (f, b) = profile.RatesFor(cls, "float32", backward: false);
            var (bf, bb) = profile.RatesFor(cls, "float32", backward: true);
            static string G(double v) => v > 0 ? (v / 1e9).ToString(v >= 1e11 ? "0" : "0.0", CultureInfo.InvariantCulture) : "-";
            rates.Add(DeviceProfileFile.ClassName(cls), G(f), G(b), G(bf), G(bb));
        }
        rates.WriteTo(stdout, context.Interactive, false, true);
        return ExitCodes.Success;
    }
}
