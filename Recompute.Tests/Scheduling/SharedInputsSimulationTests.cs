using Recompute.Planner.Graph;
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
}
