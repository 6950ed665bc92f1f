using System.Globalization;
using System.Text;

using Recompute.Planner.Files;
namespace Recompute.Planner.Reporting;

/// <summary>Writes <c>report.csv</c>: one row per solver and budget, RFC 4180 quoting, invariant culture.</summary>
public static class ReportCsv
{
    /// <summary>The header row; scripts rely on these names.</summary>
    public const string Header = "solver,budgetBytes,peakBytes,overhead,solveSeconds,gap,feasible,status,recomputedTensors,reusedFromBudgetBytes";

    public static string Serialize(BudgetReport report)
    {
        var sb = new StringBuilder();
        sb.Append(Header).Append('\n');
        foreach (var p in report.Points)
        {
            sb.Append(Quote(p.Series)).Append(',')
              .Append(p.BudgetBytes.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(p.PeakBytes?.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Real(p.Overhead)).Append(',')
              .Append(Real(p.SolveSeconds)).Append(',')
              .Append(Real(p.Gap)).Append(',')
              .Append(p.Feasible ? "true" : "false").Append(',')
              .Append(Quote(p.Status)).Append(',')
              .Append(p.Recomputed.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(p.ReusedFromBudgetBytes?.ToString(CultureInfo.InvariantCulture))
              .Append('\n');
        }
        return sb.ToString();
    }

    public static void Write(BudgetReport report, string path) => AtomicFile.WriteAllText(path, Serialize(report));

    /// <summary>Round-trip formatting, so a script reading the CSV gets the same number as report.json.</summary>
    private static string Real(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("R", CultureInfo.InvariantCulture) : "";

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
