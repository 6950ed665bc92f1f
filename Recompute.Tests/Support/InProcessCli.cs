using Recompute.Cli;

namespace Recompute.Tests.Support;

/// <summary>Runs the <c>recompute</c> command line in this process, capturing what it writes.</summary>
public static class InProcessCli
{
    /// <summary>The exit code and the text written to stdout and stderr by <c>recompute args</c>.</summary>
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandRunner.Run(args, o, e, CancellationToken.None);
        return (code, o.ToString(), e.ToString());
    }
}
