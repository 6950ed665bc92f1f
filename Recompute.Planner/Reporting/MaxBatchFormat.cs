using System.Globalization;
using System.Text;
using System.Text.Json;
using Recompute.Planner.Units;

namespace Recompute.Planner.Reporting;

/// <summary>Prints a <see cref="MaxBatchResult"/> as a table or as one JSON object (<c>recompute maxbatch</c>).</summary>
public static class MaxBatchFormat
{
    /// <param name="r">The answers.</param>
    /// <param name="graphName">The graph's name for the heading.</param>
    /// <param name="overheadAsRead">How the overhead limit was read from the command line, for the heading (default: the percentage).</param>
    public static string Table(MaxBatchResult r, string graphName, string? overheadAsRead = null)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"graph {Files.TerminalText.Escape(graphName)}: device memory {ByteSize.Format(r.DeviceMemoryBytes)}, optimizer {Name(r.Optimizer)} ")
          .Append(r.Optimizer == OptimizerKind.Adam ? "(state 2x parameters)" : "(momentum, 1x parameters)")
          .Append(r.MaxOverhead is { } m ? $", overhead at most {overheadAsRead ?? ReportSummary.Percent(m)}" : "").Append('\n');
        var rows = new List<string[]> { new[] { "method", "batch", "fixed", "activation budget", "peak", "total", "overhead", "batch + 1" } };
        foreach (var a in new[] { r.StoreAll, r.Planner })
        {
            var f = a.AtBatch;
            rows.Add(
            [
                a.Method,
                a.Batch.ToString(ci),
                f is null ? "-" : ByteSize.Format(f.FixedBytes),
                f is null ? "-" : ByteSize.Format(f.ActivationBudgetBytes),
                f?.PeakBytes is { } p ? ByteSize.Format(p) : "-",
                f?.TotalBytes is { } t ? ByteSize.Format(t) : "-",
                f?.Overhead is { } o ? ReportSummary.Percent(o) : "-",
                Next(a),
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(row => row[c].Length)).ToArray();
        foreach (var row in rows)
            sb.Append(string.Join("  ", row.Select((cell,
                c) => c is 0 or 7 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd()).Append('\n');
        sb.Append("fixed: parameters, their gradients and the optimizer's state, the same at every batch, and the batch's inputs\n");
        if (r.Planner.Batch > r.StoreAll.Batch && r.StoreAll.Batch > 0)
            sb.Append(ci, $"the planner fits {(double)r.Planner.Batch / r.StoreAll.Batch:0.00}x the store-all batch\n");
        return sb.ToString();
    }

    private static string Next(MaxBatchAnswer a)
    {
        if (a.AtNext is not { } n) return "(batch limit reached)";
        var head = n.Batch.ToString(CultureInfo.InvariantCulture) + " does not fit: ";
        // What it would take: the smallest budget the method plans at there; without one, the closest plan's peak,
        // which says only what that schedule needs.
        bool smallest = n.SmallestFeasibleBudgetBytes is not null;
        if ((n.SmallestFeasibleBudgetBytes ?? n.PeakBytes) is { } p && p > n.ActivationBudgetBytes)
        {
            // Three significant digits can print the same for both sides: the excess, in the same units, says by how much.
            string need = ByteSize.Format(p), have = ByteSize.Format(Math.Max(n.ActivationBudgetBytes, 0));
            string over = ByteSize.Format(p - Math.Max(n.ActivationBudgetBytes, 0));
            return head + (smallest ? $"needs {need} > {have} ({over} more)" : $"its closest plan needs {need} > {have} ({over} more)");
        }
        return head + Files.TerminalText.Escape(n.Reason ?? "no plan");
    }

    /// <param name="r">The answers.</param>
    /// <param name="graphName">The graph's name.</param>
    /// <param name="dtype">The <c>--dtype</c> the graph was re-planned at (a <c>dtype</c> field), or null.</param>
    public static string Json(MaxBatchResult r, string graphName, string? dtype = null)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("graph", graphName);
            if (dtype is not null) w.WriteString("dtype", dtype);
            w.WriteNumber("deviceMemoryBytes", r.DeviceMemoryBytes);
            w.WriteString("optimizer", Name(r.Optimizer));
            if (r.MaxOverhead is { } m && double.IsFinite(m)) w.WriteNumber("maxOverhead", m); else w.WriteNull("maxOverhead");
            Answer(w, "storeAll", r.StoreAll);
            Answer(w, "planner", r.Planner);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    public static string Name(OptimizerKind k) => k == OptimizerKind.Adam ? "adam" : "sgd";

    private static void Answer(Utf8JsonWriter w, string name, MaxBatchAnswer a)
    {
        w.WriteStartObject(name);
        w.WriteString("method", a.Method);
        w.WriteNumber("batch", a.Batch);
        Fit(w, "atBatch", a.AtBatch);
        Fit(w, "atNextBatch", a.AtNext);
        w.WriteEndObject();
    }

    private static void Fit(Utf8JsonWriter w, string name, BatchFit? f)
    {
        if (f is null) { w.WriteNull(name); return; }
        w.WriteStartObject(name);
        w.WriteNumber("batch", f.Batch);
        w.WriteBoolean("fits", f.Fits);
        w.WriteNumber("fixedBytes", f.FixedBytes);
        w.WriteNumber("activationBudgetBytes", f.ActivationBudgetBytes);
        if (f.PeakBytes is { } p) w.WriteNumber("peakBytes", p); else w.WriteNull("peakBytes");
        if (f.TotalBytes is { } t) w.WriteNumber("totalBytes", t); else w.WriteNull("totalBytes");
        if (f.Overhead is { } o && double.IsFinite(o)) w.WriteNumber("overhead", o); else w.WriteNull("overhead");
        if (f.Reason is null) w.WriteNull("reason"); else w.WriteString("reason", f.Reason);
        if (f.OffloadBytes is { } offloaded) w.WriteNumber("offloadBytes", offloaded);
        // Only where no plan fits the memory: what it would take (the closest plan's peakBytes can be far more).
        if (!f.Fits && f.SmallestFeasibleBudgetBytes is { } need) w.WriteNumber("smallestFeasibleBudgetBytes", need);
        w.WriteEndObject();
    }
}
