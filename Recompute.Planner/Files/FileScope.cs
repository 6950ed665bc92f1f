namespace Recompute.Planner.Files;

/// <summary>
/// What a host is told of the files the libraries read and write, so that it can keep an output from replacing an
/// input. The command line supplies one per command; a library used alone runs without any.
/// </summary>
public interface IFileScope
{
    /// <summary>The bytes read first from <paramref name="path"/> in this scope, if the whole file was read.</summary>
    bool TryGetContents(string path, out byte[] bytes);

    /// <summary>Keeps the bytes read from <paramref name="path"/> for the rest of the scope.</summary>
    void KeepContents(string path, byte[] bytes);

    /// <summary>Records a file that was read (<paramref name="what"/> names its kind in messages).</summary>
    void NoteInput(string path, FileStatus status, string what);

    /// <summary>Refuses, by throwing <see cref="OutputRefusedException"/>, a write over a file of the scope.</summary>
    void CheckWrite(string path, FileStatus status);
}

/// <summary>The <see cref="IFileScope"/> in force on this logical thread (an async flow), if any.</summary>
public static class FileScope
{
    private static readonly AsyncLocal<IFileScope?> Scope = new();

    /// <summary>The scope in force, or null.</summary>
    public static IFileScope? Current => Scope.Value;

    /// <summary>Puts <paramref name="scope"/> in force until the result is disposed, which restores the previous one.</summary>
    public static IDisposable Enter(IFileScope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var previous = Scope.Value;
        Scope.Value = scope;
        return new Restore(previous);
    }

    private sealed class Restore(IFileScope? previous) : IDisposable
    {
        public void Dispose() => Scope.Value = previous;
    }
}
