namespace Recompute.Cli.Output;

/// <summary>
/// A plain two-column "name: value" block, aligned, with no control characters. List rows
/// (<see cref="List"/>) are wrapped at item boundaries under their first line, never cut.
/// </summary>
public sealed class TextTable
{
    /// <summary>Lines of list rows are wrapped to this many characters (an item longer than a line keeps its own line).</summary>
    public const int Width = 100;

    private readonly List<(string Key, string Value, IReadOnlyList<string>? Items)> _rows = [];

    /// <remarks>Values pass through <see cref="Recompute.Planner.Files.TerminalText.Escape"/>: names from files never
    /// reach the terminal raw.</remarks>
    public TextTable Row(string key, string value) { _rows.Add((key, Recompute.Planner.Files.TerminalText.Escape(value), null)); return this; }

    /// <summary>A row whose value is <paramref name="head"/> then every item, comma separated, wrapped.</summary>
    public TextTable List(string key, string head, IReadOnlyList<string> items)
    {
        _rows.Add((key, Recompute.Planner.Files.TerminalText.Escape(head), items.Select(Recompute.Planner.Files.TerminalText.Escape).ToList()));
        return this;
    }

    /// <summary>Draws the rows with Spectre.Console on a terminal (lists wrapped to its width), else <see cref="WriteTo(TextWriter)"/>.</summary>
    public void WriteTo(TextWriter w, bool terminal)
    {
        if (!terminal) { WriteTo(w); return; }
        TerminalTables.Console(w).Write(TerminalTables.KeyValues(_rows.Select(r =>
            (r.Key, r.Items is { Count: > 0 } items ? r.Value + " " + string.Join(", ", items) : r.Value))));
    }

    public void WriteTo(TextWriter w)
    {
        int width = _rows.Count == 0 ? 0 : _rows.Max(r => r.Key.Length);
        var indent = new string(' ', width + 2);
        foreach (var (k, v, items) in _rows)
        {
            if (items is null || items.Count == 0) { w.WriteLine($"{k.PadRight(width)}  {v}"); continue; }
            var line = new System.Text.StringBuilder($"{k.PadRight(width)}  {v}");
            for (int i = 0; i < items.Count; i++)
            {
                string item = items[i] + (i < items.Count - 1 ? "," : "");
                if (line.Length + 1 + item.Length > Width && line.Length > indent.Length)
                {
                    w.WriteLine(line.ToString());
                    line.Clear().Append(indent).Append(item);
                }
                else line.Append(line.Length == 0 || line[^1] == ' ' ? "" : " ").Append(item);
            }
            w.WriteLine(line.ToString());
        }
    }
}

/// <summary>Columns of text, left-aligned, separated by two spaces.</summary>
public sealed class ColumnTable(params string[] headers)
{
    private readonly List<string[]> _rows = [headers];

    /// <remarks>Cells pass through <see cref="Recompute.Planner.Files.TerminalText.Escape"/>, like <see cref="TextTable"/> values.</remarks>
    public void Add(params string[] cells) => _rows.Add(cells.Select(Recompute.Planner.Files.TerminalText.Escape).ToArray());

    /// <summary>Draws the table with Spectre.Console on a terminal, else <see cref="WriteTo(TextWriter)"/>.</summary>
    /// <param name="rightAligned">Per column, on a terminal: numbers right-aligned.</param>
    public void WriteTo(TextWriter w, bool terminal, params bool[] rightAligned)
    {
        if (!terminal) { WriteTo(w); return; }
        TerminalTables.Console(w).Write(TerminalTables.Columns(_rows, rightAligned.Length == 0 ? null : rightAligned));
    }

    public void WriteTo(TextWriter w)
    {
        int cols = _rows.Max(r => r.Length);
        var widths = Enumerable.Range(0, cols).Select(c => _rows.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
        foreach (var r in _rows)
            w.WriteLine(string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
    }
}
