using System.Reflection;

namespace Recompute.Tests.Docs;

/// <summary>
/// The public types of the libraries, by namespace, are exactly the lists below: what a user needs. Solver internals,
/// the generated ONNX protobuf types, the kernels (but for <c>KernelOptions</c>, the thread setting), the operators and
/// the schedule executor are internal. A new public type fails this test until it is added here, so that every
/// addition to the surface is deliberate (and documented).
/// </summary>
public class PublicSurfaceTests
{
    private static readonly Dictionary<string, string> Runtime = new()
    {
        ["Recompute.Runtime.Data"] = "NamedArray Npz",
        ["Recompute.Runtime.Execution"] = "Adam AdamW Calibration CalibrationOptions CalibrationResult CpuProfile EvaluationResult ExecutionClock ExecutionResult " +
            "InfeasibleBudgetException IOptimizer LearningRateSchedule ModelState ModelWeights RecomputationMismatchException Sgd TrainingBatch " +
            "TrainingOptions TrainingSession TrainingStepResult",
        ["Recompute.Runtime.Kernels"] = "KernelOptions",
        ["Recompute.Runtime.Models"] = "Gpt2Size LayerSummary ModelBuilder ModelTensor SampleData SampleModels",
        ["Recompute.Runtime.Tensors"] = "Arena MemoryCategory Tensor",
    };

    private static readonly Dictionary<string, string> Planner = new()
    {
        ["Recompute.Planner.Costs"] = "ConstantValue CostModel ElementTypes MeasuredTimes OpContext ShapeInference ShapeInferenceException ShapeMath TensorInfo",
        ["Recompute.Planner.Devices"] = "ClassRates CostClass DeviceProfile DeviceProfileFile DeviceProfiles HostLink OpCosts OpWork",
        ["Recompute.Planner.Files"] = "AtomicFile FileKind FileScope FileStatus IFileScope InputFile InputKind OutputRefusedException OutputTarget TerminalText",
        ["Recompute.Planner.Graph"] = "CanonicalStrategy ComputationGraph GraphBuilder GraphCounts GraphFormatException Node NodeKind NodeSpec SavedTensors SavedValues TaskKind TrainingGraph TrainingTask ViewOf Views",
        ["Recompute.Planner.Import"] = "CheckmateImporter GraphLoader GraphLoadOptions JsonGraphDispatcher NativeGraphFormat PaperGraphImporter",
        ["Recompute.Planner.Import.Onnx"] = "OnnxImporter OnnxImportOptions OnnxImportResult",
        ["Recompute.Planner.Planning"] = "AutoOptions AutoPortfolio AutoSolver BudgetSearchResult FeasibleBudgetResult InfeasibleHint MinMemoryResult OffloadOptions OffloadPlanner PlanResult RecomputePlanner SmallestBudget SolverCapabilities SolverDescriptor SolverKnobs SolverKnobText SolverRegistry",
        ["Recompute.Planner.Reporting"] = "BatchFamily BatchFit BudgetGuide BudgetReport BudgetSweep DotWriter GraphSummary GuideDevice GuideOptions MaxBatchAnswer MaxBatchFormat MaxBatchOptions " +
            "MaxBatchResult MaxBatchSearch MemoryTimeline OptimizerKind PhaseSpan ReportCsv ReportHtml ReportJson ReportSummary SchedulePhase SummaryBlock SweepOptions " +
            "SweepPoint SweepProgress SweepSeries TensorRole TimelineReport",
        ["Recompute.Planner.Scheduling"] = "InPlaceSteps InvalidScheduleException Liveness Schedule ScheduleFormat SimulationResult Simulator Step StepKind",
        ["Recompute.Planner.Solvers"] = "BlockCostModel BoundSource BoundSourceText EvictionScore ISolver Objective PaperModelCost PlanBound PlanningProblem PlanStatus PlanStatusText SolverName SolverOptions SolverProgress SolverResult TimeShares",
        ["Recompute.Planner.Units"] = "ByteSize TimeUnits",
    };

    private static Dictionary<string, string> Surface(Assembly assembly) =>
        assembly.GetExportedTypes().GroupBy(t => t.Namespace ?? "")
            .ToDictionary(g => g.Key, g => string.Join(" ", g.Select(t => t.Name.Split('`')[0]).Order(StringComparer.OrdinalIgnoreCase)));

    private static void AssertSurface(Assembly assembly, Dictionary<string, string> expected)
    {
        var actual = Surface(assembly);
        var wrong = new List<string>();
        foreach (var ns in expected.Keys.Union(actual.Keys).Order(StringComparer.Ordinal))
        {
            var want = expected.GetValueOrDefault(ns, "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.OrdinalIgnoreCase);
            var have = actual.GetValueOrDefault(ns, "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (!want.SequenceEqual(have))
                wrong.Add($"public types of {ns} in {assembly.GetName().Name}: [{string.Join(" ", have)}], expected [{string.Join(" ", want)}]");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong) + "\nmake a type internal, or add it here if users need it");
    }

    [Fact]
    public void TheRuntimesPublicTypes_AreWhatATrainingProgramNeeds() =>
        AssertSurface(typeof(Recompute.Runtime.Execution.TrainingSession).Assembly, Runtime);

    [Fact]
    public void ThePlannersPublicTypes_LeaveSolverInternalsAndOnnxProtobufTypesInternal() =>
        AssertSurface(typeof(Recompute.Planner.Planning.RecomputePlanner).Assembly, Planner);
}
