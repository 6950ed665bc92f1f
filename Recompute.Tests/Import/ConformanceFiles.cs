namespace Recompute.Tests.Import;

/// <summary>
/// Locates the shared conformance graphs: <c>../shared/conformance</c> relative to the repository root (the folder
/// holding Recompute.sln, found by walking up from the test binaries). A git worktree may sit one level deeper
/// than the main checkout, so the ancestors of the root are tried in turn, nearest first.
/// </summary>
internal static class ConformanceFiles
{
    private static readonly Lazy<string> RootDir = new(FindConformance);

    public static string RepositoryRoot => Recompute.Tests.Support.Paths.RepoRoot;

    public static string Directory => RootDir.Value;

    public static string Paper(string name) => Path.Combine(Directory, "paper-graphs", name);

    public static string Checkmate(string name) => Path.Combine(Directory, "checkmate-graphs", name);

    public static string[] PaperGraphs => System.IO.Directory.GetFiles(Path.Combine(Directory, "paper-graphs"),
        "cg_*.txt").Order(StringComparer.Ordinal).ToArray();

    public static string[] CheckmateGraphs => System.IO.Directory.GetFiles(Path.Combine(Directory, "checkmate-graphs"),
        "*.json").Order(StringComparer.Ordinal).ToArray();

    private static string FindConformance()
    {
        for (var dir = new DirectoryInfo(RepositoryRoot); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "..", "shared", "conformance");
            if (System.IO.Directory.Exists(Path.Combine(candidate, "paper-graphs"))) return Path.GetFullPath(candidate);
        }
        throw new InvalidOperationException($"../shared/conformance not found relative to {RepositoryRoot} or its parents");
    }
}
