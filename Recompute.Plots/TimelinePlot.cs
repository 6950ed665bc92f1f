using Recompute.Planner.Reporting;
using Recompute.Planner.Units;
using ScottPlot;
using Recompute.Planner.Solvers;

namespace Recompute.Plots;

/// <summary>
/// The memory timeline: live bytes after every step of the store-all schedule and of the plan at the chosen
/// budget, the plan's forward / recompute / backward phases shaded, the budget as a dashed line. Under the
/// activations, the bytes every step holds whatever the plan: parameters, their gradients, the optimizer's state
/// and the inputs, as labelled bands (the activation lines and the budget sit on top of them).
/// </summary>
public static class TimelinePlot
{
    public const int Width = 1000, Height = 560;

    private static readonly Dictionary<SchedulePhase, (string Name, Color Color)> PhaseStyle = new()
    {
        [SchedulePhase.Forward] = ("forward", Color.FromHex("#9ecae1").WithAlpha(0.35)),
        [SchedulePhase.Recompute] = ("recompute", Color.FromHex("#fd8d3c").WithAlpha(0.45)),
        [SchedulePhase.Backward] = ("backward", Color.FromHex("#a1d99b").WithAlpha(0.35)),
    };

    private static readonly Color[] BandColors =
        [Color.FromHex("#6a51a3"), Color.FromHex("#9e9ac8"), Color.FromHex("#cbc9e2"), Color.FromHex("#bdbdbd")];

    /// <summary>
    /// The bytes under the activations, bottom up: parameters, gradients, optimizer state, inputs and constants (the
    /// guide's figures; without a guide, Adam's state).
    /// </summary>
    public static IReadOnlyList<(string Name, long Bytes)> FixedBands(BudgetReport report)
    {
        var g = report.Graph;
        var guide = report.Guide;
        var optimizer = guide?.Optimizer ?? OptimizerKind.Adam;
        long p = g.ParameterBytes;
        return
        [
            ("parameters", p),
            ("parameter gradients", guide?.GradientBytes ?? p),
            ($"{MaxBatchFormat.Name(optimizer)} state", guide?.OptimizerStateBytes ?? BudgetGuide.StateCopies(optimizer) * p),
            ("inputs", guide?.InputBytes ?? g.InputBytes + g.ConstantBytes),
        ];
    }

    public static Plot Build(BudgetReport report, TimelineReport timeline)
    {
        var plot = new Plot();
        PlotFonts.Apply(plot);
        var shaded = timeline.Plan ?? timeline.StoreAll;
        var bands = FixedBands(report);
        long under = bands.Sum(b => b.Bytes);
        long max = under + Math.Max(timeline.StoreAll.PeakBytes, Math.Max(timeline.Plan?.PeakBytes ?? 0, timeline.BudgetBytes));
        var axis = ByteAxis.For(max);
        int steps = Math.Max(timeline.StoreAll.LiveBytes.Length, timeline.Plan?.LiveBytes.Length ?? 0);
        double left = -0.5, right = Math.Max(steps, 1) - 0.5;

        var legendDone = new HashSet<SchedulePhase>();
        foreach (var span in shaded.Phases)
        {
            var (name, color) = PhaseStyle[span.Phase];
            var band = plot.Add.HorizontalSpan(span.Start - 0.5, span.End - 0.5);
            band.FillStyle.Color = color;
            band.LineStyle.Width = 0;
            if (legendDone.Add(span.Phase)) band.LegendText = $"{name} phase" + (timeline.Plan is null ? "" : " (plan)");
        }

        // The fixed bytes, drawn over the phase shading: each band opaque and named in the legend; labelled inside
        // itself when every band is tall enough to hold a line of text, else by one line above them all, in the
        // middle of the schedule (where the activation lines are highest, so the label hides none of them).
        var shown = bands.Select((b, i) => (b.Name, b.Bytes, Color: BandColors[i])).Where(b => b.Bytes > 0).ToList();
        bool inside = shown.All(b => (double)b.Bytes / max > 0.035);
        long bottom = 0;
        foreach (var (name, bytes, color) in shown)
        {
            var rect = plot.Add.Rectangle(left, right, axis.Scale(bottom), axis.Scale(bottom + bytes));
            rect.FillStyle.Color = color;
            rect.LineStyle.Width = 0;
            rect.LegendText = $"{name} {ByteSize.Format(bytes)}";
            if (inside) Label(plot, $"{name} {ByteSize.Format(bytes)}", left + (right - left) * 0.01, axis.Scale(bottom + bytes / 2),
                Alignment.MiddleLeft);
            bottom += bytes;
        }
        if (!inside && shown.Count > 0)
            Label(plot, $"under the activations: {string.Join(" + ", shown.Select(b => $"{b.Name} {ByteSize.Format(b.Bytes)}"))}",
                (left + right) / 2, axis.Scale(under) + axis.Scale(max) * 0.01, Alignment.LowerCenter);

        // Store-all's schedule is shorter than a plan's (nothing recomputed): a dotted line marks where its step ends.
        bool shorter = timeline.Plan is { } longer && longer.LiveBytes.Length > timeline.StoreAll.LiveBytes.Length;
        Line(plot, timeline.StoreAll, axis, under, Color.FromHex("#7f7f7f"), SolverName.StoreAll);
        if (shorter)
        {
            var end = plot.Add.VerticalLine(timeline.StoreAll.LiveBytes.Length - 1);
            end.Color = Color.FromHex("#7f7f7f");
            end.LineWidth = 1;
            end.LinePattern = LinePattern.Dotted;
        }
        if (timeline.Plan is { } plan) Line(plot, plan, axis, under, Color.FromHex("#1f77b4"), plan.Label, width: 2.5f);
        // Offloaded values wait in host memory: drawn from zero, not on the device's bands.
        if (timeline.Host is { } host) Line(plot, host, axis, 0, Color.FromHex("#9467bd"), host.Label);

        var budget = plot.Add.HorizontalLine(axis.Scale(under + timeline.BudgetBytes));
        budget.Color = Color.FromHex("#d62728");
        budget.LineWidth = 2;
        budget.LinePattern = LinePattern.Dashed;
        budget.LegendText = $"budget {ByteSize.Format(timeline.BudgetBytes)} (above the bands)";

        plot.Title(timeline.Plan is null
            ? $"{report.Graph.Name}: live memory (no plan fits {ByteSize.Format(timeline.BudgetBytes)})"
            : $"{report.Graph.Name}: live memory, store-all vs {timeline.Series} at {ByteSize.Format(timeline.BudgetBytes)}");
        plot.XLabel(shorter ? $"schedule step (dotted: store-all's step ends at {timeline.StoreAll.LiveBytes.Length - 1})" : "schedule step");
        plot.YLabel($"device memory ({axis.Unit})");
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = axis.Format };
        plot.Legend.FontSize = 13;
        // Outside the data area: the lines fill the whole width, any corner would hide some of them.
        plot.ShowLegend(Edge.Bottom);
        plot.Axes.SetLimits(left, right, 0, axis.Scale(max) * 1.08);
        return plot;
    }

    private static void Label(Plot plot, string text, double x, double y, Alignment alignment)
    {
        var label = plot.Add.Text(text, x, y);
        label.LabelAlignment = alignment;
        label.LabelFontSize = 12;
        label.LabelFontColor = Colors.Black;
    }

    /// <param name="under">The fixed bytes the live bytes stand on.</param>
    private static void Line(Plot plot, MemoryTimeline line, ByteAxis axis, long under, Color color, string label, float width = 1.5f)
    {
        var xs = Enumerable.Range(0, line.LiveBytes.Length).Select(i => (double)i).ToArray();
        var ys = line.LiveBytes.Select(b => axis.Scale(under + b)).ToArray();
        var sc = plot.Add.Scatter(xs, ys, color);
        sc.ConnectStyle = ConnectStyle.StepHorizontal;
        sc.MarkerSize = 0;
        sc.LineWidth = width;
        // The curve stands on the fixed bands: say both its own peak and where it tops out on the device.
        sc.LegendText = under > 0
            ? $"{label}, peak {ByteSize.Format(line.PeakBytes)} ({ByteSize.Format(under + line.PeakBytes)} on the device)"
            : $"{label}, peak {ByteSize.Format(line.PeakBytes)}";
    }
}
