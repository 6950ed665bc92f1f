using System.Globalization;
using System.Net;
using System.Text;
using Recompute.Planner.Files;
using Recompute.Planner.Units;

namespace Recompute.Planner.Reporting;

/// <summary>
/// Writes <c>report.html</c>: one self-contained page (plots embedded as base64 PNG, no scripts, no external
/// files) with the graph summary, the plots, the table of every point and the tensors the timeline plan recomputes.
/// </summary>
public static class ReportHtml
{
    public static string Render(BudgetReport report, byte[]? paretoPng, byte[]? timelinePng)
    {
        var ci = CultureInfo.InvariantCulture;
        var g = report.Graph;
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        sb.Append("<title>Recompute report: ").Append(E(g.Name)).Append("</title>\n");
        sb.Append("<style>\nbody{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em;max-width:1100px;color:#222}\n")
          .Append("table{border-collapse:collapse;font-size:0.85em}th,td{border:1px solid #ccc;padding:2px 8px;text-align:right}\n")
          .Append("th{background:#f0f0f0}td.l{text-align:left}tr.no td{color:#999}img{max-width:100%;border:1px solid #ddd}\n")
          .Append("code{font-size:0.85em}.cols{column-count:2;column-gap:2em;font-size:0.85em}.cols code{overflow-wrap:anywhere}\n</style>\n</head>\n<body>\n");
        sb.Append("<h1>Memory vs time: ").Append(E(g.Name)).Append("</h1>\n");
        if (!report.Complete) sb.Append("<p><strong>The sweep was interrupted: only the finished points are shown.</strong></p>\n");
        if (report.Guide is { } guide) Guide(sb, guide);

        sb.Append("<h2>Graph</h2>\n<table>\n");
        Row(sb, "source", E(g.Source ?? "(built in code)"));
        Row(sb, "operations / edges", $"{g.Nodes.ToString(ci)} / {g.Edges.ToString(ci)}");
        Row(sb, "planned tensors", g.PlannedTensors.ToString(ci));
        Row(sb, "activation bytes", Bytes(g.ActivationBytes));
        Row(sb, "parameter bytes", Bytes(g.ParameterBytes));
        Row(sb, "input bytes", Bytes(g.InputBytes));
        Row(sb, "lower sets", g.LowerSets is { } n ? n.ToString(ci) : $"more than {g.LowerSetLimit.ToString(ci)}");
        Row(sb, "time unit",
            E(Units.TimeUnits.Describe(g.TimeUnit) + (g.Device is { } device ? $", on device {device} (its roofline: docs/device-profiles.md)" : "")));
        Row(sb, "store-all peak (simulated)", Bytes(report.StoreAllPeakBytes));
        Row(sb, $"smallest budget ({report.MinBudgetSolver})", Bytes(report.MinBudgetBytes));
        Row(sb, "operations", E(string.Join(", ", g.Ops.Select(kv => $"{kv.Key} {kv.Value.ToString(ci)}"))));
        sb.Append("</table>\n");

        sb.Append("<h2>Peak memory vs recompute overhead</h2>\n");
        Image(sb, paretoPng, "Pareto plot: simulated peak memory against time overhead for every solver");
        sb.Append("<p>Peak memory is the simulated peak of activations and their gradients (parameters, their gradients and ")
          .Append("optimizer state come on top). Overhead is the share of the training step (forward and backward) that recomputation adds.</p>\n");

        if (report.Timeline is { } t)
        {
            sb.Append("<h2>Memory over the schedule</h2>\n");
            Image(sb, timelinePng, "Live bytes over the schedule steps of store-all and of the plan");
            if (t.Feasible)
            {
                sb.Append(ci, $"<p>The plan of {E(t.Series)} at a budget of {Bytes(t.BudgetBytes)} peaks at {Bytes(t.PeakBytes!.Value)} ")
                  .Append(ci, $"with {ReportSummary.Percent(t.Overhead ?? 0)} overhead and recomputes {t.RecomputedTensors.Length.ToString(ci)} tensors:</p>\n");
                sb.Append("<div class=\"cols\">");
                foreach (var name in t.RecomputedTensors) sb.Append("<code>").Append(E(name)).Append("</code><br>\n");
                sb.Append("</div>\n");
            }
            else sb.Append(ci, $"<p>{E(t.Series)} finds no plan at a budget of {Bytes(t.BudgetBytes)}.</p>\n");
        }

        sb.Append("<h2>Solvers</h2>\n<table>\n");
        foreach (var series in report.Series)
            if (Planning.SolverDescriptions.Of(series.Name) is { } sentence) Row(sb, series.Name, E(sentence));
        sb.Append("</table>\n");

        var runs = PointRun.Collapse(report);
        sb.Append(ci, $"<h2>Every point</h2>\n<p>{report.Points.Length.ToString(ci)} points; consecutive budgets of a solver with the same plan share one row ")
          .Append(ci, $"({runs.Length.ToString(ci)} rows; report.csv has every point).</p>\n");
        sb.Append("<table>\n<tr><th>solver</th><th>budget</th><th>points</th><th>peak</th><th>overhead</th><th>solve s</th><th>gap</th><th>status</th><th>recomputed</th></tr>\n");
        foreach (var run in runs)
        {
            var p = run.First;
            string budget = run.Count == 1 ? Bytes(p.BudgetBytes) : $"{ByteSize.Format(p.BudgetBytes)} – {ByteSize.Format(run.LastBudgetBytes)}";
            sb.Append(p.Feasible ? "<tr>" : "<tr class=\"no\">")
              .Append("<td class=\"l\">").Append(E(p.Series)).Append("</td>")
              .Append("<td>").Append(budget).Append("</td>")
              .Append("<td>").Append(run.Count.ToString(ci)).Append("</td>")
              .Append("<td>").Append(p.PeakBytes is { } pk ? Bytes(pk) : "-").Append("</td>")
              .Append("<td>").Append(p.Overhead is { } o ? ReportSummary.Percent(o) : "-").Append("</td>")
              .Append("<td>").Append(run.SolveSeconds.ToString("0.000", ci)).Append("</td>")
              .Append("<td>").Append(p.Gap is { } gap ? ReportSummary.Percent(gap) : "-").Append("</td>")
              .Append("<td class=\"l\">").Append(E(p.Status)).Append(p.ReusedFromBudgetBytes is { } r ? E($" (plan of {ByteSize.Format(r)})") : "").Append("</td>")
              .Append("<td>").Append(p.Recomputed.ToString(ci)).Append("</td></tr>\n");
        }
        sb.Append("</table>\n<p>Made by <code>recompute report</code>. The same data is in report.json and report.csv.</p>\n</body>\n</html>\n");
        return sb.ToString();
    }

    /// <summary>The budget guide: the same heading lines and table as the terminal summary.</summary>
    private static void Guide(StringBuilder sb, BudgetGuide guide)
    {
        sb.Append("<h2>Budget guide</h2>\n");
        foreach (var block in ReportSummary.GuideBlocks(guide))
        {
            if (block.Rows is not { } rows) { sb.Append("<p>").Append(E(block.Text!)).Append("</p>\n"); continue; }
            sb.Append("<table>\n<tr>");
            foreach (var h in rows[0]) sb.Append("<th>").Append(E(h)).Append("</th>");
            sb.Append("</tr>\n");
            foreach (var row in rows.Skip(1))
            {
                sb.Append("<tr>");
                for (int c = 0; c < row.Length; c++)
                    sb.Append(block.RightAligned![c] ? "<td>" : "<td class=\"l\">").Append(E(row[c])).Append("</td>");
                sb.Append("</tr>\n");
            }
            sb.Append("</table>\n");
        }
    }

    public static void Write(BudgetReport report, byte[]? paretoPng, byte[]? timelinePng, string path) =>
        AtomicFile.WriteAllText(path, Render(report, paretoPng, timelinePng));

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string Bytes(long b) => $"{ByteSize.Format(b)} <small>({b.ToString(CultureInfo.InvariantCulture)} B)</small>";

    private static void Row(StringBuilder sb, string key, string valueHtml) =>
        sb.Append("<tr><th class=\"l\">").Append(E(key)).Append("</th><td class=\"l\">").Append(valueHtml).Append("</td></tr>\n");

    private static void Image(StringBuilder sb, byte[]? png, string alt)
    {
        if (png is null) return;
        sb.Append("<p><img alt=\"").Append(E(alt)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\"></p>\n");
    }
}
