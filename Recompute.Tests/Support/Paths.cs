namespace Recompute.Tests.Support;

/// <summary>Where the repository, its sample graphs and the shared conformance files are.</summary>
public static class Paths
{
    private static readonly Lazy<string> Root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Recompute.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Recompute.sln) above " + AppContext.BaseDirectory);
    });

    public static string RepoRoot => Root.Value;

    public static string Graphs => Path.Combine(RepoRoot, "graphs");

    /// <summary>The paper's and Checkmate's graphs, which CI places beside the checkout (never copied into it).</summary>
    public static string Conformance => Import.ConformanceFiles.Directory;

    public static string PaperGraph(string name) => Path.Combine(Conformance, "paper-graphs", $"cg_{name}.txt");

    public static string CheckmateGraph(string file) => Path.Combine(Conformance, "checkmate-graphs", file);
}
