using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using Recompute.Cli.CommandLine;
using Recompute.Planner.Graph;

namespace Recompute.Cli;

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

/// <summary>
/// Parses the command line with System.CommandLine, dispatches to the sub-command, and turns every expected failure
/// into one clear line (plus the usage line for usage errors) and an exit code.
/// </summary>
public static class CommandRunner
{
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
                Recompute.Planner.Files.AtomicFile.StopWrites(TimeSpan.FromSeconds(30));
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

    /// <summary>
    /// Runs one command line. Live status is drawn only when <paramref name="stdout"/> and <paramref name="stderr"/>
    /// are the process's own and neither is redirected (a terminal): piped output never holds control characters.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        bool interactive = ReferenceEquals(stdout, Console.Out) && ReferenceEquals(stderr, Console.Error) &&
                           !Console.IsOutputRedirected && !Console.IsErrorRedirected;
        return Run(args, new CommandContext(stdout, stderr, cancellation, interactive));
    }

    /// <summary>Runs one command line with the given outputs.</summary>
    public static int Run(string[] args, CommandContext context)
    {
        // A fresh tree per run: parse state never leaks between runs (tests run many in parallel).
        var commands = CommandRegistry.All();
        var root = new RootCommand("recompute: memory planning for neural-network training (checkpointing and recomputation)");
        foreach (var c in commands) root.Subcommands.Add(c);
        // Paths are taken literally: no "@file" expansion of response files.
        var parse = root.Parse(Commands.OffloadSettings.SeparateOptionalValue(args), new ParserConfiguration { ResponseFileTokenReplacer = null });
        var (stdout, stderr) = (context.Stdout, context.Stderr);

        if (args.Length == 0)
        {
            // No command at all is a usage error: the overview goes to stderr, and the exit code says so.
            WriteOverview(root, stderr);
            return ExitCodes.BadInput;
        }
        var command = parse.CommandResult.Command;
        if (parse.Action is HelpAction && command is RootCommand)
        {
            WriteOverview(root, stdout);
            return ExitCodes.Success;
        }
        // A command's --help, --version and the [suggest] directive used by shell completion: the library's own actions.
        if (parse.Action is HelpAction || parse.Action is { } action && command is not CliCommand && (action.ClearsParseErrors
            || parse.Errors.Count == 0))
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });

        if (UsageErrors.First(parse) is { } problem) return UsageError(command, problem, stderr);
        if (command is not CliCommand cli) return UsageError(root, "give a command", stderr);
        // The files this command reads and writes: no output may replace one of its inputs or another output.
        using var files = CommandFiles.Begin();
        try
        {
            return cli.Execute(parse, context);
        }
        catch (UsageException e)
        {
            return UsageError(cli, e.Message, stderr);
        }
        catch (Recompute.Planner.Solvers.LowerSetLimitException e)
        {
            // The exact DP's lower sets outgrew the limit (plan, maxbatch, report, train alike): a choice to change.
            // Only plan and inspect have --max-lower-sets to raise.
            bool canRaise = cli.Options.Any(o => o.Name == "--max-lower-sets");
            return UsageError(cli, canRaise ? e.Message : e.Message.Replace(", or raise --max-lower-sets", "", StringComparison.Ordinal), stderr);
        }
        catch (GraphFormatException e)
        {
            stderr.WriteLine($"recompute {cli.Name}: {Recompute.Planner.Files.TerminalText.Escape(e.Message)}");
            return ExitCodes.BadInput;
        }
        catch (InputFileException e)
        {
            stderr.WriteLine($"recompute {cli.Name}: {Recompute.Planner.Files.TerminalText.Escape(e.Message)}");
            return ExitCodes.BadInput;
        }
        catch (OverflowException e)
        {
            // Graphs are bounded when built (GraphBuilder.MaxTotalBytes and MaxTotalTime) so that no sum of sizes
            // or times overflows; should one still, say where, as one line.
            string site = e.TargetSite is { } m ? $"{m.DeclaringType?.Name}.{m.Name}" : "the planner";
            stderr.WriteLine($"recompute {command.Name}: arithmetic overflow in {site}: the graph's sizes or times are too large");
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An output that cannot be written (missing folder, no permission, disk full): AtomicFile names it.
            stderr.WriteLine($"recompute {cli.Name}: {Recompute.Planner.Files.TerminalText.Escape(e.Message.ReplaceLineEndings(" "))}");
            return ExitCodes.BadInput;
        }
        catch (OperationCanceledException) when (context.Cancellation.IsCancellationRequested)
        {
            stderr.WriteLine($"recompute {cli.Name}: interrupted; files already written are complete, nothing else was written");
            return ExitCodes.Interrupted;
        }
    }

    /// <summary>A usage error: the problem on one line, then the usage line and where the full help is.</summary>
    private static int UsageError(Command command, string problem, TextWriter stderr)
    {
        if (command is CliCommand cli)
        {
            stderr.WriteLine($"recompute {cli.Name}: {Recompute.Planner.Files.TerminalText.Escape(problem)}");
            stderr.WriteLine($"usage: {cli.Synopsis}   (recompute {cli.Name} --help lists every option)");
        }
        else
        {
            stderr.WriteLine($"recompute: {problem}");
            stderr.WriteLine("usage: recompute <command> [options]   (recompute --help lists the commands)");
        }
        return ExitCodes.BadInput;
    }

    /// <summary>The command list, from the same declarations the parser uses.</summary>
    private static void WriteOverview(RootCommand root, TextWriter w)
    {
        w.WriteLine(root.Description);
        w.WriteLine();
        w.WriteLine("usage: recompute <command> <graph> [options]");
        w.WriteLine();
        w.WriteLine("commands:");
        foreach (var c in root.Subcommands)
            w.WriteLine($"  {c.Name,-11}{(c is CliCommand cli ? cli.Summary : c.Description)}");
        w.WriteLine();
        w.WriteLine("recompute <command> --help shows a command's options; recompute --version its version.");
        w.WriteLine("exit codes: 0 success, 1 no plan fits the budget, 2 bad input or usage, 130 interrupted (Ctrl-C, SIGTERM).");
    }
}

/// <summary>A file that cannot be read or written (missing, unreadable, bad schedule). Exit code 2.</summary>
public sealed class InputFileException(string message, Exception? inner = null) : Exception(message, inner);
