using Recompute.Cli;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>
/// The System.CommandLine front end (issue 15, item 1): every option of the contract is still declared under its
/// name, misspellings get the nearest names, usage errors are one line plus the usage line and a pointer to
/// --help, and completion is answered from the same declarations.
/// </summary>
public class CommandLineTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    private static string Mlp => Path.Combine(Paths.Graphs, "mlp50.json");

    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>A usage error: exit 2, nothing on stdout, the problem on the first line, the usage line and --help on the second.</summary>
    private static string AssertUsageError(string command, params string[] args)
    {
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var lines = Lines(err);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"recompute {command}: ", lines[0]);
        Assert.StartsWith($"usage: recompute {command} ", lines[1]);
        Assert.Contains($"recompute {command} --help", lines[1]);
        Assert.DoesNotContain("   at ", err);
        return lines[0];
    }

    [Fact]
    public void MisspeltOption_SuggestsTheNearestOne()
    {
        Assert.Equal("recompute plan: unknown option '--budjet'; did you mean '--budget'?", AssertUsageError("plan", "plan", Mlp, "--budjet", "40%"));
        // Before the graph the misspelt option would be read as the graph itself: it is still named an option.
        Assert.Equal("recompute plan: unknown option '--budjet'; did you mean '--budget'?", AssertUsageError("plan", "plan", "--budjet", "40%", Mlp));
        Assert.Contains("did you mean '--steps'?", AssertUsageError("train", "train", Mlp, "--budget", "50%", "--step", "2"));
        Assert.Contains("did you mean '--memory'?", AssertUsageError("maxbatch", "maxbatch", Mlp, "--memroy=16GiB"));
    }

    [Fact]
    public void MisspeltCommandAndSolver_SuggestTheNearestName()
    {
        var (code, output, err) = Run("plna", Mlp);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith("recompute: unknown command 'plna'; did you mean 'plan'?", err);
        Assert.Contains("recompute --help", err);
        Assert.Contains("did you mean 'dp'?", AssertUsageError("plan", "plan", Mlp, "--budget", "40%", "--solver", "dpp"));
        Assert.Contains("did you mean 'json'?", AssertUsageError("plan", "plan", Mlp, "--budget", "40%", "--format", "jsno"));
    }

    [Fact]
    public void NoCommand_PrintsTheCommandsOnStderr_AndExits2_ButHelpIsOnStdout()
    {
        var (code, output, err) = Run();
        Assert.Equal(2, code);
        Assert.Equal("", output);
        foreach (var command in new[] { "inspect", "plan", "simulate", "report", "maxbatch", "train", "calibrate", "completion" })
            Assert.Contains($"  {command} ", err);

        (code, output, err) = Run("--help");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains("  plan ", output);
        Assert.Contains("exit codes: 0 success, 1 no plan fits the budget, 2 bad input or usage, 130 interrupted", output);
    }

    [Fact]
    public void BareCommand_PrintsItsUsageOnce()
    {
        Assert.Equal("recompute plan: missing <graph>", AssertUsageError("plan", "plan"));
        var (_, _, err) = Run("plan");
        Assert.Single(Lines(err), l => l.StartsWith("usage:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("inspect", "--format", "--batch", "--time-file", "--max-lower-sets")]
    [InlineData("plan", "--budget", "--min-memory", "--solver", "--objective", "-o", "--output", "--format", "--dot", "--keep", "--recompute",
        "--time-limit", "--threads", "--seed", "--max-lower-sets", "--time-buckets", "--batch", "--time-file", "--as-given")]
    [InlineData("simulate", "--budget", "--format", "--batch", "--time-file", "--as-given")]
    [InlineData("report", "-o", "--output", "--solvers", "--points", "--batch", "--budget", "--time-limit")]
    [InlineData("maxbatch", "--memory", "--overhead", "--optimizer", "--solver", "--format")]
    [InlineData("train", "--budget", "--steps", "--batch", "--time-file", "--verify", "--solver", "--seed", "--lr", "--optimizer",
        "--batches", "--time-limit", "--format", "--threads")]
    [InlineData("calibrate", "-o", "--output", "--batch", "--repeat", "--warmup", "--seed", "--threads", "--clock")]
    public void Help_ListsEveryOptionOfTheContract(string command, params string[] options)
    {
        var (code, output, err) = Run(command, "--help");
        Assert.True(code == 0, err);
        // Options are listed as "  --name <VALUE>", "  -o, --output <FILE>" or "  --flag".
        var listed = Lines(output).Select(l => l.Trim()).Where(l => l.StartsWith('-'))
            .SelectMany(l => l.Split("  ")[0].Split(' ')[0..].Select(w => w.TrimEnd(','))).ToHashSet();
        foreach (var option in options) Assert.Contains(option, listed);
    }

    [Theory]
    [InlineData("plan")]
    [InlineData("train")]
    public void Help_GivesTheTimeLimitsDefault_ForAutoAndTheOthers(string command)
    {
        // The default depends on the solver (auto: 5 s), so the help must not print one fixed number.
        var (code, output, err) = Run(command, "--help");
        Assert.True(code == 0, err);
        var line = Assert.Single(Lines(output), l => l.TrimStart().StartsWith("--time-limit", StringComparison.Ordinal));
        Assert.Contains($"[default: {CommandSupportDefaults.Auto} for auto, {CommandSupportDefaults.Others} for the others]", line);
        Assert.DoesNotContain("[default: 30]", line);
    }

    /// <summary>The time limits the solver descriptors give when none is asked for.</summary>
    private static class CommandSupportDefaults
    {
        public static double Auto => Recompute.Planner.Planning.SolverRegistry.Describe("auto").DefaultTimeLimit.TotalSeconds;
        public static double Others => Recompute.Planner.Planning.SolverRegistry.Describe("greedy").DefaultTimeLimit.TotalSeconds;
    }

    [Fact]
    public void OptionsAfterTheGraph_OrBeforeIt_MeanTheSame()
    {
        // A solver without a wall clock in it (auto's CP-SAT phases are work-limited, but a search the wall clock cuts
        // on a loaded machine adds a note): the two parses must give the same plan byte for byte.
        var (code1, out1, err1) = Run("plan", Mlp, "--budget", "50%", "--format", "json", "--solver", "dp-approx");
        var (code2, out2, _) = Run("plan", "--format", "json", "--solver=dp-approx", "--budget=50%", Mlp);
        Assert.True(code1 == 0, err1);
        Assert.Equal(0, code2);
        static string WithoutTime(string s) => string.Join('\n', Lines(s).Where(l => !l.Contains("solveSeconds")));
        Assert.Equal(WithoutTime(out1), WithoutTime(out2));
    }

    [Fact]
    public void AFolderAsTheGraph_IsNamedADirectory()
    {
        var (code, output, err) = Run("inspect", Paths.Graphs);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith($"recompute inspect: {Paths.Graphs}: is a directory", Assert.Single(Lines(err)));
    }

    [Fact]
    public void Completion_ScriptsAndTheSuggestDirective_AnswerFromTheDeclarations()
    {
        var (code, output, _) = Run("completion", "bash");
        Assert.Equal(0, code);
        Assert.Contains("complete -o default -F _recompute_complete recompute", output);
        Assert.Contains("[suggest:", output);
        Assert.Equal(0, Run("completion", "zsh").Code);
        Assert.Equal(0, Run("completion", "pwsh").Code);
        Assert.Contains("did you mean 'bash'?", AssertUsageError("completion", "completion", "bahs"));

        // What the scripts ask: the words after "recompute" and the cursor's offset in them.
        (code, output, _) = Run("[suggest:8]", "plan --b");
        Assert.Equal(0, code);
        Assert.Equal(["--batch", "--budget"], Lines(output));
        (code, output, _) = Run("[suggest:14]", "plan --solver ");
        Assert.Equal(0, code);
        Assert.Contains("dp-approx", Lines(output));
        Assert.Contains("optimal", Lines(output));
    }

    /// <summary>
    /// An option the solver chosen does not read is said on stderr, naming the ones it does read, and the plan is the
    /// one without it; options it reads give no such line.
    /// </summary>
    [Fact]
    public void AnOptionTheSolverDoesNotRead_IsSaid_AndChangesNothing()
    {
        string[] plan = ["plan", Mlp, "--budget", "50%", "--format", "json"];
        var (code, withKnob, err) = Run([.. plan, "--solver", "dp-approx", "--time-limit", "3", "--seed", "4"]);
        Assert.Equal(0, code);
        Assert.Equal("recompute plan: --time-limit, --seed do not affect solver 'dp-approx' (it reads --threads, --time-buckets and --objective)", err.Trim());
        var (_, without, quiet) = Run([.. plan, "--solver", "dp-approx"]);
        Assert.Equal("", quiet);
        Assert.Equal(System.Text.RegularExpressions.Regex.Replace(without, "\"solveSeconds\": [0-9.eE+-]+", ""),
            System.Text.RegularExpressions.Regex.Replace(withKnob, "\"solveSeconds\": [0-9.eE+-]+", ""));

        (code, _, err) = Run([.. plan, "--solver", "greedy", "--objective", "memory", "--max-lower-sets", "10", "--time-limit", "2"]);
        Assert.Equal(0, code);
        Assert.Equal("recompute plan: --objective memory, --max-lower-sets do not affect solver 'greedy' (it reads --time-limit, --threads, --seed)", err.Trim());
        (code, _, err) = Run("plan", Mlp, "--budget", "100%", "--solver", "store-all", "--threads", "1");
        Assert.Equal(0, code);
        Assert.Equal("recompute plan: --threads does not affect solver 'store-all' (it reads none)", err.Trim());
        (code, _, err) = Run([.. plan, "--solver", "dp", "--max-lower-sets", "100000", "--threads", "1", "--objective", "memory"]);
        Assert.Equal(0, code);
        Assert.Equal("", err);
    }
}
