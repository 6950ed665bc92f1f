using System.Globalization;
using System.Text;
using Recompute.Planner.Planning;
using Recompute.Planner.Units;

namespace Recompute.Planner.Reporting;

/// <summary>A piece of a printed summary: a line of text, or a table whose first row is the header.</summary>
/// <param name="Text">The line (without its newline), when this is text; an empty string is a blank line.</param>
/// <param name="Rows">The table's rows, header first, when this is a table.</param>
/// <param name="RightAligned">Per column: numbers are right-aligned, names left-aligned.</param>
public sealed record SummaryBlock(string? Text, IReadOnlyList<string[]>? Rows = null, IReadOnlyList<bool>? RightAligned = null)
{
    public static SummaryBlock Line(string text) => new(text);

    public static SummaryBlock Table(List<string[]> rows, params bool[] rightAligned) => new(null, rows, rightAligned);
}

/// <summary>The readable terminal summary of a sweep (plain text, no control characters: names pass through <see
/// cref="Files.TerminalText"/>).</summary>
public static class ReportSummary
{
    /// <summary>The summary as plain text: tables in aligned columns.</summary>
    public static string Format(BudgetReport report) => Format(Blocks(report));

    /// <summary>Summary blocks as plain text.</summary>
    public static string Format(IReadOnlyList<SummaryBlock> blocks)
    {
        var sb = new StringBuilder();
        foreach (var block in blocks)
        {
            if (block.Rows is { } rows) AppendTable(sb, rows, block.RightAligned!);
            else sb.Append(block.Text).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The summary as text lines and tables (the command line draws the tables with Spectre.Console on a terminal).</summary>
    public static IReadOnlyList<SummaryBlock> Blocks(BudgetReport report)
    {
        var ci = CultureInfo.InvariantCulture;
        var g = report.Graph;
        var blocks = new List<SummaryBlock>
        {
            SummaryBlock.Line(string.Create(ci,
                $"graph {Files.TerminalText.Escape(g.Name)}{(g.ActivationDType is { } dt ? $" (floating activations as {dt})" : "")}: {g.PlannedTensors} planned tensors, {g.Edges} edges, activations {ByteSize.Format(g.ActivationBytes)}, ") +
                string.Create(ci,
                    $"parameters {ByteSize.Format(g.ParameterBytes)}, lower sets {(g.LowerSets is { } n ? n.ToString(ci) : $"> {g.LowerSetLimit.ToString(ci)}")}")),
            SummaryBlock.Line(string.Create(ci,
                $"store-all peak {ByteSize.Format(report.StoreAllPeakBytes)}; smallest budget {report.MinBudgetSolver} plans at {ByteSize.Format(report.MinBudgetBytes)}; ") +
                string.Create(ci,
                    $"{report.Budgets.Length} budgets; times in {Units.TimeUnits.Name(g.TimeUnit)}{(g.Device is { } device ? $" on {device}" : "")}")),
        };
        if (!report.Complete) blocks.Add(SummaryBlock.Line("the sweep was interrupted: the table shows the points finished"));
        if (report.Guide is { } guide)
        {
            blocks.Add(SummaryBlock.Line(""));
            blocks.AddRange(GuideBlocks(guide));
        }
        blocks.Add(SummaryBlock.Line(""));
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
        blocks.Add(SummaryBlock.Table(rows, false, true, true, true, true, true));
        blocks.Add(SummaryBlock.Line(""));
        int width = report.Series.Max(s => s.Name.Length);
        foreach (var s in report.Series)
            if (SolverDescriptions.Of(s.Name) is { } sentence) blocks.Add(SummaryBlock.Line($"{s.Name.PadRight(width)}  {sentence}"));
        if (report.Timeline is { } t)
        {
            blocks.Add(SummaryBlock.Line(""));
            blocks.Add(SummaryBlock.Line(t.Feasible
                ? string.Create(ci,
                    $"at a budget of {ByteSize.Format(t.BudgetBytes)}, {Files.TerminalText.Escape(t.Series)} needs {ByteSize.Format(t.PeakBytes!.Value)} ") +
                  string.Create(ci,
                      $"({Percent((double)t.PeakBytes.Value / report.StoreAllPeakBytes)} of store-all) for {Percent(t.Overhead ?? 0)} more training-step time, ") +
                  string.Create(ci, $"recomputing {t.RecomputedTensors.Length} tensors")
                : $"at a budget of {ByteSize.Format(t.BudgetBytes)}, {Files.TerminalText.Escape(t.Series)} finds no plan"));
        }
        return blocks;
    }

    /// <summary>The guide's heading lines and its table (one row per device size).</summary>
    public static IEnumerable<SummaryBlock> GuideBlocks(BudgetGuide guide)
    {
        var ci = CultureInfo.InvariantCulture;
        string at = guide.Batch is { } b ? string.Create(ci, $" at batch {b}") : "";
        yield return SummaryBlock.Line($"budget guide{at}, optimizer {BudgetGuide.DescribeOptimizer(guide.Optimizer)}: every step holds {ByteSize.Format(guide.FixedBytes)} = " +
            $"parameters {ByteSize.Format(guide.ParameterBytes)} + gradients {ByteSize.Format(guide.GradientBytes)} + optimizer state {ByteSize.Format(guide.OptimizerStateBytes)} + " +
            $"inputs {ByteSize.Format(guide.InputBytes)}, then the activations of the plan");
        bool batches = guide.NoBatchReason is null;
        var header = new List<string> { "device", "left for activations", "plan", "activations", "step total", "overhead", "step with offload" };
        if (batches) header.AddRange(["largest batch, store-all", $"largest batch, {guide.Solver} (≤ {Percent(guide.MaxOverhead)})"]);
        var rows = new List<string[]> { header.ToArray() };
        foreach (var d in guide.Devices)
        {
            var row = new List<string>
            {
                ByteSize.Format(d.DeviceBytes),
                d.ActivationBudgetBytes > 0 ? ByteSize.Format(d.ActivationBudgetBytes) : "none",
                d.Plan ?? "does not fit",
                d.ActivationBytes is { } a ? ByteSize.Format(a) : "-",
                d.TotalBytes is { } t ? ByteSize.Format(t) : "-",
                d.Overhead is { } o ? Percent(o) : "-",
                // Without a link (report without --offload) there is nothing to say: a dash of its own.
                !guide.Offload ? "—" : d.OffloadStepSeconds is { } s ? TimeUnits.Format(s, "s") + (d.OffloadOnly ? " (offload only)" : "") : "-",
            };
            if (batches)
            {
                row.Add(d.LargestBatchStoreAll?.ToString(ci) ?? "-");
                row.Add(d.LargestBatch is { } lb ? lb.ToString(ci) + (d.LargestBatchOverhead is { } lo && lb > 0 ? $" ({Percent(lo)})" : "") : "-");
            }
            rows.Add(row.ToArray());
        }
        yield return SummaryBlock.Table(rows, [false, true, false, true, true, true, true, .. batches ? new[] { true, true } : []]);
        yield return SummaryBlock.Line($"the step fits{at} from {ByteSize.Format(guide.SmallestDeviceBytes)} of device memory (the fixed bytes and the least peak of any plan, {ByteSize.Format(guide.SmallestActivationBytes)}); " +
            (batches ? $"largest batch: it fits and the next one does not, as `recompute maxbatch --solver {guide.Solver} --overhead {Percent(guide.MaxOverhead)}` finds it (the plan's overhead in brackets)" : $"no largest batch: {guide.NoBatchReason}"));
        yield return SummaryBlock.Line(guide.Recommended is { } r
            ? string.Create(ci,
                $"recommended budget: {ByteSize.Format(r.BudgetBytes)} ({r.Series}: peak {ByteSize.Format(r.PeakBytes!.Value)}, overhead {Percent(r.Overhead!.Value)}), the least memory whose overhead stays within {Percent(guide.MaxOverhead)} of the training step (--max-overhead)")
            : $"recommended budget: none; no plan of the sweep keeps within {Percent(guide.MaxOverhead)} of the training step (--max-overhead)");
    }

    /// <summary>"12.5%" with one decimal.</summary>
    public static string Percent(double fraction) => (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static void AppendTable(StringBuilder sb, IReadOnlyList<string[]> rows, IReadOnlyList<bool> right)
    {
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
        {
            var line = new StringBuilder();
            for (int c = 0; c < r.Length; c++)
            {
                if (c > 0) line.Append("  ");
                line.Append(right[c] ? r[c].PadLeft(widths[c]) : r[c].PadRight(widths[c]));
            }
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
    }
}
