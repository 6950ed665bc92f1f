namespace Recompute.Planner.Planning;

/// <summary>
/// One sentence per solver and per report series saying what it is, from the solvers' descriptors
/// (<see cref="SolverDescriptor.Sentence"/>, <see cref="SolverDescriptor.MemorySeriesSentence"/>): the report prints
/// them beside its tables, and the Solvers list of docs/cli.md starts each entry with the same sentence (a test holds the
/// two together).
/// </summary>
internal static class SolverDescriptions
{
    private static IEnumerable<(string Name, string Sentence)> Sentences()
    {
        foreach (var d in SolverRegistry.Descriptors)
        {
            if (d.Sentence.Length > 0) yield return (d.Name, d.Sentence);
            if (d.MemorySeriesName is { } memory) yield return (memory, d.MemorySeriesSentence!);
        }
    }

    /// <summary>Every name with a sentence, in the order docs/cli.md lists them.</summary>
    public static IReadOnlyList<string> Names => Sentences().Select(s => s.Name).ToList();

    /// <summary>The sentence for a solver or report series (lower case, ending with a full stop); null for an unknown name.</summary>
    public static string? Of(string name) => Sentences().Where(s => s.Name == name).Select(s => s.Sentence).FirstOrDefault();
}
