using System.Text.RegularExpressions;
using Recompute.Planner.Planning;

namespace Recompute.Tests.Docs;

/// <summary>
/// One source for what each solver is: the sentence the report prints (<see cref="SolverDescriptions"/>) opens the
/// solver's entry in the Solvers list of docs/cli.md (<see cref="Page"/>), word for word (backticks aside).
/// </summary>
public class SolverSentenceTests
{
    /// <summary>The page that holds the Solvers list.</summary>
    private const string Page = "docs/cli.md";

    [Fact]
    public void EverySolverEntryOfTheCliPage_StartsWithTheReportsSentence()
    {
        var lines = File.ReadAllLines(Path.Combine(Support.Paths.RepoRoot, Page));
        foreach (var name in SolverDescriptions.Names)
        {
            var head = new Regex($@"^\s*- `{Regex.Escape(name)}`( \([^)]*\))?: (?<text>.*)$");
            int at = Array.FindIndex(lines, l => head.IsMatch(l));
            Assert.True(at >= 0, $"{Page} has no entry \"- `{name}`: ...\"");
            // The entry's text: its first line and the indented lines under it, up to the next entry.
            var text = head.Match(lines[at]).Groups["text"].Value + " " +
                string.Join(" ", lines.Skip(at + 1).TakeWhile(l => l.StartsWith("    ", StringComparison.Ordinal)
                    && !l.TrimStart().StartsWith("- ", StringComparison.Ordinal)).Select(l => l.Trim()));
            text = Regex.Replace(text.Replace("`", "", StringComparison.Ordinal), @"\s+", " ");
            Assert.StartsWith(SolverDescriptions.Of(name)!, text);
        }
    }

    [Fact]
    public void EverySolverAndReportSeries_HasASentence()
    {
        foreach (var name in SolverRegistry.Names.Concat(BudgetSweepNames())) Assert.NotNull(SolverDescriptions.Of(name));
    }

    /// <summary>The registry's names are exactly <see cref="Recompute.Planner.Solvers.SolverName"/>'s constants, and
    /// each solver reports its own.</summary>
    [Fact]
    public void SolverNameConstants_AreTheRegisteredSolvers()
    {
        var constants = typeof(Recompute.Planner.Solvers.SolverName).GetFields()
            .Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).Order(StringComparer.Ordinal);
        Assert.Equal(constants, SolverRegistry.Names.Order(StringComparer.Ordinal));
        foreach (var name in SolverRegistry.Names) Assert.Equal(name, SolverRegistry.Create(name).Name);
    }

    private static IEnumerable<string> BudgetSweepNames() => [.. Recompute.Planner.Reporting.BudgetSweep.SolverNames, "dp-approx/memory"];
}
