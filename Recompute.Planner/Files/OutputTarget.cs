namespace Recompute.Planner.Files;

/// <summary>An output path refused before anything was written (exit code 2: bad usage).</summary>
public sealed class OutputRefusedException(string path, string reason, string? option = null)
    : IOException($"cannot write {(path.Length == 0 ? "''" : path)}{(option is null ? "" : $" ({option})")}: {reason}")
{
    /// <summary>The path refused.</summary>
    public string Path { get; } = path;

    /// <summary>Why, in words ("its folder does not exist").</summary>
    public string Reason { get; } = reason;
}

/// <summary>What an output path may name: nothing yet, or a regular file (which the write replaces by renaming).</summary>
public static class OutputTarget
{
    /// <summary>
    /// Refuses an empty path and any existing target but a regular file: a device, a FIFO or a socket would be
    /// replaced by a plain file (the rename swaps the directory entry), and so would a symbolic link, even to a
    /// regular file: the link would become a file and its target stay as it was, which is never what was meant;
    /// name the target itself instead.
    /// </summary>
    public static FileStatus Check(string path, string? option = null)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new OutputRefusedException(path, "the path is empty", option);
        var status = FileStatus.Of(path, followLinks: false);
        return status.Kind switch
        {
            FileKind.Missing or FileKind.Regular => status,
            FileKind.Directory => throw new OutputRefusedException(path, "it is a directory", option),
            FileKind.SymbolicLink => throw new OutputRefusedException(path,
                "it is a symbolic link, and writing would replace the link by a file; name the file it points to", option),
            FileKind.Unknown => throw new OutputRefusedException(path, "it cannot be examined (permission denied?)", option),
            var k => throw new OutputRefusedException(path,
                $"it is {FileStatus.Describe(k)}, not a regular file; outputs replace only regular files", option),
        };
    }

    /// <summary>
    /// Refuses an output whose folder cannot take it: missing, not a folder (a file named as a folder), or refusing a
    /// new file (a read-only file system, no permission). The test is the write itself: a uniquely named empty file
    /// is created in the folder and deleted, so whatever the file system or its access rules say is what is found.
    /// </summary>
    public static void CheckFolder(string path)
    {
        string folder;
        try { folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? "."; }
        catch (ArgumentException) { throw new OutputRefusedException(path, "it is not a valid path"); }
        var kind = FileStatus.Of(folder, followLinks: true).Kind;
        // Worded as the write itself would say it (AtomicFile), without the option: the same fault, found earlier.
        if (kind == FileKind.Missing) throw new OutputRefusedException(path, "its folder does not exist");
        if (kind != FileKind.Directory) throw new OutputRefusedException(path, $"{folder} is {FileStatus.Describe(kind)}, not a folder");
        string probe = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.probe");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(probe); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            string why = e is UnauthorizedAccessException ? "permission denied (or a read-only file system)" : e.Message.Replace(probe,
                folder, StringComparison.Ordinal).ReplaceLineEndings(" ");
            throw new OutputRefusedException(path, $"a file cannot be created in {folder}: {why}");
        }
    }

    /// <summary>A key that two spellings of one output path share: the identity of its folder and its name.</summary>
    internal static string Key(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full) ?? full;
        var d = FileStatus.Of(dir, followLinks: true);
        string name = System.IO.Path.GetFileName(full);
        return d.Inode != 0 ? $"{d.Device}:{d.Inode}/{name}" : full;
    }
}
