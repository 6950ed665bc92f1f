using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Scheduling;

/// <summary>
/// The simulator remembers that a long inputs array shared by many tasks was all live and checks only the frees since
/// (W² checks otherwise on a W-wide Concat whose backward reads every operand): a buffer of that array freed between
/// two of its readers must still be caught, with the message a full check gives.
/// </summary>
public class SharedInputsSimulationTests
{
    private static (TrainingGraph Training, List<int> Branches) WideConcat(int w)
    {
        var b = new GraphBuilder("wide");
        int x = b.Input("x", 64);
        var branches = Enumerable.Range(0, w).Select(i => b.Activation($"r{i}", "Relu", [x], 64, 1)).ToList();
        b.Loss("loss", "Sum", [b.Activation("c", "Concat", branches, 64L * w, w)], 4, 1);
        var training = TrainingGraph.Derive(b.Build());
        return (training, branches.Select(training.ForwardTaskOf).ToList());
    }

    [Fact]
    public void ABranchFreedBetweenTwoGradientsThatReadIt_IsCaught()
    {
        var (training, branches) = WideConcat(200);
        var storeAll = new PlanningProblem(training.Graph).StoreAll.Schedule;
        Simulator.Simulate(storeAll); // valid as lowered
        int victim = branches[137];
        var steps = storeAll.Steps.ToList();
        int free = steps.FindIndex(s => s.Kind == StepKind.FreeValue && s.Task == victim);
        steps.RemoveAt(free);
        // Free it right after the second gradient that reads it: the third must fail on it.
        var readers = steps.Select((s, i) => (s, i)).Where(x => x.s.Kind == StepKind.Backward && training.Tasks[x.s.Task].Inputs.Contains(victim)).Select(x => x.i).ToList();
        Assert.True(readers.Count > 2);
        steps.Insert(readers[1] + 1, new Step(StepKind.FreeValue, victim));
        var broken = new Schedule(training, [.. steps], "test", null);
        var e = Assert.Throws<InvalidScheduleException>(() => Simulator.Simulate(broken));
        Assert.Equal(readers[2] + 1, e.StepIndex);
        Assert.Contains($"reads '{training.Tasks[victim].Name}', which was freed", e.Reason);
    }

    [Fact]
    public void AFreedBranchRecomputedBeforeTheNextReader_IsValid()
    {
        var (training, branches) = WideConcat(100);
        var storeAll = new PlanningProblem(training.Graph).StoreAll.Schedule;
        int victim = branches[40];
        var steps = storeAll.Steps.ToList();
        steps.RemoveAt(steps.FindIndex(s => s.Kind == StepKind.FreeValue && s.Task == victim));
        int second = steps.Select((s, i) => (s, i)).Where(x => x.s.Kind == StepKind.Backward && training.Tasks[x.s.Task].Inputs.Contains(victim)).Select(x => x.i).ElementAt(1);
        steps.InsertRange(second + 1, [new Step(StepKind.FreeValue, victim), new Step(StepKind.Recompute, victim)]);
        steps.Add(new Step(StepKind.FreeValue, victim));
        var expected = Simulator.Simulate(storeAll);
        var result = Simulator.Simulate(new Schedule(training, [.. steps], "test", null));
        Assert.Equal(expected.RecomputeTime + training.Tasks[victim].Time, result.RecomputeTime);
    }

    /// <summary>
    /// Liveness tracks a long shared inputs array per array, not per buffer: its frees must be those of the plain rule
    /// (each instance freed right after its last reader), here with branches recomputed between the gradients that
    /// read them, so that some instances end between two reads of the same array.
    /// </summary>
    [Theory]
    [InlineData(70, 3)]
    [InlineData(150, 7)]
    public void LivenessOverSharedInputs_FreesWhereThePlainRuleDoes(int w, int every)
    {
        var (training, branches) = WideConcat(w);
        var allocations = new PlanningProblem(training.Graph).StoreAll.Schedule.Steps.Where(s => s.Allocates).ToList();
        int gradients = 0;
        for (int i = 0; i < allocations.Count; i++)
        {
            if (allocations[i].Kind != StepKind.Backward || !training.Tasks[allocations[i].Task].Inputs.Contains(branches[0])) continue;
            if (++gradients % every == 0) allocations.Insert(i + 1, new Step(StepKind.Recompute, branches[gradients % w]));
        }
        var frees = Liveness.InsertFrees(training, allocations);
        Assert.Equal(PlainFrees(training, allocations), frees);
        Simulator.Simulate(new Schedule(training, frees, "test", null));
    }

    /// <summary>The rule written plainly: every buffer's last reader per instance, each input looked at per reader.</summary>
    private static List<Step> PlainFrees(TrainingGraph training, List<Step> allocations)
    {
        var freeAfter = new List<int>[allocations.Count];
        for (int i = 0; i < freeAfter.Length; i++) freeAfter[i] = [];
        var start = Enumerable.Repeat(-1, training.Count).ToArray();
        var last = new int[training.Count];
        for (int i = 0; i < allocations.Count; i++)
        {
            int t = allocations[i].Task;
            foreach (int p in training.Tasks[t].Inputs) last[p] = i;
            if (start[t] >= 0) freeAfter[last[t]].Add(t);
            (start[t], last[t]) = (i, i);
        }
        for (int t = 0; t < training.Count; t++) if (start[t] >= 0) freeAfter[last[t]].Add(t);
        var steps = new List<Step>();
        for (int i = 0; i < allocations.Count; i++)
        {
            steps.Add(allocations[i]);
            steps.AddRange(freeAfter[i].Order().Select(t => new Step(training.Tasks[t].Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t)));
        }
        return steps;
    }

    /// <summary>Below the largest step no schedule fits: auto says so at once, naming the step, with store-all's schedule as the closest.</summary>
    [Fact]
    public void BelowTheLargestStep_AutoAnswersWithTheFloorAndStoreAll()
    {
        var (training, _) = WideConcat(120);
        var problem = new PlanningProblem(training.Graph);
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes;
        var plan = RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = floor - 1 });
        Assert.False(plan.Feasible);
        Assert.Contains("no schedule of this graph fits it", plan.Solver.Reason);
        Assert.Contains($"({floor} bytes)", plan.Solver.Reason);
        Assert.Equal(problem.StoreAll.Schedule, plan.Schedule);
        Assert.True(RecomputePlanner.Plan(problem, AutoPortfolio.Name, new SolverOptions { BudgetBytes = floor }).Feasible);
    }

    /// <summary>Canonical lowering walks a shared inputs array once per backward pass: its chains still recompute what each gradient reads.</summary>
    [Fact]
    public void ChenOnAWideConcat_SimulatesValid()
    {
        var (training, _) = WideConcat(300);
        var problem = new PlanningProblem(training.Graph);
        long floor = Recompute.Planner.Solvers.Optimal.MemoryLowerBound.Of(problem.Training).Bytes;
        var plan = RecomputePlanner.Plan(problem, SolverName.Chen, new SolverOptions { BudgetBytes = floor + floor / 10 });
        Assert.NotNull(plan.Schedule);
        var replay = Simulator.Measure(plan.Schedule!);
        Assert.Equal(plan.Simulation!.PeakBytes, replay.PeakBytes);
    }
}
