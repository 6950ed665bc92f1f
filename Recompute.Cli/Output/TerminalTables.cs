using Recompute.Planner.Files;
using Recompute.Planner.Reporting;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Recompute.Cli.Output;

/// <summary>
/// Tables drawn by Spectre.Console on a terminal (borders, columns fitted to the terminal's width, long cells
/// wrapped at word boundaries, never cut). Piped output, tests and <c>--format json</c> get the plain text of
/// <see cref="TextTable"/>, <see cref="ColumnTable"/> and <see cref="ReportSummary.Format(BudgetReport)"/> instead, byte for byte.
/// </summary>
public static class TerminalTables
{
    /// <summary>A console for <paramref name="stdout"/> that draws with ANSI and reads the terminal's width.</summary>
    public static IAnsiConsole Console(TextWriter stdout) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = AnsiSupport.Yes,
        ColorSystem = ColorSystemSupport.Detect,
        Interactive = InteractionSupport.No,
        Out = new AnsiConsoleOutput(stdout),
    });

    /// <summary>Key/value rows as a two-column grid: keys in bold, values wrapped in the second column.</summary>
    public static IRenderable KeyValues(IEnumerable<(string Key, string Value)> rows)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders()
            .AddColumn(new TableColumn("") { NoWrap = true })
            .AddColumn(new TableColumn(""));
        foreach (var (k, v) in rows) table.AddRow(new Text(k, new Style(decoration: Decoration.Bold)), new Text(v));
        return table;
    }

    /// <summary>A table with a header row (the first of <paramref name="rows"/>); <paramref name="rightAligned"/> per column.</summary>
    public static IRenderable Columns(IReadOnlyList<string[]> rows, IReadOnlyList<bool>? rightAligned = null)
    {
        var table = new Table().Border(TableBorder.Rounded);
        for (int c = 0; c < rows[0].Length; c++)
            table.AddColumn(new TableColumn(new Text(TerminalText.Escape(rows[0][c]), new Style(decoration: Decoration.Bold)))
            {
                Alignment = rightAligned is not null && rightAligned[c] ? Justify.Right : Justify.Left,
            });
        foreach (var row in rows.Skip(1)) table.AddRow(row.Select(cell => (IRenderable)new Text(TerminalText.Escape(cell))).ToArray());
        return table;
    }

    /// <summary>A report's summary: lines as text, tables drawn (on a terminal) or aligned as plain text.</summary>
    public static void WriteSummary(TextWriter stdout, IReadOnlyList<SummaryBlock> blocks, bool terminal)
    {
        if (!terminal)
        {
            stdout.Write(ReportSummary.Format(blocks));
            return;
        }
        var console = Console(stdout);
        foreach (var block in blocks)
        {
            if (block.Rows is { } rows) console.Write(Columns(rows, block.RightAligned));
            else console.Write(new Text(TerminalText.Escape(block.Text!) + "\n"));
        }
    }
}
