using System.CommandLine;

namespace Recompute.Cli.CommandLine;

/// <summary>What a running command writes to and listens to: the runner builds one per invocation.</summary>
/// <param name="Stdout">Results (tables, JSON).</param>
/// <param name="Stderr">Errors and, on a terminal, live status.</param>
/// <param name="Cancellation">Ctrl-C or SIGTERM.</param>
/// <param name="Interactive">True when <paramref name="Stderr"/> is a terminal: live status may be drawn there.</param>
public sealed record CommandContext(TextWriter Stdout, TextWriter Stderr, CancellationToken Cancellation, bool Interactive)
{
    /// <summary>When the command began (the context is built as it starts): <c>--time-limit</c> counts from here.</summary>
    public long Started { get; init; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>
    /// Time since the command began, reading its files included, less <see cref="Setup"/>: <c>--time-limit</c> bounds
    /// the work on the command's input, not a measurement of the machine made once and cached for later commands.
    /// </summary>
    public TimeSpan Elapsed => System.Diagnostics.Stopwatch.GetElapsedTime(Started) - Setup;

    /// <summary>Wall time the command spent measuring this machine (the cpu device profile, when its cache did not fit).</summary>
    public TimeSpan Setup { get; private set; }

    /// <summary>The command thread's processor time in that measurement.</summary>
    public TimeSpan SetupThreadTime { get; private set; }

    /// <summary>Leaves a one-time measurement of the machine out of the command's time (<see cref="Elapsed"/>).</summary>
    public void ExcludeSetup(TimeSpan wall, TimeSpan threadTime) => (Setup, SetupThreadTime) = (Setup + wall, SetupThreadTime + threadTime);
}

/// <summary>
/// A <c>recompute</c> sub-command: a System.CommandLine <see cref="Command"/> whose arguments and options are
/// declared as fields of the subclass (so <c>--help</c>, completion and suggestions come from the same declarations)
/// and read back in <see cref="Execute"/>.
/// </summary>
/// <remarks>
/// To add an option: declare it as a field with one of the <see cref="CliOptions"/> factories (which give the
/// project's error messages: "option --steps: '0' is not an integer in [1, 1000000]"), add it in the constructor,
/// and read it with <c>parse.GetValue(field)</c> in <see cref="Execute"/>. To add a command: subclass this in
/// <c>Commands/</c> and list it in <see cref="CommandRegistry"/>.
/// </remarks>
public abstract class CliCommand : Command
{
    /// <param name="name">The sub-command's name.</param>
    /// <param name="summary">One line for the command list.</param>
    /// <param name="synopsis">The usage line printed under a usage error, without "recompute " (e.g. "plan
    /// &lt;graph&gt; --budget &lt;B&gt; [options]").</param>
    /// <param name="notes">Extra help text under the summary, or null.</param>
    protected CliCommand(string name, string summary, string synopsis, string? notes = null)
        : base(name, notes is null ? summary : summary + "\n\n" + notes)
    {
        Summary = summary;
        Synopsis = "recompute " + synopsis;
    }

    /// <summary>One line for the command list.</summary>
    public string Summary { get; }

    /// <summary>The usage line printed under a usage error.</summary>
    public string Synopsis { get; }

    /// <summary>Runs the command on a parse result without errors; returns the exit code.</summary>
    /// <exception cref="UsageException">Options that parse alone but not together, or a value that depends on the input.</exception>
    public abstract int Execute(ParseResult parse, CommandContext context);

    /// <summary>Adds several options at once, in the order the help lists them.</summary>
    protected void Add(params Option[] options)
    {
        foreach (var o in options) Options.Add(o);
    }
}
