using Spectre.Console;

namespace Recompute.Cli.Output;

/// <summary>
/// A live status line (Spectre.Console) for work that can take longer than a second: a spinner, the elapsed time,
/// a bar when the amount of work is known, and what is being done. Drawn only on a terminal
/// (<see cref="CommandLine.CommandContext.Interactive"/>) and only when the caller enables it (never with
/// <c>--format json</c>); otherwise every call is a no-op and nothing but the command's own output is written.
/// </summary>
/// <remarks>
/// The status is drawn on standard output and cleared when the work ends, so lines the command prints meanwhile
/// (<see cref="WriteLine"/>) go above it, in order, and the terminal ends up holding exactly the command's output.
/// </remarks>
public sealed class LiveStatus : IDisposable
{
    private readonly TextWriter _stdout;
    private readonly Lock _lock = new();
    private readonly ManualResetEventSlim _started = new(), _finished = new();
    private readonly Thread? _renderer;
    private ProgressTask? _task;
    private ProgressContext? _context;
    private IAnsiConsole? _console;

    private LiveStatus(TextWriter stdout, IAnsiConsole? console, string description)
    {
        _stdout = stdout;
        if (console is null) return;
        // Spectre's live display runs its callback until the work ends; here the work is the caller's, so the
        // display waits on its own thread and the caller disposes the status when done.
        _renderer = new Thread(() =>
        {
            try
            {
                console.Progress()
                    .AutoClear(true)
                    .HideCompleted(false)
                    .Columns(new SpinnerColumn(), new ElapsedTimeColumn(), new ProgressBarColumn { Width = 20 },
                        new TaskDescriptionColumn { Alignment = Justify.Left })
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(Fit(console, description));
                        task.IsIndeterminate = true;
                        lock (_lock) { _task = task; _context = ctx; _console = console; }
                        _started.Set();
                        _finished.Wait();
                        task.StopTask();
                    });
            }
            // A display that cannot be drawn is not the command's failure: the work and its output go on without it.
            catch (Exception e) when (e is IOException or InvalidOperationException) { }
            finally { _started.Set(); }
        }) { IsBackground = true, Name = "recompute status" };
        _renderer.Start();
        _started.Wait();
    }

    /// <summary>
    /// The description escaped and cut to the terminal's width less the spinner, the elapsed time and the bar (about
    /// 34 columns), so that the status stays one line on a terminal of 80 columns and up.
    /// </summary>
    private static string Fit(IAnsiConsole? console, string text)
    {
        string escaped = Recompute.Planner.Files.TerminalText.Escape(text);
        int room = Math.Max(20, (console?.Profile.Width ?? 80) - 36);
        if (escaped.Length > room) escaped = escaped[..(room - 1)] + "…";
        return Markup.Escape(escaped);
    }

    /// <summary>True when the status is drawn.</summary>
    public bool IsLive => _task is not null;

    /// <summary>
    /// Starts a status (a no-op one unless <paramref name="enabled"/> and on a terminal); dispose it when the work
    /// ends, before writing the command's results.
    /// </summary>
    public static LiveStatus Begin(CommandLine.CommandContext context, bool enabled, string description)
    {
        if (!enabled || !context.Interactive) return new LiveStatus(context.Stdout, null, description);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(context.Stdout),
        });
        return new LiveStatus(context.Stdout, console, description);
    }

    /// <summary>Runs <paramref name="work"/> under a status started by <see cref="Begin"/>.</summary>
    public static T Run<T>(CommandLine.CommandContext context, bool enabled, string description, Func<LiveStatus, T> work)
    {
        using var status = Begin(context, enabled, description);
        return work(status);
    }

    /// <summary>Replaces what the status says is being done.</summary>
    /// <remarks>Drawn at once (not at the next tick): a solver's last plan before it stops still reaches the terminal.</remarks>
    public void Say(string text)
    {
        lock (_lock)
        {
            if (_task is null) return;
            _task.Description = Fit(_console, text);
            _context?.Refresh();
        }
    }

    /// <summary>Shows how far the work is (<paramref name="done"/> of <paramref name="total"/>) and what it does now.</summary>
    public void Progress(double done, double total, string text)
    {
        lock (_lock)
        {
            if (_task is null) return;
            _task.IsIndeterminate = false;
            _task.MaxValue = Math.Max(total, 1);
            _task.Value = Math.Min(done, _task.MaxValue);
            _task.Description = Fit(_console, text);
            // Drawn at once, as Say: a fast sweep's points would otherwise pass between two ticks unseen.
            _context?.Refresh();
        }
    }

    /// <summary>
    /// A listener for a searching solver's best plan so far (<see cref="Planner.Solvers.SolverOptions.Progress"/>)
    /// that shows it after <paramref name="doing"/>, with its gap; null when the status is not drawn, so that a
    /// solver run piped or with <c>--format json</c> has no listener at all.
    /// </summary>
    /// <param name="timeUnit">The graph's time unit, for the recomputation.</param>
    public IProgress<Planner.Solvers.SolverProgress>? SolverListener(string doing, string timeUnit) => !IsLive ? null
        : new Listener(p => Say($"{doing}; best so far: {p.Source}, recomputes {Planner.Units.TimeUnits.Format(p.RecomputeTime, timeUnit)}" +
            (p.Gap is { } gap ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $", gap {gap * 100:0.00}%") : ", no bound yet")));

    private sealed class Listener(Action<Planner.Solvers.SolverProgress> report) : IProgress<Planner.Solvers.SolverProgress>
    {
        public void Report(Planner.Solvers.SolverProgress value) => report(value);
    }

    /// <summary>Writes a line of the command's output: above the status while it is drawn, else straight to stdout.</summary>
    public void WriteLine(string line)
    {
        lock (_lock)
        {
            if (_console is null) _stdout.WriteLine(line);
            else _console.Write(new Text(line + "\n"));
        }
    }

    /// <summary>Clears the status (the terminal keeps only what <see cref="WriteLine"/> wrote).</summary>
    public void Dispose()
    {
        if (_renderer is null) return;
        // No refresh from another thread once the display is ending.
        lock (_lock) _context = null;
        _finished.Set();
        _renderer.Join();
        lock (_lock) { _task = null; _console = null; }
    }
}
