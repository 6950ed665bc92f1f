namespace Recompute.Planner.Solvers.Optimal;

/// <summary>
/// Chains of cuts grown from a solved relaxation (<see cref="CutRelaxation"/>): the next cut is the task of the cut
/// path where the solution, read as a schedule, holds the most memory above the budget. Any chain of path tasks is a
/// relaxation, so every grown chain bounds every schedule (<see cref="GeneralBound"/>) and its solution is a drop set
/// to lower (<see cref="RelaxationGuide"/>).
/// </summary>
/// <remarks>
/// A single cut sees only the memory at its own task. On U-Net at 50 % of store-all the cut of greatest excess,
/// <c>grad(convs.3.5 Relu)</c>, is cheapest when it leaves out <c>ups.3</c>'s ConvTranspose output (recomputed to
/// rebuild <c>Concat_3</c> for its backward) and keeps <c>ups.2</c>'s; but at <c>grad(Concat_3)</c>, whose own
/// inputs and output take 640 MiB, the convolution outputs kept with <c>ups.2</c>'s exceed the budget, so a schedule
/// shaped like that solution recomputes a second ConvTranspose. With that task as a second cut the relaxation keeps
/// <c>ups.3</c>'s output until <c>Concat_3</c> is rebuilt and drops <c>ups.2</c>'s: 1.21·10¹⁰ where the single cut
/// bounds 1.18·10¹⁰, and the chain of all 70 path tasks has the same optimum.
/// </remarks>
internal static class CutGrowth
{
    /// <summary>Most cuts a chain is grown by.</summary>
    public const int Rounds = 2;

    /// <summary>
    /// The task of <paramref name="analysis"/>'s path, not a cut yet, where <paramref name="solution"/> overflows
    /// <paramref name="memoryBytes"/> most, or null where it overflows at none. The memory counted at a task y: its
    /// output and inputs, and every other buffer pending at y (an ancestor of y that a descendant reads) that the
    /// solution does not leave out at the nearest cut (the last cut before y, or the first cut where none is before).
    /// </summary>
    public static int? MostOverflowing(CutAnalysis analysis, CutRelaxation relaxation, Google.OrTools.Sat.CpSolver solution, long memoryBytes)
    {
        var tasks = analysis.Training.Tasks;
        var cuts = relaxation.Cuts;
        var isCut = cuts.ToHashSet();
        long most = 0;
        int? found = null;
        // A task's memory is at most its pressure (budget + excess on the path), so the search stops where that cannot
        // overflow by more than the most found.
        foreach (int y in analysis.Path.OrderByDescending(x => analysis.Excess[x]).ThenBy(x => x))
        {
            if (analysis.Excess[y] + analysis.BudgetBytes - memoryBytes <= most) break;
            if (isCut.Contains(y)) continue;
            int nearest = 0;
            for (int c = 0; c < cuts.Count; c++)
                if (analysis.Ancestors[y].Contains(cuts[c])) nearest = c;
            long live = analysis.FixedBytes[y];
            foreach (int a in analysis.PendingAt(y))
                if (tasks[y].Inputs.IndexOf(a) < 0 && !relaxation.Dropped(solution, nearest, a)) live += tasks[a].Bytes;
            if (live - memoryBytes > most) (most, found) = (live - memoryBytes, y);
        }
        return found;
    }

    /// <summary><paramref name="cuts"/> with <paramref name="cut"/> added, in chain order (task ids are topological).</summary>
    public static int[] With(IReadOnlyList<int> cuts, int cut) => cuts.Append(cut).Order().ToArray();
}
