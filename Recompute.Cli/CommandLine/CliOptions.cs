using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Recompute.Planner.Units;

namespace Recompute.Cli.CommandLine;

/// <summary>
/// Factories for the typed options and arguments every command declares. Each parses its text when the command
/// line is parsed, so a bad value is a usage error (exit 2) before any file is read, with the project's wording.
/// </summary>
public static class CliOptions
{
    /// <summary>The graph file every command reads first.</summary>
    public static Argument<string> Graph(string name = "graph",
        string description = ".onnx, native .json, Checkmate/Moccasin .json or the 2019 paper's cg_*.txt") =>
        new(name) { Description = description };

    /// <summary>A file argument other than the graph (a schedule).</summary>
    public static Argument<string> File(string name, string description) => new(name) { Description = description };

    /// <summary>A flag: present or not.</summary>
    public static Option<bool> Flag(string name, string description, params string[] aliases) =>
        new(name, aliases) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>A text value taken as given (a path, a list), or null when absent.</summary>
    public static Option<string?> Text(string name, string helpName, string description, params string[] aliases) =>
        new(name, aliases) { Description = description, HelpName = helpName };

    /// <summary>An output file: <c>-o FILE</c> / <c>--output FILE</c>.</summary>
    public static Option<string?> Output(string helpName, string description) => Text("--output", helpName, description, "-o");

    /// <summary>An integer in [min, max] with a default.</summary>
    public static Option<int> Int(string name, string description, int defaultValue, int min, int max, string helpName = "N") =>
        Parsed(name, helpName, description, t => ParseInt(name, t, min, max), () => defaultValue);

    /// <summary>An integer in [min, max], or null when absent.</summary>
    public static Option<int?> OptionalInt(string name, string description, int min, int max, string helpName = "N") =>
        Parsed<int?>(name, helpName, description, t => ParseInt(name, t, min, max), null);

    /// <summary>A finite number in [min, max] with a default.</summary>
    public static Option<double> Double(string name, string description, double defaultValue, double min, double max, string helpName = "X") =>
        Parsed(name, helpName, description, t => ParseDouble(name, t, min, max), () => defaultValue);

    /// <summary>
    /// A finite number in [min, max], or null when absent: for a default that depends on other options (the time
    /// limit's, on the solver), which the description states and the help does not print as one fixed value.
    /// </summary>
    public static Option<double?> OptionalDouble(string name, string description, double min, double max, string helpName = "X") =>
        Parsed<double?>(name, helpName, description, t => ParseDouble(name, t, min, max), null);

    /// <summary>One of a fixed set of words, with a default; completion offers them.</summary>
    public static Option<string> Choice(string name, string description, string defaultValue, params string[] values)
    {
        var o = Parsed(name, string.Join("|", values), description, t => values.Contains(t, StringComparer.Ordinal)
            ? t
            : throw new UsageException($"{name} must be {Alternatives(values)}, not '{t}'" + Suggestions.DidYouMean(t, values)), () => defaultValue);
        o.CompletionSources.Add(values);
        return o;
    }

    /// <summary><c>--solver NAME</c>: a name from the solver registry; completion offers them.</summary>
    public static Option<string> Solver(string defaultValue)
    {
        var names = Recompute.Planner.Planning.SolverRegistry.Names;
        var o = Parsed("--solver", "NAME", $"the solver: {string.Join(", ", names)}", t => Recompute.Planner.Planning.SolverRegistry.Exists(t)
            ? t
            : throw new UsageException($"unknown solver '{t}'; solvers: {string.Join(", ", names)}" + Suggestions.DidYouMean(t,
                names)), () => defaultValue);
        o.CompletionSources.Add(names.ToArray());
        return o;
    }

    /// <summary><c>--format table|json</c>.</summary>
    public static Option<string> Format() =>
        Choice("--format", "table: readable text (default); json: one JSON object on stdout", "table", "table", "json");

    /// <summary>
    /// A size: bytes, KB/MB/GB (10^3), KiB/MiB/GiB (2^10), or with <paramref name="allowPercent"/> a percentage of
    /// the store-all peak, which becomes bytes once the graph is loaded (<see cref="SizeValue.Resolve"/>).
    /// </summary>
    public static Option<SizeValue?> Size(string name, string description, bool allowPercent = true, string helpName = "B")
    {
        return Parsed<SizeValue?>(name, helpName, description, t =>
        {
            var value = new SizeValue(name, t);
            if (value.IsPercentage && !allowPercent) throw new UsageException($"{name} is a size (16GiB), not a percentage");
            // Percentages are checked against a reference of 1 TiB here: the syntax and the sign, not the result.
            value.Check();
            return value;
        }, null);
    }

    /// <summary>
    /// The shared shape of every valued option: the last token is parsed by <paramref name="parse"/>, whose
    /// <see cref="UsageException"/> becomes the parse error, and <paramref name="defaultValue"/> fills it when absent.
    /// </summary>
    public static Option<T> Parsed<T>(string name, string helpName, string description, Func<string, T> parse, Func<T>? defaultValue,
        params string[] aliases)
    {
        var o = new Option<T>(name, aliases) { Description = description, HelpName = helpName };
        o.CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                if (defaultValue is not null) return defaultValue();
                result.AddError($"option {name} needs a value");
                return default!;
            }
            try { return parse(result.Tokens[^1].Value); }
            catch (UsageException e)
            {
                result.AddError(e.Message);
                return default!;
            }
        };
        if (defaultValue is not null) o.DefaultValueFactory = _ => defaultValue();
        return o;
    }

    private static int ParseInt(string name, string text, int min, int max) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r >= min && r <= max
            ? r
            : throw new UsageException($"option {name}: '{text}' is not an integer in [{min}, {max}]");

    private static double ParseDouble(string name, string text, double min, double max) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) && double.IsFinite(r) && r >= min && r <= max
            ? r
            : throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"option {name}: '{text}' is not a number in [{min}, {max}]"));

    /// <summary>"'a' or 'b'", or "one of a, b, c".</summary>
    public static string Alternatives(IReadOnlyList<string> values) =>
        values.Count == 2 ? $"'{values[0]}' or '{values[1]}'" : "one of " + string.Join(", ", values);
}

/// <summary>A size as given on the command line, kept as text until the store-all peak is known (for percentages).</summary>
/// <param name="Option">The option it was given to, for messages.</param>
/// <param name="Text">The text as given.</param>
public sealed record SizeValue(string Option, string Text)
{
    /// <summary>True for "40%": a share of the store-all peak.</summary>
    public bool IsPercentage => ByteSize.IsPercentage(Text);

    /// <summary>
    /// For a bare number ("40"), what it was read as, for messages when nothing fits: " (a bare number is bytes; for
    /// a share of the store-all peak write 40%)"; otherwise empty.
    /// </summary>
    public string BareNumberHint(bool allowPercent = true) => !ByteSize.IsBareNumber(Text) ? ""
        : allowPercent ? $" ({Option} {Text.Trim()} is {Text.Trim()} bytes; for a share of the store-all peak write {Text.Trim()}%, or give a unit: MiB, GiB)"
        : $" ({Option} {Text.Trim()} is {Text.Trim()} bytes; give a unit: MiB, GiB)";

    /// <summary>Checks the syntax and sign without a reference size.</summary>
    /// <exception cref="UsageException">Not a size.</exception>
    public void Check() => Resolve(() => 1L << 40);

    /// <summary>Bytes; a percentage is taken of <paramref name="storeAllPeak"/>, which is called only then.</summary>
    /// <exception cref="UsageException">Not a size, or the percentage is less than a byte.</exception>
    public long Resolve(Func<long> storeAllPeak)
    {
        try { return ByteSize.Parse(Text, IsPercentage ? storeAllPeak() : null); }
        catch (FormatException e) { throw new UsageException($"{Option}: {e.Message}"); }
    }
}
