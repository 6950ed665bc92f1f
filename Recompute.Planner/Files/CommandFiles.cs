namespace Recompute.Planner.Files;

/// <summary>
/// The files one command reads and writes, so that no output replaces an input of the same command
/// (<c>plan g.json -o g.json</c>) or another of its outputs (<c>-o x --dot x</c>). A command runs inside a scope
/// (<see cref="Begin"/>); <see cref="InputFile"/> records each file it reads, the command claims its outputs
/// before it works (<see cref="ClaimOutput"/>), and <see cref="AtomicFile"/> checks every write
/// against the inputs again. Files are compared by identity (device and inode), so links, <c>./x</c> and hard
/// links are caught; outputs that do not exist yet by their folder's identity and their name.
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

    /// <summary>Records a file the command read (<paramref name="what"/> names its kind in messages).</summary>
    public void NoteInput(string path, FileStatus status, string what)
    {
        lock (_gate) _inputs.Add((path, status, what));
    }

    /// <summary>
    /// Claims <paramref name="path"/> as the output of <paramref name="option"/> (<c>-o</c>, <c>--dot</c>,
    /// <c>-o DIR/report.json</c>): refuses, with an <see cref="OutputRefusedException"/>, a path that is empty,
    /// that names anything but a regular file or nothing, that is an input read so far, or that another option
    /// of this command already claimed. Claim after reading the inputs and before the work, so a refusal costs nothing.
    /// </summary>
    public void ClaimOutput(string path, string option)
    {
        var status = OutputTarget.Check(path, option);
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
