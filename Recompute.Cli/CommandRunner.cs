using Recompute.Planner.Graph;

namespace Recompute.Cli;

/// <summary>A <c>recompute</c> sub-command.</summary>
public interface ICommand
{
    string Name { get; }
    /// <summary>One line for the command list.</summary>
    string Summary { get; }
    /// <summary>Full usage text.</summary>
    string Usage { get; }
    int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation);
}

/// <summary>Exit codes of the command line contract.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>No plan fits the budget.</summary>
    public const int Infeasible = 1;
    /// <summary>Bad input or usage.</summary>
    public const int BadInput = 2;
    /// <summary>Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;
}

/// <summary>Dispatches to sub-commands and turns every expected failure into one clear line and an exit code.</summary>
public static class CommandRunner
{
    public static IReadOnlyList<ICommand> Commands { get; } = CommandRegistry.All();

    /// <summary>
    /// How long an interrupted command may take to stop by itself. Some work does not watch the cancellation token
    /// (CP-SAT's presolve, the DP that warm-starts the optimal solver); past this grace the process exits anyway.
    /// </summary>
    public static readonly TimeSpan InterruptGrace = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The process entry: Ctrl-C and SIGTERM cancel the command, which then stops cleanly with exit code 130. If it
    /// has not stopped after <see cref="InterruptGrace"/>, the process exits with 130 once no file write is in
    /// progress: every file is written to a temporary name and renamed, so each is complete or absent either way.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        using var cts = new CancellationTokenSource();
        var finished = new ManualResetEventSlim(); // not disposed: the watchdog thread may still wait on it
        int interrupted = 0;
        void Interrupt()
        {
            // The watchdog starts first: cancelling runs the token's callbacks (CP-SAT's StopSearch) on this thread.
            if (Interlocked.Exchange(ref interrupted, 1) == 0) StartWatchdog();
            cts.Cancel();
        }
        void StartWatchdog() =>
            new Thread(() =>
            {
                if (finished.Wait(InterruptGrace)) return;
                // Writes already in progress finish (they are short); later ones never start.
                Recompute.Planner.Reporting.AtomicFile.StopWrites(TimeSpan.FromSeconds(30));
                if (finished.IsSet) return; // the command stopped by itself meanwhile and said so
                string command = args.Length > 0 ? "recompute " + args[0] : "recompute";
                stderr.WriteLine($"{command}: interrupted; files already written are complete, nothing else was written");
                stderr.Flush();
                stdout.Flush();
                Environment.Exit(ExitCodes.Interrupted);
            }) { IsBackground = true, Name = "recompute interrupt" }.Start();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; Interrupt(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Interrupt(); });
        try { return Run(args, stdout, stderr, cts.Token); }
        finally
        {
            finished.Set();
            Console.CancelKeyPress -= onCancel;
        }
    }

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            WriteHelp(stdout);
            return args.Length == 0 ? ExitCodes.BadInput : ExitCodes.Success;
        }
        if (args[0] == "--version") { stdout.WriteLine("recompute " + typeof(CommandRunner).Assembly.GetName().Version); return 0; }
        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            stderr.WriteLine($"recompute: unknown command '{args[0]}'. Commands: {string.Join(", ", Commands.Select(c => c.Name))}");
            return ExitCodes.BadInput;
        }
        if (args.Skip(1).Any(a => a is "-h" or "--help")) { stdout.WriteLine(command.Usage); return ExitCodes.Success; }
        // The files this command reads and writes: no output may replace one of its inputs or another output.
        using var files = Recompute.Planner.Files.CommandFiles.Begin();
        try
        {
            return command.Run(args.Skip(1).ToArray(), stdout, stderr, cancellation);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"recompute {command.Name}: {e.Message}");
            stderr.WriteLine($"usage: {command.Usage.Split('\n')[0]}");
            return ExitCodes.BadInput;
        }
        catch (GraphFormatException e)
        {
            stderr.WriteLine($"recompute {command.Name}: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (InputFileException e)
        {
            stderr.WriteLine($"recompute {command.Name}: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An output that cannot be written (missing folder, no permission, disk full): AtomicFile names it.
            stderr.WriteLine($"recompute {command.Name}: {e.Message.ReplaceLineEndings(" ")}");
            return ExitCodes.BadInput;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            stderr.WriteLine($"recompute {command.Name}: interrupted; files already written are complete, nothing else was written");
            return ExitCodes.Interrupted;
        }
    }

    private static void WriteHelp(TextWriter w)
    {
        w.WriteLine("recompute: memory planning for neural-network training (checkpointing and recomputation)");
        w.WriteLine();
        w.WriteLine("commands:");
        foreach (var c in Commands) w.WriteLine($"  {c.Name,-10} {c.Summary}");
        w.WriteLine();
        w.WriteLine("recompute <command> --help shows a command's options.");
        w.WriteLine("exit codes: 0 success, 1 no plan fits the budget, 2 bad input or usage, 130 interrupted (Ctrl-C, SIGTERM).");
    }
}

/// <summary>A file that cannot be read or written (missing, unreadable, bad schedule). Exit code 2.</summary>
public sealed class InputFileException(string message, Exception? inner = null) : Exception(message, inner);
