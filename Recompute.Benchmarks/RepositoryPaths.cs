namespace Recompute.Benchmarks;

/// <summary>Where the repository's sample graphs and the shared conformance files are, for every benchmark.</summary>
internal static class RepositoryPaths
{
    private static readonly Lazy<string> RootDir = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Recompute.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("run the benchmarks from inside the repository (Recompute.sln not found above " + AppContext.BaseDirectory + ")");
    });

    /// <summary>The directory holding Recompute.sln, walking up from the program's directory.</summary>
    public static string Root => RootDir.Value;

    /// <summary>A file of <c>graphs/</c>.</summary>
    public static string Graph(string file) => Path.Combine(Root, "graphs", file);

    /// <summary>
    /// <c>../shared/conformance</c> from the repository root; a git worktree may sit deeper, so the root's
    /// ancestors are tried too, nearest first.
    /// </summary>
    public static string Conformance(string relative)
    {
        for (var d = new DirectoryInfo(Root); d is not null; d = d.Parent)
        {
            var candidate = Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "conformance", relative));
            if (File.Exists(candidate) || Directory.Exists(candidate)) return candidate;
        }
        return Path.GetFullPath(Path.Combine(Root, "..", "shared", "conformance", relative));
    }
}
