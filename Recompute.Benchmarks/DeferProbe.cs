using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;

namespace Recompute.Benchmarks;

/// <summary>
/// The quick table <c>defer-probe</c>: what saved schedules (<c>recompute plan -o</c>) recompute once their first runs
/// that are freed unread are moved to where they run again (<see cref="FirstRuns.Defer"/>). <c>DEFER_FILES</c> lists
/// <c>GRAPH=SCHEDULE</c> pairs separated by <c>;</c>; per schedule: runs moved, recompute time and peak before and after.
/// </summary>
public static class DeferProbe
{
    /// <summary>Prints the probe for each pair.</summary>
    public static void Table(QuickTableOptions options)
    {
        foreach (var pair in (Environment.GetEnvironmentVariable("DEFER_FILES") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            var training = new PlanningProblem(GraphLoader.Load(parts[0])).Training;
            var schedule = ScheduleFormat.Read(parts[1], training);
            var before = Simulator.Measure(schedule);
            var after = Simulator.Measure(schedule with { Steps = FirstRuns.Defer(training, schedule.Steps, out int moved) });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Path.GetFileName(parts[1])}: {moved} first runs moved, recompute {before.RecomputeTime:E4} -> {after.RecomputeTime:E4}, peak {before.PeakBytes} -> {after.PeakBytes} (budget {schedule.BudgetBytes})"));
        }
    }
}
