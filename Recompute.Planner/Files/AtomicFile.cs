using System.Text;

namespace Recompute.Planner.Files;

/// <summary>
/// Writes files so that they are complete or absent: the content goes to a temporary file in the same folder,
/// which is then renamed over the target (a rename within one file system is atomic). A failure raises an
/// <see cref="IOException"/> whose message names the target and the reason, and leaves no temporary file.
/// Only a regular file or a new name is written: a device, FIFO, socket, directory or symbolic link at the target is
/// refused before anything is written (<see cref="OutputTarget.Check"/>), and so is an input of the running command
/// (<see cref="FileScope"/>).
/// </summary>
public static class AtomicFile
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    // Writes hold it shared; StopWrites takes it exclusively and never gives it back.
    private static readonly ReaderWriterLockSlim Gate = new(LockRecursionPolicy.SupportsRecursion);

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Utf8.GetBytes(text));

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        Gate.EnterReadLock();
        try { WriteUnguarded(path, bytes); }
        finally { Gate.ExitReadLock(); }
    }

    /// <summary>
    /// Waits until no write is in progress, and blocks every later one for good: called before the process exits
    /// without waiting for its main thread (a forced stop after Ctrl-C), so that no temporary file is left behind.
    /// </summary>
    /// <param name="timeout">How long to wait for a write in progress.</param>
    /// <returns>Whether the writes were stopped within <paramref name="timeout"/>.</returns>
    public static bool StopWrites(TimeSpan timeout) => Gate.TryEnterWriteLock(timeout);

    /// <summary>
    /// Writes what <paramref name="write"/> writes to a UTF-8 text writer, streamed to the temporary file (a schedule of
    /// 5,000,000 steps is 300 MB of text: built as one string first it took 1.3 GB more at the end of a plan).
    /// </summary>
    public static void WriteStreamed(string path, Action<TextWriter> write)
    {
        Gate.EnterReadLock();
        try
        {
            WriteUnguarded(path, [], stream =>
            {
                using var w = new StreamWriter(stream, Utf8, bufferSize: 1 << 16, leaveOpen: true) { NewLine = "\n" };
                write(w);
            });
        }
        finally { Gate.ExitReadLock(); }
    }

    /// <summary>Writes <paramref name="bytes"/>, or what <paramref name="write"/> writes when given, by way of a temporary file.</summary>
    private static void WriteUnguarded(string path, ReadOnlySpan<byte> bytes, Action<Stream>? write = null)
    {
        var status = OutputTarget.Check(path);
        FileScope.Current?.CheckWrite(path, status);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? ".";
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                if (write is null) stream.Write(bytes);
                else write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (e is not (IOException or UnauthorizedAccessException)) throw;
            // Name the file asked for, not the temporary one, and say why in the user's terms.
            string why = e switch
            {
                DirectoryNotFoundException => "its folder does not exist",
                UnauthorizedAccessException => "permission denied",
                FileNotFoundException => "a file cannot be created there",
                _ => e.Message.Replace(temp, full, StringComparison.Ordinal),
            };
            throw new IOException($"cannot write {full}: {why}", e);
        }
    }

    /// <summary>Writes text produced by a writer callback (for writers that stream to a <see cref="TextWriter"/>).</summary>
    public static void Write(string path, Action<TextWriter> write)
    {
        var sb = new StringBuilder();
        using (var w = new StringWriter(sb, System.Globalization.CultureInfo.InvariantCulture) { NewLine = "\n" }) write(w);
        WriteAllText(path, sb.ToString());
    }
}
