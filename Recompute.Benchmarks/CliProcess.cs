using System.Diagnostics;

namespace Recompute.Benchmarks;

/// <summary>
/// The Release build of the command line run as its own process, as a user runs it: the tables that state a whole
/// command's seconds (graph reading, planning and writing included) measure them this way.
/// </summary>
internal static class CliProcess
{
    /// <summary>The Release build of the command line, or null.</summary>
    public static string? Binary()
    {
        var bin = Path.Combine(RepositoryPaths.Root, "Recompute.Cli", "bin", "Release", "net10.0");
        if (!Directory.Exists(bin)) return null;
        return Directory.EnumerateFiles(bin, "recompute", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).FirstOrDefault();
    }

    /// <summary>Runs the command line; wall seconds, peak RSS in MB and processor seconds (from /usr/bin/time), and
    /// the plan's status from its JSON.</summary>
    public static (double Seconds, long? PeakMb, double? CpuSeconds, string Status) Run(string cli, string[] args)
    {
        bool timed = File.Exists("/usr/bin/time");
        var start = new ProcessStartInfo(timed ? "/usr/bin/time" : cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (timed) { start.ArgumentList.Add("-f"); start.ArgumentList.Add("maxrss-kb %M\ncpu-s %U %S"); start.ArgumentList.Add(cli); }
        foreach (var a in args) start.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        double seconds = clock.Elapsed.TotalSeconds;
        long? mb = null;
        double? cpu = null;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        foreach (var line in stderr.Split('\n'))
        {
            if (line.StartsWith("maxrss-kb ", StringComparison.Ordinal) && long.TryParse(line[10..], out long kb)) mb = kb >> 10;
            if (line.StartsWith("cpu-s ", StringComparison.Ordinal) && line[6..].Split(' ') is [var user, var sys]
                && double.TryParse(user, inv, out double u) && double.TryParse(sys, inv, out double k)) cpu = u + k;
        }
        var status = System.Text.RegularExpressions.Regex.Match(stdout.Result,
            "\"status\": \"([A-Z_]+)\"") is { Success: true } m ? m.Groups[1].Value : $"exit {p.ExitCode}";
        return (seconds, mb, cpu, status);
    }
}
