using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>One run of a task inside a stage: the live bytes while it runs and the buffers freed right after it.</summary>
/// <param name="Position">Stage-order position of the task run.</param>
/// <param name="LiveBytes">Live bytes while the task runs (its inputs, its output and every other live buffer; a run in
/// place holds its output in its source's buffer).</param>
/// <param name="FreedAfter">Positions of the buffers freed right after this run.</param>
internal sealed record StageRun(int Position, long LiveBytes, IReadOnlyList<int> FreedAfter)
{
    /// <summary>Bytes the run saves by running in place (its source's, whose free right after it frees nothing), else 0.</summary>
    public long InPlaceBytes { get; init; }
}

/// <summary>
/// A stage plan replayed with frees after each buffer's last reader: per stage, the buffers live when it starts
/// (Checkmate's S) and each run's live bytes and frees. This is the simulator's accounting arranged by stage; the
/// optimal solver turns it into a complete hint for its model.
/// </summary>
internal sealed class StageTrace
{
    private StageTrace(HashSet<int>[] liveAtStart, List<StageRun>[] runs)
    {
        LiveAtStart = liveAtStart; Runs = runs;
    }

    /// <summary>Per stage, the positions whose buffers are live when the stage begins.</summary>
    public IReadOnlyList<HashSet<int>> LiveAtStart { get; }
    /// <summary>Per stage, the runs in order (the stage's own first run last).</summary>
    public IReadOnlyList<List<StageRun>> Runs { get; }

    /// <summary>Largest live bytes of any run.</summary>
    public long PeakBytes => Runs.SelectMany(r => r).Select(r => r.LiveBytes).DefaultIfEmpty(0).Max();

    public static StageTrace Of(StagePlan plan)
    {
        var order = plan.Order;
        var training = order.Training;
        var steps = Liveness.InsertFrees(training, plan.AllocationSteps());
        var inPlace = InPlaceSteps.Of(training, steps);
        var liveAtStart = new HashSet<int>[order.Count];
        var runs = new List<StageRun>[order.Count];
        var live = new HashSet<int>();
        long current = 0;
        int stage = 0, index = 0;
        while (stage < order.Count)
        {
            liveAtStart[stage] = [.. live];
            runs[stage] = [];
            bool stageDone = false;
            while (!stageDone)
            {
                int source = inPlace[index];
                var step = steps[index++];
                int p = order.PositionOf[step.Task];
                live.Add(p);
                current += training.Tasks[step.Task].Bytes;
                // A run in place holds its output in its source's buffer, which is freed right after it.
                long saved = source >= 0 ? training.Tasks[source].Bytes : 0;
                long atRun = current - saved;
                var freed = new List<int>();
                while (index < steps.Length && steps[index].Frees)
                {
                    int f = order.PositionOf[steps[index].Task];
                    live.Remove(f);
                    current -= training.Tasks[steps[index].Task].Bytes;
                    freed.Add(f);
                    index++;
                }
                runs[stage].Add(new StageRun(p, atRun, freed) { InPlaceBytes = saved });
                stageDone = p == stage;
            }
            stage++;
        }
        return new StageTrace(liveAtStart, runs);
    }
}
