namespace Recompute.Planner.Solvers;

/// <summary>The words of <see cref="BoundSource"/> in JSON and tables.</summary>
public static class BoundSourceText
{
    /// <summary>"no recomputation", "cut relaxation", "cp-sat", "relaxation" or "one run of every task".</summary>
    public static string ToText(this BoundSource source) => source switch
    {
        BoundSource.NoRecomputation => "no recomputation",
        BoundSource.CutRelaxation => "cut relaxation",
        BoundSource.CpSat => "cp-sat",
        BoundSource.Relaxation => "relaxation",
        BoundSource.OneRunOfEveryTask => "one run of every task",
        _ => throw new ArgumentOutOfRangeException(nameof(source)),
    };
}
