namespace Recompute.Cli.CommandLine;

/// <summary>"Did you mean" for misspelt commands, options and values: the nearest names by edit distance.</summary>
public static class Suggestions
{
    /// <summary>The candidates nearest to <paramref name="text"/>, closest first, within a distance that grows with the length.</summary>
    public static IReadOnlyList<string> Nearest(string text, IEnumerable<string> candidates)
    {
        // A third of the word may be wrong (at least one edit, at most three): "--budjet" → "--budget", "dpp" → "dp".
        int limit = Math.Clamp(text.TrimStart('-').Length / 3, 1, 3);
        var scored = candidates.Distinct(StringComparer.Ordinal)
            .Select(c => (Name: c, Distance: Distance(text, c)))
            .Where(c => c.Distance <= limit || (text.Length >= 3 && c.Name.StartsWith(text, StringComparison.Ordinal)))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal)
            .ToList();
        if (scored.Count == 0) return [];
        int best = scored[0].Distance;
        return scored.Where(c => c.Distance == best).Select(c => c.Name).ToList();
    }

    /// <summary>"; did you mean '--budget'?" or an empty string.</summary>
    public static string DidYouMean(string text, IEnumerable<string> candidates)
    {
        var near = Nearest(text, candidates);
        return near.Count switch
        {
            0 => "",
            1 => $"; did you mean '{near[0]}'?",
            _ => $"; did you mean one of {string.Join(", ", near.Select(n => $"'{n}'"))}?",
        };
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost one.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
