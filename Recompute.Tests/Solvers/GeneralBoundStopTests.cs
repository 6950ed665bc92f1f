using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Solvers;

/// <summary>
/// A bound the command's stop cuts short (<see cref="GeneralBoundRun.Stopped"/>) keeps what its relaxations proved by
/// then, a CP-SAT search's best objective bound at the moment it was stopped included: it must still bound every
/// schedule.
/// </summary>
public class GeneralBoundStopTests
{
    [Fact]
    public void ABoundStoppedPartWay_NeverExceedsTheLeastRecomputationOfAnySchedule()
    {
        int stoppedWithABound = 0, compared = 0;
        foreach (int seed in Enumerable.Range(1, 8))
        {
            var problem = new PlanningProblem(RandomGraphs.Forward(seed, nodes: 8));
            if (problem.Training.Count > 20) continue;
            foreach (double fraction in new[] { 0.4, 0.5, 0.6, 0.7 })
            {
                long budget = (long)(RecomputePlanner.StoreAllPeak(problem) * fraction);
                if (ExhaustiveSchedules.LeastRecompute(problem.Training, budget) is not { } least) continue;
                // Stops from before the first relaxation ends to after the last: the tiny models take about a millisecond
                // each in an optimised build on an idle machine, so every millisecond up to 12, then sparser.
                foreach (int ms in (int[])[.. Enumerable.Range(1, 12), 15, 20, 30, 60, 120, 250])
                {
                    // Cancelled from a thread of its own: the pool's timers run late while other tests keep the pool busy,
                    // and then fire only after the tiny relaxations have all ended.
                    using var stop = new CancellationTokenSource();
                    var canceller = new Thread(() => { Thread.Sleep(ms); stop.Cancel(); }) { IsBackground = true, Priority = ThreadPriority.Highest };
                    canceller.Start();
                    var run = GeneralBound.Prove(problem.Training, budget, new HashSet<int>(), TimeSpan.FromSeconds(2),
                        new SearchWorkers(2, 0), 1, stop.Token);
                    canceller.Join();
                    if (run is null) continue;
                    compared++;
                    Assert.True(run.Bound <= least + 1e-9 * Math.Max(1, least),
                        $"seed {seed} at {fraction:P0}, stopped after {ms} ms: bound {run.Bound} above the least recomputation {least}");
                    if (run.Stopped && run.Bound > 0) stoppedWithABound++;
                }
            }
        }
        Assert.True(compared > 0);
        Assert.True(stoppedWithABound > 0, $"{stoppedWithABound} of {compared} runs were stopped part-way with a bound");
    }
}
