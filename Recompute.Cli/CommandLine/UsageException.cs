namespace Recompute.Cli.CommandLine;

/// <summary>Bad usage: unknown option, bad value, conflicting options. Exit code 2, with the usage line and a pointer to --help.</summary>
public sealed class UsageException(string message) : Exception(message);
