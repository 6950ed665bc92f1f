namespace Recompute.Planner.Graph;

/// <summary>
/// Bad input: a file or a graph that cannot be read or is not a valid computation graph.
/// The message names the file, the place in it and the problem; the command line maps it to exit code 2.
/// </summary>
public sealed class GraphFormatException : Exception
{
    public GraphFormatException(string? file, string? location, string problem, Exception? inner = null)
        : base(Compose(file, location, problem), inner)
    {
        File = file; Location = location; Problem = problem;
    }

    public string? File { get; }
    public string? Location { get; }
    public string Problem { get; }

    private static string Compose(string? file, string? location, string problem)
    {
        var where = (file, location) switch
        {
            (null, null) => "",
            (null, _) => location + ": ",
            (_, null) => file + ": ",
            _ => file + ": " + location + ": ",
        };
        return where + problem;
    }

    /// <summary>The same error attributed to a file (used when a builder error surfaces through an importer).</summary>
    public GraphFormatException WithFile(string file) => File is null ? new GraphFormatException(file, Location, Problem, this) : this;
}
