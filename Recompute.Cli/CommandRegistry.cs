using Recompute.Cli.Commands;

namespace Recompute.Cli;

/// <summary>Every sub-command, in the order the help lists them. Add a command here and in its own file under Commands/.</summary>
internal static class CommandRegistry
{
    public static IReadOnlyList<ICommand> All() =>
    [
        new InspectCommand(),
        new PlanCommand(),
        new SimulateCommand(),
        new ReportCommand(),
        new MaxBatchCommand(),
        new TrainCommand(),
        new CalibrateCommand(),
    ];
}
