using System.Collections.Immutable;
using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Benchmarks;

/// <summary>Throwaway: a schedule's first runs whose value is freed unread, moved to the next re-run.</summary>
public static class DeferProbe
{
    public static ImmutableArray<Step> Defer(TrainingGraph training, ImmutableArray<Step> steps, out int moved)
    {
        var list = steps.ToList();
        moved = 0;
        var tasks = training.Tasks;
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Kind != StepKind.Compute) continue;
            int t = list[i].Task;
            int f = -1;
            bool read = false;
            for (int j = i + 1; j < list.Count; j++)
            {
                var s = list[j];
                if (s.Kind == StepKind.FreeValue && s.Task == t) { f = j; break; }
                if (s.Allocates && tasks[s.Task].Inputs.IndexOf(t) >= 0) { read = true; break; }
                if (s.IsTransfer && s.Task == t) { read = true; break; }
            }
            if (read || f < 0) continue;
            int r = -1;
            for (int j = f + 1; j < list.Count; j++)
                if (list[j].Kind == StepKind.Recompute && list[j].Task == t) { r = j; break; }
            if (r < 0) continue;
            list[r] = new Step(StepKind.Compute, t);
            list.RemoveAt(f);
            list.RemoveAt(i);
            moved++;
            i--;
        }
        return [.. list];
    }

    public static void Table(QuickTableOptions options)
    {
        foreach (var pair in (Environment.GetEnvironmentVariable("DEFER_FILES") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=');
            var training = new PlanningProblem(GraphLoader.Load(parts[0])).Training;
            var schedule = ScheduleFormat.Read(parts[1], training);
            var before = Simulator.Measure(schedule);
            var steps = Defer(training, schedule.Steps, out int moved);
            var after = Simulator.Simulate(schedule with { Steps = steps });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Path.GetFileName(parts[1])}: moved {moved}, recompute {before.RecomputeTime:E4} -> {after.RecomputeTime:E4}, peak {before.PeakBytes} -> {after.PeakBytes} (budget {schedule.BudgetBytes})"));
        }
    }
}
