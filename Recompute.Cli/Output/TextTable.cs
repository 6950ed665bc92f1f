namespace Recompute.Cli.Output;

/// <summary>A plain two-column "name: value" block, aligned, with no control characters.</summary>
public sealed class TextTable
{
    private readonly List<(string Key, string Value)> _rows = [];

    public TextTable Row(string key, string value) { _rows.Add((key, value)); return this; }

    public void WriteTo(TextWriter w)
    {
        int width = _rows.Count == 0 ? 0 : _rows.Max(r => r.Key.Length);
        foreach (var (k, v) in _rows) w.WriteLine($"{k.PadRight(width)}  {v}");
    }
}

/// <summary>Columns of text, left-aligned, separated by two spaces.</summary>
public sealed class ColumnTable(params string[] headers)
{
    private readonly List<string[]> _rows = [headers];

    public void Add(params string[] cells) => _rows.Add(cells);

    public void WriteTo(TextWriter w)
    {
        int cols = _rows.Max(r => r.Length);
        var widths = Enumerable.Range(0, cols).Select(c => _rows.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
        foreach (var r in _rows)
            w.WriteLine(string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
    }
}
