namespace Recompute.Planner.Files;

/// <summary>
/// The files one command reads and writes, so that no output replaces an input of the same command
/// (<c>plan g.json -o g.json</c>) or another of its outputs (<c>-o x --dot x</c>). A command runs inside a scope
/// (<see cref="Begin"/>); <see cref="InputFile"/> records each file it reads, the command claims its outputs
/// before it works (<see cref="ClaimOutput"/>), and <see cref="AtomicFile"/> checks every write
/// against the inputs again. Files are compared by identity (device and inode), so links, <c>./x</c> and hard
/// links are caught; outputs that do not exist yet by their folder's identity and their name. A file read whole is
/// read once: later reads in the same command get the same bytes (<see cref="TryGetContents"/>).
/// </summary>
public sealed class CommandFiles
{
    private static readonly AsyncLocal<CommandFiles?> Scope = new();

    private readonly Lock _gate = new();
    private readonly List<(string Path, FileStatus Status, string What)> _inputs = [];
    private readonly List<(string Path, string Key, FileStatus Status, string Option)> _outputs = [];

    /// <summary>The scope of the command running on this logical thread, or null outside any.</summary>
    public static CommandFiles? Current => Scope.Value;

    /// <summary>Starts a scope for one command; disposing it restores the previous one.</summary>
    public static IDisposable Begin()
    {
        var previous = Scope.Value;
        Scope.Value = new CommandFiles();
        return new Restore(previous);
    }

    private sealed class Restore(CommandFiles? previous) : IDisposable
    {
        public void Dispose() => Scope.Value = previous;
    }

    private readonly Dictionary<string, byte[]> _contents = new(StringComparer.Ordinal);

    /// <summary>
    /// The bytes the command read first from <paramref name="path"/> (by full path), if it read the whole file: a
    /// command that needs a file again (the model it saves, weights after the graph) uses what it loaded, never what
    /// the file holds by then.
    /// </summary>
    public bool TryGetContents(string path, out byte[] bytes)
    {
        lock (_gate) return _contents.TryGetValue(Path.GetFullPath(path), out bytes!);
    }

    /// <summary>Keeps the bytes read from <paramref name="path"/> for the rest of the command (see <see cref="TryGetContents"/>).</summary>
    public void KeepContents(string path, byte[] bytes)
    {
        lock (_gate) _contents.TryAdd(Path.GetFullPath(path), bytes);
    }

    /// <summary>Records a file the command read (<paramref name="what"/> names its kind in messages).</summary>
    public void NoteInput(string path, FileStatus status, string what)
    {
        lock (_gate) _inputs.Add((path, status, what));
    }

    /// <summary>
    /// Claims <paramref name="path"/> as the output of <paramref name="option"/> (<c>-o</c>, <c>--dot</c>,
    /// <c>-o DIR/report.json</c>): refuses, with an <see cref="OutputRefusedException"/>, a path that is empty,
    /// that names anything but a regular file or nothing, that is an input read so far, or that another option
    /// of this command already claimed, or whose folder is missing, not a folder, or refuses a new file (read-only,
    /// no permission). Claim after reading the inputs and before the work, so a refusal costs nothing.
    /// </summary>
    /// <param name="folderMadeLater">The command creates the output's folder itself (<c>report -o DIR</c>): its
    /// folder is not checked here (the command checks where it will make it).</param>
    public void ClaimOutput(string path, string option, bool folderMadeLater = false)
    {
        var status = OutputTarget.Check(path, option);
        if (!folderMadeLater) OutputTarget.CheckFolder(path);
        string key = OutputTarget.Key(path);
        lock (_gate)
        {
            CheckNotInput(path, status, option);
            foreach (var o in _outputs)
                if (o.Option != option && (o.Key == key || status.SameFileAs(o.Status)))
                    throw new OutputRefusedException(path, $"it is also the output of {o.Option}{(o.Path != path ? $" ({o.Path})" : "")}; give each output its own file", option);
            _outputs.Add((path, key, status, option));
        }
    }

    /// <summary>Refuses a write over an input of this command (called by every write, claimed or not).</summary>
    public void CheckWrite(string path, FileStatus status)
    {
        lock (_gate) CheckNotInput(path, status, null);
    }

    private void CheckNotInput(string path, FileStatus status, string? option)
    {
        foreach (var i in _inputs)
            if (status.SameFileAs(i.Status))
                throw new OutputRefusedException(path, $"it is an input of this command (the {i.What} file{(i.Path != path ? $" {i.Path}" : "")}); writing it would destroy it", option);
    }
}

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
            var k => throw new OutputRefusedException(path, $"it is {FileStatus.Describe(k)}, not a regular file; outputs replace only regular files", option),
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
            string why = e is UnauthorizedAccessException ? "permission denied (or a read-only file system)" : e.Message.Replace(probe, folder, StringComparison.Ordinal).ReplaceLineEndings(" ");
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
