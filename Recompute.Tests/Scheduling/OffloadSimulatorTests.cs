using System.Collections.Immutable;
using Recompute.Planner.Devices;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;

namespace Recompute.Tests.Scheduling;

/// <summary>The simulator's rules for offload, prefetch and wait, each broken once, and its clock.</summary>
public class OffloadSimulatorTests
{
    // 1,000 bytes over 1,000 bytes/s plus 0.5 s of latency: every transfer of 'a' takes 1.5 s.
    private static readonly HostLink Link = new(1000, 0.5);

    /// <summary>x → a → b → loss; b's backward reads a. Every forward task takes 1 s, backward 2 s; a is 1,000 bytes.</summary>
    private static TrainingGraph Chain()
    {
        var g = new GraphBuilder("offload-chain", "s");
        int x = g.Input("x", 8);
        int a = g.Add(new NodeSpec("a", "Op", NodeKind.Activation) { Inputs = [x], Bytes = 1000, Time = 1, BackwardTime = 2 });
        int b = g.Add(new NodeSpec("b", "Op", NodeKind.Activation) { Inputs = [a], Bytes = 100, Time = 1, BackwardTime = 2 });
        g.Loss("loss", "Sum", [b], 4, 1);
        return TrainingGraph.Derive(g.Build());
    }

    private static Schedule Make(TrainingGraph tg, IEnumerable<(StepKind Kind, string Task)> steps, HostLink? link = null, long? hostBudget = null)
    {
        int Id(string name) => tg.Tasks.Single(t => t.Name == name).Id;
        return new Schedule(tg, steps.Select(s => new Step(s.Kind, Id(s.Task))).ToImmutableArray(), "test", null) { Link = link ?? Link, HostBudgetBytes = hostBudget };
    }

    /// <summary>
    /// Store-all order with 'a' offloaded: the copy starts after a is computed (t = 1 s) and ends at 2.5 s, so the
    /// wait after b (t = 2 s) stalls 0.5 s; the prefetch starts after the loss (t = 3.5 s), ends at 5 s, and the
    /// backward tasks before grad(a) (2 s or more) hide it.
    /// </summary>
    private static List<(StepKind, string)> Valid(TrainingGraph tg)
    {
        var steps = new List<(StepKind, string)>
        {
            (StepKind.Compute, "a"), (StepKind.Offload, "a"), (StepKind.Compute, "b"), (StepKind.Wait, "a"), (StepKind.FreeValue, "a"),
            (StepKind.Compute, "loss"), (StepKind.Prefetch, "a"),
        };
        foreach (var t in tg.Tasks.Where(t => t.Kind == TaskKind.Backward))
        {
            if (t.Name == "grad(a)") steps.Add((StepKind.Wait, "a"));
            steps.Add((StepKind.Backward, t.Name));
        }
        foreach (var t in tg.Tasks) steps.Add((t.Kind == TaskKind.Forward ? StepKind.FreeValue : StepKind.FreeGrad, t.Name));
        return steps;
    }

    [Fact]
    public void AValidOffload_ReportsHostPeakTransfersAndTheCriticalPath()
    {
        var tg = Chain();
        var sim = Simulator.Simulate(Make(tg, Valid(tg)));
        Assert.Equal(1000, sim.HostPeakBytes);
        Assert.Equal(1000, sim.OffloadBytes);
        Assert.Equal(3.0, sim.TransferSeconds, 9);
        // The compute stream is at 2 s when it waits for the copy that ends at 2.5 s; the prefetch arrives in time.
        Assert.Equal(0.5, sim.StallSeconds, 9);
        Assert.Equal(sim.TotalTime + 0.5, sim.StepSeconds, 9);
        // Device memory: a is not live between its free and its prefetch.
        var storeAll = Simulator.Simulate(Make(tg, Valid(tg).Where(s => s.Item1 is not (StepKind.Offload or StepKind.Prefetch or StepKind.Wait))
            .Where((s, i) => !(s.Item1 == StepKind.FreeValue && s.Item2 == "a" && i < 6))));
        Assert.True(sim.PeakBytes <= storeAll.PeakBytes);
        Assert.Empty(storeAll.HostLiveBytes);
        Assert.Equal(0, storeAll.StallSeconds);
        Assert.Equal(storeAll.TotalTime, storeAll.StepSeconds);
    }

    /// <summary>
    /// A blocking link (the CPU's copies, on the step's own thread) holds the step for every transfer in full: the
    /// same schedule stalls 3 s, both copies, where the link beside compute stalled 0.5 s; the copies are done when
    /// the step goes on, so the waits add nothing. Written and read back, the schedule keeps its blocking link.
    /// </summary>
    [Fact]
    public void ABlockingLink_StallsForEveryTransfer_AndTheScheduleFileKeepsIt()
    {
        var tg = Chain();
        var schedule = Make(tg, Valid(tg), Link with { Blocking = true });
        var sim = Simulator.Simulate(schedule);
        Assert.Equal(3.0, sim.TransferSeconds, 9);
        Assert.Equal(3.0, sim.StallSeconds, 9);
        Assert.Equal(sim.TotalTime + 3.0, sim.StepSeconds, 9);
        var text = ScheduleFormat.ToJson(schedule);
        Assert.Contains("\"blocking\": true", text);
        var back = ScheduleFormat.Parse(text, tg, "schedule.json");
        Assert.True(back.Link!.Blocking);
        Assert.Equal(sim.StepSeconds, Simulator.Simulate(back).StepSeconds, 12);
        Assert.DoesNotContain("blocking", ScheduleFormat.ToJson(Make(tg, Valid(tg))));
    }

    private static InvalidScheduleException Broken(TrainingGraph tg, List<(StepKind, string)> steps, long? hostBudget = null, HostLink? link = null) =>
        Assert.Throws<InvalidScheduleException>(() => Simulator.Simulate(Make(tg, steps, link, hostBudget)));

    [Fact]
    public void ReadingBeforeTheWaitOnItsPrefetch_IsRejectedAtTheReader()
    {
        var tg = Chain();
        var steps = Valid(tg);
        int wait = steps.LastIndexOf((StepKind.Wait, "a"));
        steps.RemoveAt(wait);
        var e = Broken(tg, steps);
        Assert.Equal(steps.IndexOf((StepKind.Backward, "grad(a)")), e.StepIndex);
        Assert.Contains("reads 'a' before the wait on its prefetch", e.Reason);
    }

    [Fact]
    public void PrefetchOfATensorNeverOffloaded_IsRejected()
    {
        var tg = Chain();
        var steps = Valid(tg);
        // Without the offload (and its wait), the prefetch has no host copy to bring back.
        steps.Remove((StepKind.Offload, "a"));
        steps.Remove((StepKind.Wait, "a"));
        var e = Broken(tg, steps);
        Assert.Equal(steps.IndexOf((StepKind.Prefetch, "a")), e.StepIndex);
        Assert.Contains("has no host copy", e.Reason);
    }

    [Fact]
    public void FreeingTheDeviceCopyWhileItsOffloadIsInFlight_IsRejected()
    {
        var tg = Chain();
        var steps = Valid(tg);
        steps.RemoveAt(steps.IndexOf((StepKind.Wait, "a")));
        var e = Broken(tg, steps);
        Assert.Equal(steps.IndexOf((StepKind.FreeValue, "a")), e.StepIndex);
        Assert.Contains("while its offload is in flight", e.Reason);
    }

    [Fact]
    public void ASecondOffload_IsRejected()
    {
        var tg = Chain();
        var steps = Valid(tg);
        steps.Insert(2, (StepKind.Offload, "a"));
        var e = Broken(tg, steps);
        Assert.Equal(2, e.StepIndex);
        Assert.Contains("offloads 'a' a second time", e.Reason);
    }

    [Fact]
    public void OffloadOfAValueNotLive_AndOfAGradient_AreRejected()
    {
        var tg = Chain();
        var steps = Valid(tg);
        steps.Insert(0, (StepKind.Offload, "a"));
        Assert.Contains("which is not live on the device", Broken(tg, steps).Reason);

        steps = Valid(tg);
        int grad = steps.IndexOf((StepKind.Backward, "grad(b)"));
        steps.Insert(grad + 1, (StepKind.Offload, "grad(b)"));
        var e = Broken(tg, steps);
        Assert.Equal(grad + 1, e.StepIndex);
        Assert.Contains("which is a gradient", e.Reason);
    }

    [Fact]
    public void PrefetchWhileLive_WaitWithoutTransfer_AndFreeDuringPrefetch_AreRejected()
    {
        var tg = Chain();
        var steps = Valid(tg);
        steps.Insert(1, (StepKind.Prefetch, "a"));
        var e = Broken(tg, steps);
        Assert.Equal(1, e.StepIndex);
        Assert.Contains("still live on the device", e.Reason);

        steps = Valid(tg);
        steps.Insert(0, (StepKind.Wait, "a"));
        Assert.Contains("has no transfer in flight", Broken(tg, steps).Reason);

        steps = Valid(tg);
        int prefetch = steps.IndexOf((StepKind.Prefetch, "a"));
        steps.Insert(prefetch + 1, (StepKind.FreeValue, "a"));
        e = Broken(tg, steps);
        Assert.Equal(prefetch + 1, e.StepIndex);
        Assert.Contains("while its prefetch is in flight", e.Reason);
    }

    [Fact]
    public void AHostCopyNeverBroughtBack_AndATransferNeverWaitedOn_AreRejectedAtTheEnd()
    {
        var tg = Chain();
        var steps = Valid(tg);
        // Recompute a instead of bringing it back: the host copy stays.
        steps.Remove((StepKind.Prefetch, "a"));
        steps[steps.LastIndexOf((StepKind.Wait, "a"))] = (StepKind.Recompute, "a");
        var e = Broken(tg, steps);
        Assert.Equal(steps.Count, e.StepIndex);
        Assert.Contains("the host copy of 'a' is never brought back", e.Reason);

        steps = Valid(tg);
        // Keep a on the device instead of bringing it back, and never wait on its offload (nor free it).
        steps.RemoveAll(s => s == (StepKind.Wait, "a") || s == (StepKind.FreeValue, "a") || s == (StepKind.Prefetch, "a"));
        e = Broken(tg, steps);
        Assert.Equal(steps.Count, e.StepIndex);
        Assert.Contains("the transfer of 'a' is never waited on", e.Reason);
    }

    [Fact]
    public void TheHostBudget_AndAMissingLink_AreEnforced()
    {
        var tg = Chain();
        var e = Broken(tg, Valid(tg), hostBudget: 999);
        Assert.Equal(1, e.StepIndex);
        Assert.Contains("exceeds the stated host budget of 999 bytes", e.Reason);
        Simulator.Simulate(Make(tg, Valid(tg), hostBudget: 1000));

        var noLink = new Schedule(tg, Make(tg, Valid(tg)).Steps, "test", null);
        var missing = Assert.Throws<InvalidScheduleException>(() => Simulator.Simulate(noLink));
        Assert.Equal(1, missing.StepIndex);
        Assert.Contains("needs a device–host link", missing.Reason);
    }

    [Fact]
    public void ScheduleFile_IsVersion2WithTransfers_AndVersion1Without()
    {
        var tg = Chain();
        var offload = Make(tg, Valid(tg));
        var text = ScheduleFormat.ToJson(offload);
        Assert.Contains("\"version\": 2,", text);
        Assert.Contains("\"hostLink\": {\"bytesPerSecond\": 1000, \"latencySeconds\": 0.5},", text);
        Assert.Contains("{\"step\": \"prefetch\", \"tensor\": \"a\"}", text);
        var back = ScheduleFormat.Parse(text, tg, "s.json");
        Assert.Equal(offload.Steps.ToArray(), back.Steps.ToArray());
        Assert.Equal(Link, back.Link);
        Assert.Equal(Simulator.Simulate(offload).StepSeconds, Simulator.Simulate(back).StepSeconds);
        Assert.Equal(text, ScheduleFormat.ToJson(back));

        var plain = Liveness.RunOnce(tg, "test", null);
        var v1 = ScheduleFormat.ToJson(plain);
        Assert.Contains("\"version\": 1,", v1);
        Assert.DoesNotContain("hostLink", v1);

        // A version 1 file may not hold transfer steps.
        var e = Assert.Throws<GraphFormatException>(() => ScheduleFormat.Parse(text.Replace("\"version\": 2", "\"version\": 1"), tg, "s.json"));
        Assert.Contains("hostLink", e.Message);
        var e2 = Assert.Throws<GraphFormatException>(() => ScheduleFormat.Parse(
            text.Replace("\"version\": 2", "\"version\": 1").Replace("  \"hostLink\": {\"bytesPerSecond\": 1000, \"latencySeconds\": 0.5},\n  \"hostBudgetBytes\": null,\n", ""), tg, "s.json"));
        Assert.Contains("'offload' steps need a version 2 schedule", e2.Message);
    }
}
