using Recompute.Planner.Files;

namespace Recompute.Cli.CommandLine;

/// <summary>
/// The files one command reads and writes, so that no output replaces an input of the same command
/// (<c>plan g.json -o g.json</c>) or another of its outputs (<c>-o x --dot x</c>). A command runs inside a scope
/// (<see cref="Begin"/>); <see cref="InputFile"/> records each file it reads, the command claims its outputs
/// before it works (<see cref="ClaimOutput"/>), and <see cref="AtomicFile"/> checks every write
/// against the inputs again. Files are compared by identity (device and inode), so links, <c>./x</c> and hard
/// links are caught; outputs that do not exist yet by their folder's identity and their name. A file read whole is
/// read once: later reads in the same command get the same bytes (<see cref="TryGetContents"/>). The libraries
/// see it as their <see cref="IFileScope"/>.
/// </summary>
public sealed class CommandFiles : IFileScope
{
    private readonly Lock _gate = new();
    private readonly List<(string Path, FileStatus Status, string What)> _inputs = [];
    private readonly List<(string Path, string Key, FileStatus Status, string Option)> _outputs = [];

    /// <summary>The files of the command running on this logical thread, or null outside any.</summary>
    public static CommandFiles? Current => FileScope.Current as CommandFiles;

    /// <summary>Starts a scope for one command; disposing it restores the previous one.</summary>
    public static IDisposable Begin() => FileScope.Enter(new CommandFiles());

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
                    throw new OutputRefusedException(path,
                        $"it is also the output of {o.Option}{(o.Path != path ? $" ({o.Path})" : "")}; give each output its own file", option);
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
                throw new OutputRefusedException(path,
                    $"it is an input of this command (the {i.What} file{(i.Path != path ? $" {i.Path}" : "")}); writing it would destroy it", option);
    }
}
