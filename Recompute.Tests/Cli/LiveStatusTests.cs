using System.Diagnostics;
using Recompute.Planner.Import;
using Recompute.Tests.Reporting;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>
/// Live status (issue 15, item 2): on a terminal, plan with the optimal solver, train, maxbatch and report show
/// what they are doing with the elapsed time; piped, they print nothing but their results. The terminal is a
/// pseudo-terminal made by util-linux's <c>script</c> (part of every Linux base system; the test says so if missing).
/// </summary>
public sealed class LiveStatusTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("recompute-status-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static string Graph(string file) => Path.Combine(Paths.Graphs, file);

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Runs recompute under a pseudo-terminal and returns its exit code and everything it drew there.</summary>
    private static (int Code, string Terminal) OnTerminal(params string[] args) => OnTerminalOf(200, args);

    private static (int Code, string Terminal) OnTerminalOf(int columns, params string[] args)
    {
        string? script = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, "script")).FirstOrDefault(File.Exists);
        Assert.True(script is not null, "this test needs util-linux's `script` to make a pseudo-terminal (apt-get install util-linux)");
        // The pseudo-terminal is made 200 columns wide (stty), so that status lines and tables are not wrapped at 80.
        var command = $"stty cols {columns} rows 50 2>/dev/null; " +
            string.Join(' ', new[] { CliProcess.DotnetHost(), Path.Combine(AppContext.BaseDirectory, "recompute.dll") }.Concat(args).Select(Quote));
        // -q: no banner; -e: the child's exit code; -c: the command; /dev/null: no typescript file.
        var info = new ProcessStartInfo(script, ["-qec", command, "/dev/null"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(120)), "recompute under script did not finish in 120 s");
        process.WaitForExit();
        return (process.ExitCode, output.Result + error.Result);
    }

    private static (int Code, string Out, string Err) Piped(params string[] args)
    {
        using var child = CliProcess.Start(args);
        int code = child.WaitForExit(TimeSpan.FromSeconds(120));
        return (code, child.Stdout, child.Stderr);
    }

    private static bool HasControlCharacters(string s) => s.Any(c => char.IsControl(c) && c != '\n');

    [Fact]
    public void Plan_WithTheOptimalSolver_ShowsItsStatusOnATerminal_AndNothingExtraWhenPiped()
    {
        string[] args = ["plan", Graph("mlp50.json"), "--budget", "40%", "--solver", "optimal", "--time-limit", "2"];
        var (code, terminal) = OnTerminal(args);
        Assert.True(code == 0, terminal);
        Assert.Contains("\u001b[", terminal);                                   // drawn with ANSI escapes
        Assert.Contains("optimal: planning under 1.28 MiB (time limit 2 s)", terminal);
        Assert.Contains("00:00:0", terminal);                                   // the elapsed time
        Assert.Contains("simulated peak", terminal);                            // and then the result

        var (pipedCode, output, err) = Piped(args);
        Assert.Equal(0, pipedCode);
        Assert.False(HasControlCharacters(output + err), output + err);
        Assert.DoesNotContain("planning under", output + err);
        Assert.StartsWith("graph ", output);
    }

    [Fact]
    public void OnAnEightyColumnTerminal_TheStatusIsCutToOneLine()
    {
        // The spinner, the elapsed time and the bar take about 36 columns: the description gets the rest, cut with "…".
        var (code, terminal) = OnTerminalOf(80, "plan", Graph("mlp50.json"), "--budget", "40%", "--solver", "optimal", "--time-limit", "2");
        Assert.True(code == 0, terminal);
        Assert.Contains("optimal: planning under 1.28 MiB", terminal);
        Assert.Contains("…", terminal);
        Assert.DoesNotContain("(time limit 2 s)", terminal);
        Assert.Contains("00:00:0", terminal);
    }

    [Fact]
    public void Plan_WithTheOptimalSolver_ShowsTheBestPlanSoFarAndItsGap_Live()
    {
        // A graph whose CP-SAT model is searched (and proved within the limit): the status names the best warm start,
        // then each better CP-SAT solution with its gap to the bound.
        var graph = Path.Combine(_dir.FullName, "random.json");
        NativeGraphFormat.Save(RandomGraphs.Forward(3, nodes: 6), graph);
        string[] args = ["plan", graph, "--budget", "70%", "--solver", "optimal", "--time-limit", "10"];
        var (code, terminal) = OnTerminal(args);
        Assert.True(code == 0, terminal);
        Assert.Contains("best so far: ", terminal);
        Assert.Matches(@"CP-SAT solution \d+, recomputes [^,]+, gap \d+\.\d\d%", terminal);

        var (pipedCode, output, err) = Piped(args);
        Assert.Equal(0, pipedCode);
        Assert.DoesNotContain("best so far", output + err);
    }

    [Fact]
    public void Tables_AreDrawnOnATerminal_WithListsWrappedNotCut_AndPlainWhenPiped()
    {
        string[] args = ["plan", Graph("mlp50.json"), "--budget", "40%", "--solver", "dp-approx"];
        var (code, terminal) = OnTerminal(args);
        Assert.True(code == 0, terminal);
        Assert.Contains("╭", terminal);                                       // a Spectre.Console table
        Assert.Contains("│", terminal);
        // The first ten recomputed tensors are in the table, wrapped over lines and never cut, and the rest counted.
        var (jsonCode, json, _) = Piped([.. args, "--format", "json"]);
        Assert.Equal(0, jsonCode);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var names = doc.RootElement.GetProperty("recomputedTensors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.True(names.Count > 20, $"{names.Count} recomputed tensors");
        foreach (var name in names.Take(10)) Assert.Matches($@"[ ,]{System.Text.RegularExpressions.Regex.Escape(name)}(,| )", terminal);
        Assert.Contains($"and {names.Count - 10} more", terminal);
        Assert.DoesNotContain("...", terminal);
        Assert.DoesNotContain("…", terminal);

        // Piped: the plain text tests and scripts read, no borders.
        var (pipedCode, output, _) = Piped(args);
        Assert.Equal(0, pipedCode);
        Assert.DoesNotContain("│", output);
        Assert.Matches(@"(?m)^recomputed +\d+ tensors: ", output);

        // inspect's tables too.
        (code, terminal) = OnTerminal("inspect", Graph("mlp50.json"));
        Assert.True(code == 0, terminal);
        Assert.Contains("╭", terminal);
        Assert.Contains("lower sets", terminal);
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void Train_ShowsTheStepAndLoss_AndPipedPrintsOnlyTheTable()
    {
        string[] args = ["train", Graph("mlp50.json"), "--budget", "50%", "--steps", "2"];
        var (code, terminal) = OnTerminal(args);
        Assert.True(code == 0, terminal);
        Assert.Contains("\u001b[", terminal);
        Assert.Contains("step 2/2, loss ", terminal);
        Assert.Contains("measured peak", terminal);

        var (pipedCode, output, err) = Piped(args);
        Assert.Equal(0, pipedCode);
        Assert.False(HasControlCharacters(output + err), output + err);
        Assert.DoesNotContain("step 2/2, loss", output + err);
        // JSON on a terminal is silent too: the output is the one object.
        var (jsonCode, json) = OnTerminal([.. args, "--format", "json"]);
        Assert.Equal(0, jsonCode);
        // .NET's console itself switches a terminal's keypad to application mode ("ESC[?1h ESC=") when it starts.
        json = json.Replace("\u001b[?1h\u001b=", "", StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b", json);
        Assert.StartsWith("{", json.TrimStart());
    }

    [Fact]
    public void MaxBatchAndReport_ShowWhatTheyTry()
    {
        var (code, terminal) = OnTerminal("maxbatch", Graph("resnet18-b32.onnx"), "--memory", "2GiB");
        Assert.True(code == 0, terminal);
        // The status names the solver (the default, auto) and the batch size being tried.
        Assert.Matches(@"auto: trying batch \d+ in ", terminal);

        var graph = Path.Combine(_dir.FullName, "residual.json");
        NativeGraphFormat.Save(ReportGraphs.ResidualNet(layers: 2), graph);
        (code, terminal) = OnTerminal("report", graph, "-o", Path.Combine(_dir.FullName, "report"), "--solvers", "chen,dp-approx", "--points", "3");
        Assert.True(code == 0, terminal);
        Assert.Contains("points; last: ", terminal);
        Assert.Contains("report.html", terminal);
    }
}
