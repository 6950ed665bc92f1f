using Recompute.Cli.CommandLine;
using Recompute.Cli.Commands;

namespace Recompute.Cli;

/// <summary>Every sub-command, in the order the help lists them. Add a command here and in its own file under Commands/.</summary>
internal static class CommandRegistry
{
    /// <summary>Fresh instances: a command's option objects hold no state between runs, but a fresh tree is cheap and certain.</summary>
    public static IReadOnlyList<CliCommand> All() =>
    [
        new InspectCommand(),
        new PlanCommand(),
        new SimulateCommand(),
        new ReportCommand(),
        new MaxBatchCommand(),
        new TrainCommand(),
        new EvalCommand(),
        new CalibrateCommand(),
        new DeviceCommand(),
        new CompletionCommand(),
    ];
}
