using Recompute.Cli;

// This process runs one command: its processor time is the command's (the time limit's stop counts it).
Recompute.Planner.Planning.CommandStop.ProcessIsCommand = true;
return CommandRunner.Run(args, Console.Out, Console.Error);
