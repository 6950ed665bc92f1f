using System.Globalization;

namespace Recompute.Cli;

/// <summary>Bad usage: unknown option, missing value, conflicting options. Exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A small, strict argument reader: positionals, <c>--name value</c>, <c>--name=value</c> and flags.
/// Every option a command accepts is declared; anything else is a usage error.
/// </summary>
public sealed class CliArguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly List<string> _positionals = [];

    public CliArguments(IEnumerable<string> args, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flagOptions)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a == "--") { _positionals.AddRange(list.Skip(i + 1)); break; }
            if (a.StartsWith('-') && a.Length > 1 && !IsNumber(a))
            {
                string name = a; string? value = null;
                int eq = a.IndexOf('=');
                if (eq > 0) { name = a[..eq]; value = a[(eq + 1)..]; }
                if (flagOptions.Contains(name))
                {
                    if (value is not null) throw new UsageException($"option {name} takes no value");
                    SetOnce(name, "true");
                }
                else if (valueOptions.Contains(name))
                {
                    if (value is null)
                    {
                        if (i + 1 >= list.Count) throw new UsageException($"option {name} needs a value");
                        value = list[++i];
                    }
                    SetOnce(name, value);
                }
                else throw new UsageException($"unknown option '{name}'");
            }
            else _positionals.Add(a);
        }
    }

    private static bool IsNumber(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private void SetOnce(string name, string value)
    {
        if (!_options.TryAdd(name, value)) throw new UsageException($"option {name} is given twice");
    }

    public IReadOnlyList<string> Positionals => _positionals;

    public bool Has(string name) => _options.ContainsKey(name);

    public bool Flag(string name) => _options.ContainsKey(name);

    public string? Value(string name) => _options.TryGetValue(name, out var v) ? v : null;

    public string Positional(int index, string what)
    {
        if (index >= _positionals.Count) throw new UsageException($"missing {what}");
        return _positionals[index];
    }

    public void ExpectPositionals(int count, string usage)
    {
        if (_positionals.Count > count) throw new UsageException($"unexpected argument '{_positionals[count]}'; usage: {usage}");
        if (_positionals.Count < count) throw new UsageException($"missing argument; usage: {usage}");
    }

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var v = Value(name);
        if (v is null) return fallback;
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) || r < min || r > max)
            throw new UsageException($"option {name}: '{v}' is not an integer in [{min}, {max}]");
        return r;
    }

    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        var v = Value(name);
        if (v is null) return fallback;
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) || double.IsNaN(r) || r < min || r > max)
            throw new UsageException($"option {name}: '{v}' is not a number in [{min}, {max}]");
        return r;
    }
}
