using System.Text.RegularExpressions;
using Recompute.Tests.Support;

namespace Recompute.Tests.Docs;

/// <summary>
/// Issue 11, item 5: the planning core is a one-way stack. Graph (with the IR the solvers share: the forward DAG and
/// canonical strategies) is below scheduling (lowering, simulation), which is below the solvers, which are below
/// planning (the planner, auto, the registry) and reporting. Read from the sources, comments left out: a layer names
/// nothing of a layer above it, by <c>using</c> or by qualified name.
/// </summary>
public partial class LayeringTests
{
    private static readonly string[] Order = ["Graph", "Scheduling", "Solvers", "Planning", "Reporting"];

    [GeneratedRegex(@"^\s*//.*$", RegexOptions.Multiline)]
    private static partial Regex LineComment();

    /// <summary>
    /// A reference to layer <paramref name="upper"/>: "using Recompute.Planner.Planning;",
    /// "Recompute.Planner.Planning.RecomputePlanner" or, from inside Recompute.Planner, "Planning.RecomputePlanner".
    /// </summary>
    private static Regex Upward(string upper) => new($@"(\bRecompute\.Planner\.{upper}\b|(?<![\w.]){upper}\.[A-Z])");

    [Theory]
    [InlineData("Graph")]
    [InlineData("Scheduling")]
    [InlineData("Solvers")]
    public void Layer_NamesNothingAboveIt(string layer)
    {
        var above = Order.SkipWhile(l => l != layer).Skip(1).ToList();
        var folder = Path.Combine(Paths.RepoRoot, "Recompute.Planner", layer);
        var files = Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        var wrong = new List<string>();
        foreach (var file in files)
        {
            var code = LineComment().Replace(File.ReadAllText(file), "");
            foreach (var upper in above)
            {
                foreach (Match m in Upward(upper).Matches(code))
                {
                    int line = code[..m.Index].Count(c => c == '\n') + 1;
                    wrong.Add($"{Path.GetRelativePath(Paths.RepoRoot, file)}: '{m.Value}' (code line {line})");
                }
            }
        }
        Assert.True(wrong.Count == 0, $"{layer} names a layer above it:\n" + string.Join("\n", wrong));
    }

    [Fact]
    public void TheCheck_SeesAnUpwardReference()
    {
        // The pattern the theory uses finds what it must find, and skips comments.
        var code = LineComment().Replace("/// <see cref=\"Planning.AutoPortfolio\"/>\nvar x = Planning.RecomputePlanner.StoreAll(p);", "");
        Assert.Single(Upward("Planning").Matches(code));
        Assert.Single(Upward("Planning").Matches("using Recompute.Planner.Planning;"));
        Assert.Empty(Upward("Planning").Matches("var planning = Replanning.Run();"));
    }
}
