using System.Text.Json;
using System.Text.Json.Nodes;
using Recompute.Cli;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>
/// Issue 7, items 2 and 6: bad budgets and options give clear messages and the documented exit codes, and
/// <c>recompute simulate</c> on a schedule from elsewhere names its first bad step and the reason.
/// </summary>
public class BadBudgetsAndSchedulesTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("recompute-bad-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    private static string Resnet18 => Path.Combine(Paths.Graphs, "resnet18-b32.onnx");

    [Theory]
    [InlineData("0", "--budget: '0': the size must be positive")]
    [InlineData("0%", "the size must be positive")]
    [InlineData("-5GB", "--budget: '-5GB': the size must be positive")]
    [InlineData("12QB", "--budget: '12QB' is not a size (use bytes, KB/MB/GB, KiB/MiB/GiB or a percentage)")]
    [InlineData("1e400", "is not a size")]
    [InlineData("40%%", "'40%%' is not a percentage")]
    [InlineData("GB", "is not a size")]
    [InlineData("9223372036854775808", "'9223372036854775808' is too large")]
    [InlineData("99999999999GiB", "is too large")]
    public void MalformedBudget_Exits2_NamingTheOptionAndTheValue(string budget, string expected)
    {
        var schedule = Path.Combine(_dir.FullName, "s.json");
        var (code, output, err) = Run("plan", Resnet18, "--budget", budget, "-o", schedule);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith("recompute plan: ", err);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("   at ", err);
        Assert.Empty(_dir.GetFileSystemInfos());
    }

    [Theory]
    [InlineData("give exactly one of --budget <B> and --min-memory", "--budget", "1GB", "--min-memory")]
    [InlineData("give exactly one of --budget <B> and --min-memory")]
    [InlineData("option --budget is given twice", "--budget", "1GB", "--budget", "2GB")]
    [InlineData("-o and --output are the same option; give one", "--budget", "1GB", "-o", "a.json", "--output", "b.json")]
    [InlineData("is given to both --keep and --recompute", "--budget", "1GB", "--keep", "/net/conv1/Conv_output_0", "--recompute",
        "/net/conv1/Conv_output_0")]
    [InlineData("--keep: no tensor named 'nope'", "--budget", "1GB", "--keep", "nope")]
    [InlineData("option --threads: '-1' is not an integer in [0, 1024]", "--budget", "1GB", "--threads", "-1")]
    [InlineData("option --time-limit: '0' is not a number in [0.001, 86400]", "--budget", "1GB", "--time-limit", "0")]
    [InlineData("--objective must be 'time' or 'memory', not 'speed'", "--budget", "1GB", "--objective", "speed")]
    [InlineData("unknown solver 'magic'", "--budget", "1GB", "--solver", "magic")]
    public void ConflictingOrBadOptions_Exit2_WithTheReason(string expected, params string[] options)
    {
        var (code, output, err) = Run(["plan", Resnet18, .. options]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.StartsWith("recompute plan: ", err);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("   at ", err);
    }

    [Trait("Category", "Slow")]
    [Theory]
    [InlineData("dp-approx", "dp-approx")]
    [InlineData("dp", "dp")]
    [InlineData("chen", "chen")]
    [InlineData("auto", "auto")]
    public void BudgetBelowTheSmallestFeasible_Exits1_AndTheBudgetItGivesFits(string solver, string smallestFor)
    {
        // 1 MiB is far below anything ResNet-18 at batch 32 can run in (a single backward task needs 294 MiB).
        var (code, output, err) = Run("plan", Resnet18, "--budget", "1MiB", "--solver", solver, "--format", "json");
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("recompute plan: no plan fits the budget of 1.00 MiB (1048576 B): ", line);
        using var json = JsonDocument.Parse(output);
        Assert.False(json.RootElement.GetProperty("feasible").GetBoolean());
        long smallest = json.RootElement.GetProperty("smallestFeasibleBudgetBytes").GetInt64();
        Assert.Equal(smallestFor, json.RootElement.GetProperty("smallestFeasibleSolver").GetString());
        Assert.Contains($"the smallest feasible budget is {Recompute.Planner.Units.ByteSize.Format(smallest)} ({smallest} B)", line);
        if (smallestFor != solver) Assert.EndsWith($"with --solver {smallestFor}", line);
        // Below the largest step no schedule fits at all: the reason says so and names that step; the floor is given.
        long floor = json.RootElement.GetProperty("peakLowerBoundBytes").GetInt64();
        Assert.True(floor > 1_048_576 && floor <= smallest, $"floor {floor}, smallest {smallest}");
        Assert.StartsWith("no schedule of this graph fits it: backward task 'grad(", json.RootElement.GetProperty("reason").GetString());
        Assert.Contains($"({floor} bytes), live at once", line);

        // The budget the message gives really fits, with the solver it names.
        var (fitCode, fitOut, fitErr) = Run("plan", Resnet18, "--budget",
            smallest.ToString(System.Globalization.CultureInfo.InvariantCulture), "--solver", smallestFor, "--format", "json");
        Assert.True(fitCode == 0, fitErr);
        using var fit = JsonDocument.Parse(fitOut);
        Assert.True(fit.RootElement.GetProperty("peakBytes").GetInt64() <= smallest);
    }

    /// <summary>
    /// A --time-limit given bounds --min-memory: the exact DP's searches on GoogLeNet take well over a second, so at one
    /// second the command ends with one line saying so, nothing on stdout and no schedule written, never a budget that
    /// depends on the machine's speed. Without the option the same search runs to its end (the other tests).
    /// </summary>
    [Fact]
    public void MinMemoryUnderAGivenTimeLimit_EndsWithoutAnAnswerWhenCut()
    {
        var schedule = Path.Combine(_dir.FullName, "cut.json");
        var (code, output, err) = Run("plan", Paths.PaperGraph("googlenet"), "--solver", "dp", "--min-memory", "--time-limit", "1", "-o", schedule);
        Assert.Equal(1, code);
        Assert.Equal("", output);
        Assert.Equal("recompute plan: the search for the smallest budget did not end within --time-limit 1 s (raise --time-limit, or leave it out: --min-memory then runs every search to its end)",
            err.TrimEnd('\n'));
        Assert.False(File.Exists(schedule));
    }

    /// <summary>
    /// The table of an infeasible answer shows the closest schedule found, and says it is that (not a plan), and the
    /// largest step as the least any schedule needs.
    /// </summary>
    [Fact]
    public void AnInfeasibleTable_SaysItsFiguresAreTheClosestSchedules()
    {
        var (code, output, err) = Run("plan", Resnet18, "--budget", "200MiB", "--solver", "store-all");
        Assert.Equal(1, code);
        Assert.Contains("no schedule of this graph fits it", err);
        var lines = output.Split('\n');
        var closest = Assert.Single(lines, l => l.StartsWith("closest schedule", StringComparison.Ordinal));
        Assert.Contains("store-all's, which does not fit the budget", closest);
        Assert.True(Array.IndexOf(lines, closest) < Array.FindIndex(lines, l => l.StartsWith("simulated peak", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("solver ", StringComparison.Ordinal) && l.Contains("no plan fits"));
    }

    /// <summary>
    /// The search for the smallest feasible budget keeps to --time-limit (what is left, at least a second): on a
    /// 3,000-branch fan-out, whose full search takes several seconds, greedy at --time-limit 3 is cut. Whichever way
    /// the race goes, the answer is consistent: a complete search gives the smallest budget; a cut one says so and any
    /// budget it gives (feasibleBudgetBytes) plans.
    /// </summary>
    [Fact]
    public void TheSmallestBudgetSearch_CutByTheTimeLimit_SaysSo_AndWhatItGivesPlans()
    {
        const int w = 3000;
        var nodes = new List<string> { "{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 4096}" };
        for (int i = 0; i < w; i++) nodes.Add($"{{\"name\": \"r{i}\", \"op\": \"Relu\", \"kind\": \"activation\", \"inputs\": [\"x\"], \"bytes\": 4096, \"time\": 1}}");
        nodes.Add($"{{\"name\": \"c\", \"op\": \"Concat\", \"kind\": \"activation\", \"inputs\": [{string.Join(", ", Enumerable.Range(0, w).Select(i => $"\"r{i}\""))}], \"bytes\": {4096L * w}, \"time\": {w}}}");
        nodes.Add($"{{\"name\": \"loss\", \"op\": \"ReduceSum\", \"kind\": \"loss\", \"inputs\": [\"c\"], \"bytes\": 4, \"time\": {w}}}");
        var graph = Path.Combine(_dir.FullName, "fan-out.json");
        File.WriteAllText(graph,
            "{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"fan-out\", \"nodes\": [" + string.Join(", ", nodes) + "]}");

        var (code, output, err) = Run("plan", graph, "--budget", "60%", "--solver", "greedy", "--time-limit", "3", "--format", "json");
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var doc = JsonNode.Parse(output)!.AsObject();
        if (doc["smallestFeasibleBudgetBytes"] is { } smallest)
        {
            Assert.Contains($"the smallest feasible budget is {Recompute.Planner.Units.ByteSize.Format((long)smallest)}", line);
            return;
        }
        Assert.Contains("the time limit", line);
        if (doc["feasibleBudgetBytes"] is not { } feasible) return;
        long budget = (long)feasible;
        Assert.Equal("greedy", (string?)doc["feasibleBudgetSolver"]);
        Assert.Contains($"a budget of {Recompute.Planner.Units.ByteSize.Format(budget)} ({budget} B) plans (the time limit ended the search", line);
        var (fitCode, fitOut, fitErr) = Run("plan", graph, "--budget", budget.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--solver", "greedy", "--format", "json");
        Assert.True(fitCode == 0, fitErr);
        Assert.True((long)JsonNode.Parse(fitOut)!["peakBytes"]! <= budget);
    }

    [Theory]
    [InlineData("-o", "missing/s.json", "its folder does not exist")]
    [InlineData("--dot", "missing/g.dot", "its folder does not exist")]
    [InlineData("-o", "file.txt/s.json", "cannot write")]
    public void UnwritableOutput_Exits2_NamingTheFile_AndLeavesNothing(string option, string relative, string expected)
    {
        File.WriteAllText(Path.Combine(_dir.FullName, "file.txt"), "x");
        var target = Path.Combine(_dir.FullName, relative);
        var (code, output, err) = Run("plan", Resnet18, "--budget", "60%", option, target);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"recompute plan: cannot write {target}: ", line);
        Assert.Contains(expected, line);
        Assert.Equal(["file.txt"], _dir.GetFileSystemInfos().Select(f => f.Name)); // no folder made, no temporary file
    }

    [Fact]
    public void ReportIntoAFile_Exits2()
    {
        var file = Path.Combine(_dir.FullName, "file.txt");
        File.WriteAllText(file, "x");
        var (code, _, err) = Run("report", Resnet18, "-o", Path.Combine(file, "sub"), "--solvers", "chen", "--points", "2");
        Assert.Equal(2, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("recompute report: cannot create the report folder ", line);
    }

    // ------------------------------------------------------------------ schedules from elsewhere

    /// <summary>
    /// x (input, 4 B) → h = Relu(x) (8 B) → k = Relu(h) (8 B) → l = Sum(k) (4 B, the loss). ReLU's backward reads its
    /// own output, so grad(k) reads k and grad(h) reads h. Gradients are as large as their tensors.
    /// </summary>
    private (string Graph, string Schedule, JsonObject Document) StoreAllSchedule()
    {
        var b = new GraphBuilder("g");
        int x = b.Input("x", 4);
        int h = b.Activation("h", "Relu", [x], 8, 1);
        int k = b.Activation("k", "Relu", [h], 8, 1);
        b.Loss("l", "Sum", [k], 4, 1);
        var graph = Path.Combine(_dir.FullName, "g.json");
        NativeGraphFormat.Save(b.Build(), graph);
        var schedule = Path.Combine(_dir.FullName, "s.json");
        var (code, _, err) = Run("plan", graph, "--solver", "store-all", "--budget", "100%", "-o", schedule);
        Assert.True(code == 0, err);
        var doc = JsonNode.Parse(File.ReadAllText(schedule))!.AsObject();
        // The store-all schedule, step by step, and the live bytes after each step.
        Assert.Equal(
            ["compute h", "compute k", "compute l", "free-value l", "backward grad(l)", "backward grad(k)",
             "free-value k", "free-grad grad(l)", "backward grad(h)", "free-value h", "free-grad grad(k)", "free-grad grad(h)"],
            Steps(doc).Select(s => $"{s!["step"]} {s["tensor"]}"));
        //   8, 16, 20, 16, 20, 28, 20, 16, 24, 16, 8, 0: the peak, 28 B, is at step 5.
        return (graph, schedule, doc);
    }

    private static JsonArray Steps(JsonObject doc) => doc["steps"]!.AsArray();

    private static JsonObject Step(string kind, string tensor) => new() { ["step"] = kind, ["tensor"] = tensor };

    /// <summary>Writes the edited schedule, simulates it, and returns the one line of the error.</summary>
    private string SimulateRejected(string graph, string schedule, JsonObject doc, params string[] options)
    {
        File.WriteAllText(schedule, doc.ToJsonString());
        var (code, output, err) = Run(["simulate", graph, schedule, .. options]);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"recompute simulate: {schedule}: invalid schedule: ", line);
        return line;
    }

    [Fact]
    public void Simulate_ReadOfAFreedTensor_NamesTheStep()
    {
        var (graph, schedule, doc) = StoreAllSchedule();
        // Free k right after l is computed (step 3): then grad(k), now step 6, reads k after its free.
        var steps = Steps(doc);
        steps.RemoveAt(6);
        steps.Insert(3, Step("free-value", "k"));
        Assert.EndsWith("step 6: 'grad(k)' reads 'k', which was freed", SimulateRejected(graph, schedule, doc));
    }

    [Fact]
    public void Simulate_DoubleFree_NamesTheStep()
    {
        var (graph, schedule, doc) = StoreAllSchedule();
        Steps(doc).Insert(10, Step("free-value", "h"));
        Assert.EndsWith("step 10: frees 'h' twice", SimulateRejected(graph, schedule, doc));
    }

    [Fact]
    public void Simulate_ValueNeverComputed_NamesTheFirstReader()
    {
        var (graph, schedule, doc) = StoreAllSchedule();
        // Without "compute k", the loss (now step 1) reads a value nothing has computed.
        Steps(doc).RemoveAt(1);
        Assert.EndsWith("step 1: 'l' reads 'k', which was never computed", SimulateRejected(graph, schedule, doc));
    }

    [Fact]
    public void Simulate_TaskNeverRun_IsReportedAtTheEnd()
    {
        var (graph, schedule, doc) = StoreAllSchedule();
        // Without grad(h) (and its free) nothing reads it, so the problem shows at the end: step 10 of 10.
        var steps = Steps(doc);
        steps.RemoveAt(11);
        steps.RemoveAt(8);
        Assert.EndsWith("step 10: the schedule never computes 'grad(h)'", SimulateRejected(graph, schedule, doc));
    }

    [Fact]
    public void Simulate_OverItsStatedBudget_NamesTheFirstStepOver()
    {
        var (graph, schedule, doc) = StoreAllSchedule();
        // Live bytes reach 28 at step 5 (grad(k)): a stated budget of 27 B is exceeded there first.
        doc["budgetBytes"] = 27;
        Assert.EndsWith("step 5: live memory 28 bytes exceeds the stated budget of 27 bytes", SimulateRejected(graph, schedule, doc));
        // --budget replaces the stated one: at 16 B the loss (step 2, 20 B live) is the first step over.
        doc["budgetBytes"] = 28;
        Assert.EndsWith("step 2: live memory 20 bytes exceeds the stated budget of 16 bytes", SimulateRejected(graph, schedule, doc,
            "--budget", "16"));
        // The unedited schedule at its own budget is valid.
        File.WriteAllText(schedule, doc.ToJsonString());
        var (code, _, err) = Run("simulate", graph, schedule);
        Assert.True(code == 0, err);
    }
}
