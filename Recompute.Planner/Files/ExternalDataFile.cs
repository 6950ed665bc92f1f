using Recompute.Planner.Graph;

namespace Recompute.Planner.Files;

/// <summary>
/// An ONNX initializer's external data file: a location taken from the model, resolved against the model's folder.
/// The location is text from a file, so it is checked for every character the operating system refuses in a file
/// name (NUL, and on Windows <c>&lt;&gt;:"|?*</c> and controls) before it becomes a path, and it must name a regular
/// file inside the model's folder reached without links (absolute paths, <c>..</c> and empty parts are refused).
/// Every external data file a command's model names is an input of the command (<see cref="FileScope"/>), so no
/// output replaces it.
/// </summary>
internal static class ExternalDataFile
{
    /// <summary>The kind of input, in messages and in the command's table of inputs.</summary>
    public static readonly InputKind Kind = new("external data", long.MaxValue);

    private static readonly char[] Refused = Path.GetInvalidFileNameChars().Union(['\0']).Where(c => c is not ('/' or '\\')).ToArray();

    /// <summary>
    /// The full path of <paramref name="location"/> beside <paramref name="modelPath"/>, checked as the class says;
    /// a <see cref="GraphFormatException"/> naming the model and <paramref name="where"/> otherwise.
    /// </summary>
    public static string Resolve(string modelPath, string location, string where)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        string quoted = TerminalText.Escape(location.Length > 60 ? location[..60] + "..." : location);
        if (location.Length == 0) throw new GraphFormatException(modelPath, where, "external data without a location");
        if (location.IndexOfAny(Refused) is int bad and >= 0)
            throw new GraphFormatException(modelPath, where,
                $"external data location '{quoted}' holds {Describe(location[bad])}, which a file name cannot hold");
        var parts = location.Split('/', '\\');
        if (Path.IsPathRooted(location) || parts.Contains("..") || parts.Any(string.IsNullOrEmpty))
            throw new GraphFormatException(modelPath, where, $"external data location '{quoted}' is outside the model's folder");
        string current = folder;
        foreach (var part in parts)
        {
            if (part == ".") continue;
            current = Path.Combine(current, part);
            var status = FileStatus.Of(current, followLinks: false);
            if (status.Kind == FileKind.Missing) throw new GraphFormatException(modelPath, where,
                $"external data file '{quoted}' not found beside the model");
            if (status.Kind == FileKind.SymbolicLink)
                throw new GraphFormatException(modelPath, where,
                    $"external data location '{quoted}' goes through a link; only files inside the model's folder are read");
        }
        if (FileStatus.Of(current, followLinks: false).Kind != FileKind.Regular)
            throw new GraphFormatException(modelPath, where, $"external data location '{quoted}' is not a regular file");
        return current;
    }

    /// <summary>
    /// Records, as inputs of the running command, the files the locations name, wherever they are (a location the
    /// reader would refuse still names a file that must not be overwritten). Nothing is opened; locations that
    /// cannot be paths or name no regular file are left to the reader, which refuses them when it reads the data.
    /// </summary>
    public static void NoteInputs(string modelPath, IEnumerable<string> locations)
    {
        if (FileScope.Current is not { } files) return;
        string folder = Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        foreach (var location in locations.Distinct(StringComparer.Ordinal))
        {
            if (location.Length == 0 || location.IndexOfAny(Refused) >= 0) continue;
            string full = Path.Combine(folder, location);
            var status = FileStatus.Of(full, followLinks: true);
            if (status.Kind == FileKind.Regular) files.NoteInput(full, status, Kind.What);
        }
    }

    private static string Describe(char c) => c == '\0' ? "a NUL character" : $"the character {TerminalText.Escape(c.ToString())} (U+{(int)c:X4})";
}
