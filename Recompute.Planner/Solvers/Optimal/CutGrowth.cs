using Google.OrTools.Sat;

namespace Recompute.Planner.Solvers.Optimal;

/// <summary>One round of a chain grown by <see cref="CutGrowth.Grow"/>: the chain and CP-SAT's search of it.</summary>
/// <param name="Relaxation">The chain's relaxation, one cut more than the round before.</param>
/// <param name="Solver">The search, with its solution and bound; disposed when the next round is asked for.</param>
/// <param name="Status">CP-SAT's status.</param>
/// <param name="WallClockCut">Whether the wall clock ended a work-limited search before its work limit (its result is
/// to be set aside).</param>
/// <param name="DeterministicLimit">The deterministic time the search was allowed (what a caller counting work charges
/// for a search that did not end by proof).</param>
internal readonly record struct GrownRound(CutRelaxation Relaxation, CpSolver Solver, CpSolverStatus Status, bool WallClockCut, double DeterministicLimit)
{
    /// <summary>Whether the search gave a solution to read and grow from: the rounds end after one that did not.</summary>
    public bool Solved => !WallClockCut && Status is CpSolverStatus.Optimal or CpSolverStatus.Feasible;
}

/// <summary>How the searches of a grown chain's rounds are limited (<see cref="CutGrowth.Grow"/>).</summary>
/// <param name="Share">A round's time limit, counted as CP-SAT's deterministic time at <see cref="GeneralBound.SingleCutRate"/>.</param>
/// <param name="Shared">Whether the rounds share <paramref name="Share"/> (each gets what the rounds before it left,
/// counted in deterministic time, so the same on any load) rather than each getting all of it.</param>
/// <param name="WorkLimited">Whether each search is limited as work (<see cref="CpSatSettings.WorkLimited"/>).</param>
internal readonly record struct GrowthWork(TimeSpan Share, bool Shared, bool WorkLimited);

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

    /// <summary>
    /// The chains grown from <paramref name="start"/>, solved as <paramref name="solution"/>: each round adds the task
    /// where the round before's solution overflows <paramref name="memoryBytes"/> most (<see cref="MostOverflowing"/>),
    /// builds the chain's relaxation with <paramref name="relax"/> and searches it within <paramref name="work"/>, up to
    /// <paramref name="rounds"/> rounds. The rounds end where no task overflows, where a round's search gave no solution (that
    /// round is yielded, <see cref="GrownRound.Solved"/> false), where the shared work is spent, or on cancellation.
    /// What a round's solution is used for (a bound, a drop set to lower) is the caller's; each round's solver is
    /// disposed when the next is asked for (or the enumeration ends), <paramref name="solution"/> never.
    /// </summary>
    public static IEnumerable<GrownRound> Grow(CutAnalysis analysis, CutRelaxation start, CpSolver solution, long memoryBytes,
        Func<IReadOnlyList<int>, CutRelaxation> relax, GrowthWork work, SearchWorkers workers, int seed, CancellationToken cancellation,
        int rounds = Rounds)
    {
        var relaxation = start;
        var left = work.Share;
        CpSolver? owned = null;
        try
        {
            for (int round = 0; round < rounds && (!work.Shared || left > TimeSpan.Zero); round++)
            {
                if (cancellation.IsCancellationRequested || MostOverflowing(analysis, relaxation, solution, memoryBytes) is not { } next)
                    yield break;
                owned?.Dispose();
                owned = null;
                relaxation = relax(With(relaxation.Cuts, next));
                var settings = new CpSatSettings(left, workers.Logical, seed)
                    { Threads = workers.Threads, WorkLimited = work.WorkLimited, DeterministicRate = GeneralBound.SingleCutRate };
                var solver = owned = new CpSolver { StringParameters = settings.ToParameterText() };
                CpSolverStatus status;
                using (cancellation.Register(solver.StopSearch)) status = settings.Solve(solver, relaxation.Model);
                var grown = new GrownRound(relaxation, solver, status, settings.CutByWallClock(solver, status), settings.DeterministicLimit);
                yield return grown;
                if (!grown.Solved) yield break;
                if (work.Shared && work.WorkLimited)
                    left -= TimeSpan.FromSeconds((solver.Response?.DeterministicTime ?? 0) / GeneralBound.SingleCutRate);
                solution = solver;
            }
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary><paramref name="cuts"/> with <paramref name="cut"/> added, in chain order (task ids are topological).</summary>
    public static int[] With(IReadOnlyList<int> cuts, int cut) => cuts.Append(cut).Order().ToArray();
}
