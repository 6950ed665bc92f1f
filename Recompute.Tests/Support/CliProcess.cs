using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Recompute.Tests.Support;

/// <summary>
/// The <c>recompute</c> command run as a real child process (the build copies <c>recompute.dll</c> beside the tests),
/// for what an in-process run cannot show: exit codes after a signal, and what a killed process leaves on disk.
/// </summary>
public sealed class CliProcess : IDisposable
{
    public const int SigTerm = 15;
    public const int SigInt = 2;

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private CliProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public static CliProcess Start(params string[] args) => Start(new Dictionary<string, string>(), args);

    /// <summary>Starts the child with <paramref name="environment"/> added to this process's environment (a GC heap limit, say).</summary>
    public static CliProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var (k, v) in environment) info.Environment[k] = v;
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "recompute.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var child = new CliProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (child._stdout) child._stdout.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child._stderr) child._stderr.Append(e.Data).Append('\n'); };
        StartWithDefaultSigInt(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private static readonly Lock StartGate = new();

    /// <summary>
    /// Starts the child with SIGINT at its default disposition. A disposition of SIG_IGN is inherited across fork
    /// and exec, and a .NET process that starts with SIGINT ignored keeps ignoring it (as a shell's background job
    /// should): when the test host runs with SIGINT ignored (a background CI job), the child would never see the
    /// Ctrl-C the test sends. Only SIG_IGN is changed here and put back; a handler of this process's runtime is
    /// reset for the child by Process.Start itself.
    /// </summary>
    private static void StartWithDefaultSigInt(Process process)
    {
        lock (StartGate)
        {
            bool ignored = SigIntIgnoredHere();
            if (ignored) SetSignal(SigInt, SigDfl);
            try { process.Start(); }
            finally { if (ignored) SetSignal(SigInt, SigIgn); }
        }
    }

    private const nint SigDfl = 0, SigIgn = 1;

    private static bool SigIntIgnoredHere()
    {
        var line = File.ReadAllLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (SigInt - 1))) != 0;
    }

    [DllImport("libc", EntryPoint = "signal", SetLastError = true)]
    private static extern nint SetSignal(int signal, nint handler);

    /// <summary>The <c>dotnet</c> host that runs this test process (the SDK sets DOTNET_HOST_PATH; otherwise found from
    /// the runtime folder).</summary>
    internal static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        // <root>/shared/Microsoft.NETCore.App/<version>/ → <root>/dotnet
        var runtime = new DirectoryInfo(RuntimeEnvironment.GetRuntimeDirectory());
        var root = runtime.Parent?.Parent?.Parent;
        if (root is not null && File.Exists(Path.Combine(root.FullName, "dotnet"))) return Path.Combine(root.FullName, "dotnet");
        return "dotnet";
    }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public bool HasExited => _process.HasExited;

    /// <summary>Sends a POSIX signal to the child (and only to it).</summary>
    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The line of /proc/&lt;pid&gt;/status about signals (SigBlk, SigIgn, SigCgt), to explain a failure.</summary>
    public string SignalState()
    {
        try
        {
            return string.Join(" ", File.ReadAllLines($"/proc/{_process.Id}/status").Where(l => l.StartsWith("Sig", StringComparison.Ordinal)));
        }
        catch (IOException) { return "(exited)"; }
    }

    /// <summary>Waits for the exit and returns the exit code; fails the test if the child does not exit in time.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
            throw new TimeoutException($"recompute did not exit within {timeout.TotalSeconds} s ({SignalState()}); stderr so far: {Stderr}");
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(); }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
