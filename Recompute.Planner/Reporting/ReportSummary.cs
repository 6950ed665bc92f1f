using System.Globalization;
using System.Text;
using Recompute.Planner.Units;

namespace Recompute.Planner.Reporting;

/// <summary>The readable terminal summary of a sweep (plain text, no control characters: names pass through <see cref="Files.TerminalText"/>).</summary>
public static class ReportSummary
{
    public static string Format(BudgetReport report)
    {
        var ci = CultureInfo.InvariantCulture;
        var g = report.Graph;
        var sb = new StringBuilder();
        sb.Append(ci, $"graph {Files.TerminalText.Escape(g.Name)}: {g.PlannedTensors} planned tensors, {g.Edges} edges, activations {ByteSize.Format(g.ActivationBytes)}, ")
          .Append(ci, $"parameters {ByteSize.Format(g.ParameterBytes)}, lower sets {(g.LowerSets is { } n ? n.ToString(ci) : $"> {g.LowerSetLimit.ToString(ci)}")}\n");
        sb.Append(ci, $"store-all peak {ByteSize.Format(report.StoreAllPeakBytes)}; smallest budget dp-approx plans for {ByteSize.Format(report.MinBudgetBytes)}; ")
          .Append(ci, $"{report.Budgets.Length} budgets\n");
        if (!report.Complete) sb.Append("the sweep was interrupted: the table shows the points finished\n");
        sb.Append('\n');
        var rows = new List<string[]> { new[] { "solver", "least peak", "saving", "overhead there", "plans found", "solve time" } };
        foreach (var s in report.Series)
        {
            var pts = report.PointsOf(s.Name).ToList();
            var feasible = pts.Where(p => p.Feasible && p.PeakBytes is not null).ToList();
            var least = feasible.OrderBy(p => p.PeakBytes).ThenBy(p => p.Overhead).FirstOrDefault();
            rows.Add(
            [
                Files.TerminalText.Escape(s.Name),
                least is null ? "-" : ByteSize.Format(least.PeakBytes!.Value),
                least is null || report.StoreAllPeakBytes == 0 ? "-" : Percent(1 - (double)least.PeakBytes!.Value / report.StoreAllPeakBytes),
                least?.Overhead is { } o ? Percent(o) : "-",
                $"{feasible.Count}/{pts.Count}",
                pts.Sum(p => p.SolveSeconds).ToString("0.00", ci) + " s",
            ]);
        }
        AppendTable(sb, rows);
        if (report.Timeline is { } t)
        {
            sb.Append('\n');
            if (t.Feasible)
                sb.Append(ci, $"at a budget of {ByteSize.Format(t.BudgetBytes)}, {Files.TerminalText.Escape(t.Series)} needs {ByteSize.Format(t.PeakBytes!.Value)} ")
                  .Append(ci, $"({Percent((double)t.PeakBytes.Value / report.StoreAllPeakBytes)} of store-all) for {Percent(t.Overhead ?? 0)} more forward time, ")
                  .Append(ci, $"recomputing {t.RecomputedTensors.Length} tensors\n");
            else
                sb.Append(ci, $"at a budget of {ByteSize.Format(t.BudgetBytes)}, {Files.TerminalText.Escape(t.Series)} finds no plan\n");
        }
        return sb.ToString();
    }

    /// <summary>"12.5%" with one decimal.</summary>
    public static string Percent(double fraction) => (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static void AppendTable(StringBuilder sb, List<string[]> rows)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
        {
            for (int c = 0; c < r.Length; c++)
            {
                if (c > 0) sb.Append("  ");
                // Names left-aligned, numbers right-aligned.
                sb.Append(c == 0 ? r[c].PadRight(widths[c]) : r[c].PadLeft(widths[c]));
            }
            sb.Append('\n');
        }
    }
}
