using System.Text.RegularExpressions;
using Recompute.Tests.Support;

namespace Recompute.Tests.Docs;

/// <summary>
/// Every Markdown link of README.md and docs/*.md to a local file (<c>[text](path)</c> or <c>![alt](path)</c>, not a
/// URL, not an anchor of the same page) names a file or folder that exists, relative to the page that holds it.
/// </summary>
public class DocsLinkTests
{
    // The target ends at the first space or closing parenthesis; a title ("...") after it is not part of the path.
    private static readonly Regex Link = new(@"!?\[[^\]]*\]\((?<target>[^)\s]+)(\s+""[^""]*"")?\)");

    /// <summary>README.md and every page of docs/, as paths relative to the repository root.</summary>
    public static TheoryData<string> Pages()
    {
        var data = new TheoryData<string>();
        data.Add("README.md");
        foreach (var f in Directory.GetFiles(Path.Combine(Paths.RepoRoot, "docs"), "*.md").Order(StringComparer.Ordinal))
            data.Add("docs/" + Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void EveryLocalLink_NamesAFileThatExists(string page)
    {
        string path = Path.Combine(Paths.RepoRoot, page);
        string folder = Path.GetDirectoryName(path)!;
        var text = File.ReadAllText(path);
        // Links inside code blocks are code, not links.
        text = Regex.Replace(text, @"^```.*?^```", "", RegexOptions.Singleline | RegexOptions.Multiline);
        var missing = new List<string>();
        foreach (Match m in Link.Matches(text))
        {
            string target = m.Groups["target"].Value;
            if (target.StartsWith('#') || Regex.IsMatch(target, "^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase)) continue;
            string file = Uri.UnescapeDataString(target.Split('#')[0]);
            string resolved = Path.GetFullPath(Path.Combine(folder, file));
            if (!File.Exists(resolved) && !Directory.Exists(resolved)) missing.Add(target);
        }
        Assert.True(missing.Count == 0, $"{page} links to files that do not exist: {string.Join(", ", missing)}");
    }

    [Fact]
    public void TheReadme_IsAFiveMinuteRead()
    {
        // Issue 29: at most 250 lines; reference material lives in docs/.
        int lines = File.ReadAllLines(Path.Combine(Paths.RepoRoot, "README.md")).Length;
        Assert.True(lines <= 250, $"README.md has {lines} lines");
    }
}
