using System.Collections.Immutable;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Scheduling;
using Recompute.Tests.Import;

namespace Recompute.Tests.Scheduling;

public class ScheduleFormatTests
{
    private static ComputationGraph Chain(long middleBytes = 8, double time = 1)
    {
        var b = new GraphBuilder("chain");
        int x = b.Input("x", 8);
        int w = b.Parameter("w", 16);
        int h = b.Activation("h", "MatMul", [x, w], 8, time);
        int r = b.Activation("r", "Relu", [h], middleBytes, time, backwardNeeds: [0]);
        b.Loss("loss", "Sum", [r], 4, time);
        return b.Build();
    }

    /// <summary>Store-all by hand: every forward task, every backward task, then every free.</summary>
    private static Schedule StoreAll(TrainingGraph tg, long? budget = null)
    {
        var steps = ImmutableArray.CreateBuilder<Step>();
        foreach (var t in tg.Tasks.Where(t => t.Kind == TaskKind.Forward)) steps.Add(new Step(StepKind.Compute, t.Id));
        foreach (var t in tg.Tasks.Where(t => t.Kind == TaskKind.Backward)) steps.Add(new Step(StepKind.Backward, t.Id));
        foreach (var t in tg.Tasks) steps.Add(new Step(t.Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t.Id));
        return new Schedule(tg, steps.ToImmutable(), "store-all", budget);
    }

    [Fact]
    public void WriteThenRead_GivesTheSameScheduleAndSimulation()
    {
        var tg = TrainingGraph.Derive(Chain());
        var schedule = StoreAll(tg, budget: 1000);
        var dir = Directory.CreateTempSubdirectory("sched-");
        try
        {
            var path = Path.Combine(dir.FullName, "schedule.json");
            ScheduleFormat.Write(schedule, path, new Dictionary<string, object?> { ["peakBytes"] = 48L, ["overhead"] = 0.25, ["note"] = null });
            Assert.Equal(["schedule.json"], Directory.GetFiles(dir.FullName).Select(Path.GetFileName));
            var back = ScheduleFormat.Read(path, tg);
            Assert.Equal(schedule.Steps.ToArray(), back.Steps.ToArray());
            Assert.Equal("store-all", back.Solver);
            Assert.Equal(1000, back.BudgetBytes);
            Assert.Equal(Simulator.Simulate(schedule).PeakBytes, Simulator.Simulate(back).PeakBytes);

            // Deterministic: the same schedule gives the same bytes; metadata keys are sorted.
            var text = File.ReadAllText(path);
            Assert.Equal(text, ScheduleFormat.ToJson(back, new Dictionary<string, object?> { ["overhead"] = 0.25, ["note"] = null,
                ["peakBytes"] = 48L }));
            Assert.Contains("\"metadata\": {\n    \"note\": null,\n    \"overhead\": 0.25,\n    \"peakBytes\": 48\n  }", text);
            Assert.Contains("    {\"step\": \"compute\", \"tensor\": \"h\"},\n", text);
            Assert.Contains("{\"step\": \"backward\", \"tensor\": \"grad(r)\"}", text);
            Assert.Contains("{\"step\": \"free-grad\", \"tensor\": \"grad(h)\"}", text);

            // Overwriting keeps one complete file.
            ScheduleFormat.Write(StoreAll(tg), path);
            Assert.Null(ScheduleFormat.Read(path, tg).BudgetBytes);
            Assert.Single(Directory.GetFiles(dir.FullName));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Write_ToTextWriter_MatchesFileText()
    {
        var tg = TrainingGraph.Derive(Chain());
        var sw = new StringWriter();
        ScheduleFormat.Write(StoreAll(tg), sw);
        Assert.Equal(ScheduleFormat.ToJson(StoreAll(tg)), sw.ToString());
        Assert.StartsWith("{\n  \"format\": \"recompute-schedule\",\n  \"version\": 1,\n  \"graph\": \"chain\",\n  \"graphFingerprint\": \"sha256:", sw.ToString());
    }

    [Fact]
    public void Write_IntoMissingFolder_FailsWithoutCreatingAnything()
    {
        var tg = TrainingGraph.Derive(Chain());
        var path = Path.Combine(Path.GetTempPath(), $"no-such-{Guid.NewGuid():N}", "s.json");
        Assert.ThrowsAny<IOException>(() => ScheduleFormat.Write(StoreAll(tg), path));
        Assert.False(Directory.Exists(Path.GetDirectoryName(path)));
    }

    [Fact]
    public void Write_FailingMidway_LeavesNoFileAndKeepsTheOldOne()
    {
        var tg = TrainingGraph.Derive(Chain());
        var dir = Directory.CreateTempSubdirectory("sched-fail-");
        try
        {
            var path = Path.Combine(dir.FullName, "s.json");
            Assert.Throws<ArgumentException>(() => ScheduleFormat.Write(StoreAll(tg), path,
                new Dictionary<string, object?> { ["bad"] = new object() }));
            Assert.Empty(Directory.GetFileSystemEntries(dir.FullName));
            ScheduleFormat.Write(StoreAll(tg, 500), path);
            var before = File.ReadAllText(path);
            Assert.Throws<ArgumentException>(() => ScheduleFormat.Write(StoreAll(tg), path,
                new Dictionary<string, object?> { ["bad"] = new[] { 1 } }));
            Assert.Equal(before, File.ReadAllText(path));
            Assert.Single(Directory.GetFileSystemEntries(dir.FullName));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Fingerprint_DependsOnTasksSizesAndEdgesButNotTimes()
    {
        string f = ScheduleFormat.Fingerprint(TrainingGraph.Derive(Chain()));
        Assert.Matches("^sha256:[0-9a-f]{32}$", f);
        Assert.Equal(f, ScheduleFormat.Fingerprint(TrainingGraph.Derive(Chain())));
        Assert.Equal(f, ScheduleFormat.Fingerprint(TrainingGraph.Derive(Chain(time: 7))));
        Assert.NotEqual(f, ScheduleFormat.Fingerprint(TrainingGraph.Derive(Chain(middleBytes: 9))));
        var b = new GraphBuilder("chain");
        int x = b.Input("x", 8);
        int w = b.Parameter("w", 16);
        int h = b.Activation("h", "MatMul", [x, w], 8, 1);
        int r = b.Activation("r", "Relu", [h], 8, 1, backwardNeeds: []); // the gradient of h no longer reads r's input
        b.Loss("loss", "Sum", [r], 4, 1);
        Assert.NotEqual(f, ScheduleFormat.Fingerprint(TrainingGraph.Derive(b.Build())));
    }

    private static GraphFormatException ReadBad(string json, TrainingGraph tg)
    {
        var path = Path.Combine(Path.GetTempPath(), $"bad-schedule-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            var e = Assert.Throws<GraphFormatException>(() => ScheduleFormat.Read(path, tg));
            Assert.Equal(path, e.File);
            return e;
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Read_UnknownStepKind_NamesTheStep()
    {
        var tg = TrainingGraph.Derive(Chain());
        var text = ScheduleFormat.ToJson(StoreAll(tg)).Replace("{\"step\": \"backward\", \"tensor\": \"grad(loss)\"}",
            "{\"step\": \"teleport\", \"tensor\": \"grad(loss)\"}");
        var e = ReadBad(text, tg);
        Assert.Equal("steps[3].step", e.Location);
        Assert.Contains("unknown step kind 'teleport'", e.Problem);
    }

    [Fact]
    public void Read_UnknownTensor_NamesTheStep()
    {
        var tg = TrainingGraph.Derive(Chain());
        var text = ScheduleFormat.ToJson(StoreAll(tg)).Replace("\"tensor\": \"r\"}", "\"tensor\": \"conv9\"}");
        var e = ReadBad(text, tg);
        Assert.Equal("steps[1].tensor", e.Location);
        Assert.Contains("'conv9' is not a task of graph 'chain'", e.Problem);
    }

    [Fact]
    public void Read_ScheduleOfAnotherGraph_IsRejectedByFingerprint()
    {
        var text = ScheduleFormat.ToJson(StoreAll(TrainingGraph.Derive(Chain())));
        var e = ReadBad(text, TrainingGraph.Derive(Chain(middleBytes: 9)));
        Assert.Equal("graphFingerprint", e.Location);
        Assert.Contains("different graph", e.Problem);
    }

    [Theory]
    [InlineData("", null, "empty")]
    [InlineData("{\"format\": \"recompute-schedule\", \"version\": 1, ", "line 1, byte 48", "invalid JSON")]
    [InlineData("[]", "the document", "must be a JSON object")]
    [InlineData("{\"format\": \"recompute-graph\", \"version\": 1}", "format", "expected \"recompute-schedule\"")]
    [InlineData("{\"format\": \"recompute-schedule\", \"version\": 3}", "version", "not supported")]
    [InlineData("{\"format\": \"recompute-schedule\", \"version\": 1, \"stepz\": []}", "the document", "unknown field 'stepz'")]
    public void Read_MalformedDocument_NamesThePlace(string json, string? place, string problem)
    {
        var e = ReadBad(json, TrainingGraph.Derive(Chain()));
        Assert.Equal(place, e.Location);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void Read_WrongTypesAndSizes_NameTheField()
    {
        var tg = TrainingGraph.Derive(Chain());
        var good = ScheduleFormat.ToJson(StoreAll(tg, 100));
        Assert.Equal("budgetBytes", ReadBad(good.Replace("\"budgetBytes\": 100", "\"budgetBytes\": -5"), tg).Location);
        Assert.Equal("budgetBytes", ReadBad(good.Replace("\"budgetBytes\": 100", "\"budgetBytes\": 99999999999999999999"), tg).Location);
        Assert.Equal("steps[0].tensor", ReadBad(good.Replace("\"tensor\": \"h\"}", "\"tensor\": 4}"), tg).Location);
        Assert.Equal("steps", ReadBad(good.Replace("\"steps\": [", "\"steps\": {\"a\": [").Replace("\n  ]\n}", "\n  ]}\n}"), tg).Location);
    }

    [Fact]
    public void WriteThenRead_PaperGraph_RoundTrips()
    {
        var tg = TrainingGraph.Derive(PaperGraphImporter.Load(ConformanceFiles.Paper("cg_resnet50.txt")));
        var schedule = StoreAll(tg);
        var text = ScheduleFormat.ToJson(schedule);
        var back = ScheduleFormat.Parse(text, tg, "resnet50.schedule.json");
        Assert.Equal(schedule.Steps.ToArray(), back.Steps.ToArray());
        Assert.Equal(text, ScheduleFormat.ToJson(back));
        Assert.Equal(Simulator.Simulate(schedule), Simulator.Simulate(back), new SimulationComparer());
    }

    [Theory]
    [InlineData("cg_vgg19.txt", 2_200_000_000L)]
    [InlineData("VGG16_256_train.json", 20_000_000_000L)]
    public void PlannedSchedule_SurvivesTheFileAndSimulatesTheSame(string file, long budget)
    {
        // Import → dp-approx → schedule file → read back → simulate: the file carries the plan exactly.
        var g = file.EndsWith(".txt", StringComparison.Ordinal)
            ? PaperGraphImporter.Load(ConformanceFiles.Paper(file))
            : JsonGraphDispatcher.Load(ConformanceFiles.Checkmate(file));
        var problem = new PlanningProblem(g);
        var plan = RecomputePlanner.Plan(problem, "dp-approx", new SolverOptions { BudgetBytes = budget });
        Assert.True(plan.Feasible);
        var dir = Directory.CreateTempSubdirectory("plan-");
        try
        {
            var path = Path.Combine(dir.FullName, "schedule.json");
            ScheduleFormat.Write(plan.Schedule!, path, new Dictionary<string, object?> { ["peakBytes"] = plan.Simulation!.PeakBytes });
            var back = ScheduleFormat.Read(path, TrainingGraph.Derive(JsonGraphDispatcher.Load(SaveNative(g, dir.FullName))));
            var sim = Simulator.Simulate(back);
            Assert.Equal(plan.Simulation.PeakBytes, sim.PeakBytes);
            Assert.Equal(plan.Simulation.RecomputeTime, sim.RecomputeTime);
            Assert.Equal(budget, back.BudgetBytes);
            Assert.True(sim.PeakBytes <= budget);
        }
        finally { dir.Delete(true); }
    }

    private static string SaveNative(ComputationGraph g, string dir)
    {
        var path = Path.Combine(dir, "graph.json");
        NativeGraphFormat.Save(g, path);
        return path;
    }

    private sealed class SimulationComparer : IEqualityComparer<SimulationResult>
    {
        public bool Equals(SimulationResult? a, SimulationResult? b) =>
            a!.PeakBytes == b!.PeakBytes && a.PeakStep == b.PeakStep && a.ForwardTime == b.ForwardTime && a.LiveBytes.SequenceEqual(b.LiveBytes);
        public int GetHashCode(SimulationResult r) => r.PeakBytes.GetHashCode();
    }
}
