using System.Collections.Immutable;
using Recompute.Planner.Scheduling;

namespace Recompute.Planner.Reporting;

/// <summary>What a stretch of a schedule is doing.</summary>
public enum SchedulePhase
{
    /// <summary>First computation of forward tensors.</summary>
    Forward,
    /// <summary>Recomputation of forward tensors during backward.</summary>
    Recompute,
    /// <summary>Gradient computation.</summary>
    Backward,
}

/// <summary>A maximal run of steps in one phase, from <see cref="Start"/> to <see cref="End"/> (exclusive).</summary>
public readonly record struct PhaseSpan(SchedulePhase Phase, int Start, int End);

/// <summary>Live bytes after every step of a schedule and the phases the steps belong to (frees join the phase before them).</summary>
public sealed record MemoryTimeline(string Label, long? BudgetBytes, long PeakBytes, ImmutableArray<long> LiveBytes, ImmutableArray<PhaseSpan> Phases)
{
    public static MemoryTimeline Of(string label, Schedule schedule, SimulationResult simulation, long? budgetBytes)
    {
        var spans = ImmutableArray.CreateBuilder<PhaseSpan>();
        SchedulePhase? current = null;
        int start = 0;
        for (int i = 0; i < schedule.Steps.Length; i++)
        {
            SchedulePhase? phase = schedule.Steps[i].Kind switch
            {
                StepKind.Compute => SchedulePhase.Forward,
                StepKind.Recompute => SchedulePhase.Recompute,
                StepKind.Backward => SchedulePhase.Backward,
                _ => null,
            };
            if (phase is null || phase == current) continue;
            if (current is not null) spans.Add(new PhaseSpan(current.Value, start, i));
            current = phase;
            start = i;
        }
        if (current is not null) spans.Add(new PhaseSpan(current.Value, start, schedule.Steps.Length));
        return new MemoryTimeline(label, budgetBytes, simulation.PeakBytes, simulation.LiveBytes, spans.ToImmutable());
    }
}
