using System.Diagnostics;
using Google.OrTools.Sat;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Solvers.Optimal;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>
/// <see cref="SolverWaits"/>: the time a command's thread waits for CP-SAT's own threads counts for the command's stop
/// as those threads' processor time, at most the wait's wall time, and the process's other threads never count. Run alone: another
/// test's threads started during a wait would be counted as the search's.
/// </summary>
[Collection(RunsAlone.Name)]
public class SolverWaitsTests
{
    /// <summary>Processor time (thread clock) slack: the kernel counts threads' times in ticks of 10 ms.</summary>
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(40);

    [Fact]
    public void AWait_IsOwedTheProcessorTimeOfTheThreadsStartedInIt_AtMostItsWallTime()
    {
        if (!OperatingSystem.IsLinux()) return;
        var ledger = SolverWaits.Attach();
        try
        {
            // One of a search's two threads busy for 300 ms (the other idle, as CP-SAT's are while one loads a
            // model): owed what it spun, which is the wait's wall time on an idle machine.
            TimeSpan spun = TimeSpan.Zero;
            var wall = Stopwatch.StartNew();
            using (SolverWaits.Enter(threads: 2))
            {
                var worker = new Thread(() => spun = Spin(TimeSpan.FromMilliseconds(300)));
                worker.Start();
                worker.Join();
            }
            wall.Stop();
            Assert.True(spun >= TimeSpan.FromMilliseconds(300));
            var owed = ledger.Owed();
            Assert.InRange(owed, spun - Tick, spun + Tick);
            Assert.True(owed <= wall.Elapsed, $"owed {owed} for a wait of {wall.Elapsed}");
            // Two threads busy together for 300 ms: owed no more than the wall time, not their sum.
            var second = SolverWaits.Attach();
            try
            {
                var both = Stopwatch.StartNew();
                using (SolverWaits.Enter(threads: 2))
                {
                    var workers = new[] { new Thread(() => Spin(TimeSpan.FromMilliseconds(300))), new Thread(() => Spin(TimeSpan.FromMilliseconds(300))) };
                    foreach (var w in workers) w.Start();
                    foreach (var w in workers) w.Join();
                }
                both.Stop();
                Assert.True(second.Owed() <= both.Elapsed, $"owed {second.Owed()} for a wait of {both.Elapsed}");
                Assert.True(second.Owed() >= TimeSpan.FromMilliseconds(300) - Tick, $"owed {second.Owed()}");
            }
            finally { second.Detach(); }
        }
        finally { ledger.Detach(); }
    }

    [Fact]
    public void AStopInAProcessThatIsTheCommand_CountsTheProcessesTime_WhileItsThreadWaitsForAnother()
    {
        if (!OperatingSystem.IsLinux()) return;
        bool before = CommandStop.ProcessIsCommand;
        CommandStop? whole = null, threadOnly = null;
        try
        {
            CommandStop.ProcessIsCommand = true;
            whole = new CommandStop(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(150));
            CommandStop.ProcessIsCommand = false;
            threadOnly = new CommandStop(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(150));
            // The command's thread waits for a thread of its own (a parallel loop's worker, not a CP-SAT search):
            // its own clock stands still, the process's does not.
            var worker = new Thread(() => Spin(TimeSpan.FromMilliseconds(500)));
            worker.Start();
            worker.Join();
            // The stops poll every 50 ms on the thread pool, whose timers a loaded machine may run late: wait for the
            // one that should fire (the command's thread, asleep meanwhile, gets no time for the other).
            Assert.True(whole.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(10)), "the process had its time: the stop should have fired");
            Assert.False(threadOnly.Token.IsCancellationRequested, "the command's thread had no time: the stop should wait");
        }
        finally
        {
            threadOnly?.Dispose();
            whole?.Dispose();
            CommandStop.ProcessIsCommand = before;
        }
    }

    [Fact]
    public void AWait_DoesNotCountTheThreadsThatWereRunningBeforeIt()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var done = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        var busy = new Thread(() =>
        {
            started.Set();
            while (!done.IsSet) Thread.SpinWait(1000);
        });
        busy.Start();
        started.Wait();
        var ledger = SolverWaits.Attach();
        try
        {
            var wall = Stopwatch.StartNew();
            using (SolverWaits.Enter(threads: 2)) Thread.Sleep(300);
            wall.Stop();
            Assert.True(ledger.Owed() <= Tick, $"owed {ledger.Owed()} for a wait of {wall.Elapsed} in which only an older thread ran");
        }
        finally
        {
            ledger.Detach();
            done.Set();
            busy.Join();
        }
    }

    [Fact]
    public void NothingIsOwed_ForASearchOnOneThread_OrOnAThreadNoStopWatches()
    {
        using (SolverWaits.Enter(threads: 2))
        {
            var worker = new Thread(() => Spin(TimeSpan.FromMilliseconds(50)));
            worker.Start();
            worker.Join();
        }
        var ledger = SolverWaits.Attach();
        try
        {
            using (SolverWaits.Enter(threads: 1))
            {
                var worker = new Thread(() => Spin(TimeSpan.FromMilliseconds(100)));
                worker.Start();
                worker.Join();
            }
            Assert.Equal(TimeSpan.Zero, ledger.Owed());
        }
        finally { ledger.Detach(); }
    }

    [Fact]
    public void EachCpSatSearchOnTwoThreads_IsOwedTime_NoMoreThanItsWallClock()
    {
        var settings = new CpSatSettings(TimeSpan.FromSeconds(0.4), Workers: 2, Seed: 0);
        Assert.Equal(2, settings.SearchThreads);
        var ledger = SolverWaits.Attach();
        try
        {
            // Two searches one after the other: the second must be owed too (CP-SAT's threads are its own each time).
            var before = TimeSpan.Zero;
            var wall = TimeSpan.Zero;
            foreach (int seed in new[] { 5, 6 })
            {
                var clock = Stopwatch.StartNew();
                using var solver = new CpSolver { StringParameters = settings.ToParameterText() };
                settings.Solve(solver, HardModel(seed));
                wall += clock.Elapsed;
                var owed = ledger.Owed();
                if (OperatingSystem.IsLinux()) Assert.True(owed - before > TimeSpan.FromMilliseconds(20), $"search {seed}: owed {owed - before} for {clock.Elapsed} of search");
                before = owed;
            }
            Assert.True(ledger.Owed() <= wall + Tick, $"owed {ledger.Owed()} for {wall} of search");
        }
        finally { ledger.Detach(); }
    }

    /// <summary>Spins on the calling thread until it has had <paramref name="cpu"/> of processor time; returns what it had.</summary>
    private static TimeSpan Spin(TimeSpan cpu)
    {
        var start = CommandStop.ThreadTime();
        TimeSpan had;
        while ((had = CommandStop.ThreadTime() - start) < cpu) Thread.SpinWait(1000);
        return had;
    }

    /// <summary>A weighted satisfiability model CP-SAT does not prove within half a second: random 3-clauses, least weight of true literals.</summary>
    private static CpModel HardModel(int seed)
    {
        var random = new Random(seed);
        var model = new CpModel();
        var x = Enumerable.Range(0, 150).Select(i => model.NewBoolVar($"x{i}")).ToArray();
        for (int c = 0; c < 640; c++)
        {
            var literals = Enumerable.Range(0, 3).Select(_ =>
            {
                var v = x[random.Next(x.Length)];
                return random.Next(2) == 0 ? (ILiteral)v : v.Not();
            }).ToArray();
            model.AddBoolOr(literals);
        }
        model.Minimize(LinearExpr.WeightedSum(x, x.Select(_ => (long)random.Next(1, 100))));
        return model;
    }
}
