using System.Globalization;
using Recompute.Planner.Graph;
using Recompute.Planner.Units;

namespace Recompute.Planner.Files;

/// <summary>A kind of input file and the largest one read (a bound on the memory a reader can be made to take).</summary>
/// <param name="What">The kind in words, for messages ("JSON graph").</param>
/// <param name="MaxBytes">The largest file read; a larger one is refused before it is read.</param>
public sealed record InputKind(string What, long MaxBytes)
{
    /// <summary>ONNX models: 2 GiB − 1, the largest protobuf message (weights beyond it live in external data files).</summary>
    public static readonly InputKind Onnx = new("ONNX", int.MaxValue);
    /// <summary>Native and Checkmate/Moccasin JSON graphs: 256 MiB (the largest shipped or conformance graph is under 1 MB).</summary>
    public static readonly InputKind JsonGraph = new("JSON graph", 256L << 20);
    /// <summary>The paper's <c>.txt</c> graphs: 256 MiB.</summary>
    public static readonly InputKind PaperGraph = new("paper graph (.txt)", 256L << 20);
    /// <summary>Schedules (<c>recompute simulate</c>): 256 MiB, or more for a large graph (<see cref="ScheduleFor"/>).</summary>
    public static readonly InputKind Schedule = new("schedule", 256L << 20);

    /// <summary>
    /// Schedules of one training graph: 256 MiB, or room for 20 steps a task (greedy gives up past 8 runs a task, each
    /// with its free) at each task's name escaped in full plus the step's own text, up to 2 GiB − 1 (one array), so
    /// that every schedule <c>plan -o</c> writes reads back.
    /// </summary>
    public static InputKind ScheduleFor(TrainingGraph training) =>
        Schedule with { MaxBytes = Math.Clamp(ScheduleRoom(training), Schedule.MaxBytes, int.MaxValue) };

    /// <summary>The room <see cref="ScheduleFor"/> makes for a graph's schedules, before the clamp.</summary>
    internal static long ScheduleRoom(TrainingGraph training)
    {
        long room = 0;
        foreach (var t in training.Tasks) room += StepsPerTask * (6L * System.Text.Encoding.UTF8.GetByteCount(t.Name) + StepText);
        return room;
    }

    private const long StepsPerTask = 20;
    private const long StepText = 48; // {"step": "free-value", "tensor": ""}, indentation and a line end
    /// <summary>Time files (<c>--time-file</c>): 64 MiB.</summary>
    public static readonly InputKind TimeFile = new("time file", 64L << 20);
}

/// <summary>
/// Reads input files: only regular files (or links to them), refused before opening when they are FIFOs, devices,
/// sockets or directories (opening a FIFO would block, reading <c>/dev/zero</c> would never end), and only up to
/// the size limit of their kind. Every refusal is a <see cref="GraphFormatException"/> naming the file. A file read
/// inside a <see cref="FileScope"/> scope is recorded as an input of the command, which no output may replace.
/// </summary>
public static class InputFile
{
    /// <summary>Reads the whole file, after checking that it is a regular file within the limit of <paramref name="kind"/>.</summary>
    public static byte[] ReadAllBytes(string path, InputKind kind)
    {
        // Read once per command: what was loaded is what every later step sees, even if the file changed since.
        if (!string.IsNullOrEmpty(path) && FileScope.Current is { } files && files.TryGetContents(path, out var kept)) return kept;
        var status = Check(path, kind);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            // The path may have been replaced since it was checked: what was opened must be seekable (a regular file).
            if (!stream.CanSeek) throw new GraphFormatException(path, null, "is not a regular file: inputs are read only from regular files");
            long length = stream.Length;
            if (length > kind.MaxBytes) throw TooLarge(path, kind, length);
            var bytes = new byte[length];
            int read = 0;
            while (read < bytes.Length)
            {
                int n = stream.Read(bytes, read, bytes.Length - read);
                if (n == 0) break;
                read += n;
            }
            FileScope.Current?.NoteInput(path, status, kind.What);
            var result = read == bytes.Length ? bytes : bytes[..read];
            FileScope.Current?.KeepContents(path, result);
            return result;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new GraphFormatException(path, null, $"cannot read the file: {Reason(e)}", e);
        }
    }

    /// <summary>
    /// Checks, without opening it, that <paramref name="path"/> names a regular file (following links) of at most
    /// the limit of <paramref name="kind"/>; returns its status.
    /// </summary>
    public static FileStatus Check(string path, InputKind kind)
    {
        if (string.IsNullOrEmpty(path)) throw new GraphFormatException("''", null, "the path is empty");
        var status = FileStatus.Of(path, followLinks: true);
        switch (status.Kind)
        {
            case FileKind.Regular: break;
            case FileKind.Missing: throw new GraphFormatException(path, null, "no such file");
            case FileKind.Directory: throw new GraphFormatException(path, null, $"is a directory, not a {kind.What} file");
            case FileKind.Unknown: throw new GraphFormatException(path, null, "cannot read the file: it cannot be examined (permission denied?)");
            default:
                throw new GraphFormatException(path, null,
                    $"is {FileStatus.Describe(status.Kind)}, not a regular file: inputs are read only from regular files");
        }
        long length;
        try { length = new FileInfo(path).Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new GraphFormatException(path, null,
            $"cannot read the file: {Reason(e)}", e); }
        if (length > kind.MaxBytes) throw TooLarge(path, kind, length);
        return status;
    }

    private static GraphFormatException TooLarge(string path, InputKind kind, long length) =>
        new(path, null,
            $"is {length.ToString("N0", CultureInfo.InvariantCulture)} bytes, over the {ByteSize.Format(kind.MaxBytes)} limit for {kind.What} files");

    private static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        FileNotFoundException or DirectoryNotFoundException => "no such file",
        _ => e.Message.ReplaceLineEndings(" "),
    };
}
