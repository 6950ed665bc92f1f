using Recompute.Planner.Reporting;
using Recompute.Planner.Units;
using ScottPlot;

namespace Recompute.Reporting;

/// <summary>
/// The memory timeline: live bytes after every step of the store-all schedule and of the plan at the chosen
/// budget, the plan's forward / recompute / backward phases shaded, the budget as a dashed line.
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

    public static Plot Build(BudgetReport report, TimelineReport timeline)
    {
        var plot = new Plot();
        PlotFonts.Apply(plot);
        var shaded = timeline.Plan ?? timeline.StoreAll;
        long max = Math.Max(timeline.StoreAll.PeakBytes, Math.Max(timeline.Plan?.PeakBytes ?? 0, timeline.BudgetBytes));
        var axis = ByteAxis.For(max);

        var legendDone = new HashSet<SchedulePhase>();
        foreach (var span in shaded.Phases)
        {
            var (name, color) = PhaseStyle[span.Phase];
            var band = plot.Add.HorizontalSpan(span.Start - 0.5, span.End - 0.5);
            band.FillStyle.Color = color;
            band.LineStyle.Width = 0;
            if (legendDone.Add(span.Phase)) band.LegendText = $"{name} phase" + (timeline.Plan is null ? "" : " (plan)");
        }

        Line(plot, timeline.StoreAll, axis, Color.FromHex("#7f7f7f"), "store-all");
        if (timeline.Plan is { } plan) Line(plot, plan, axis, Color.FromHex("#1f77b4"), plan.Label);

        var budget = plot.Add.HorizontalLine(axis.Scale(timeline.BudgetBytes));
        budget.Color = Color.FromHex("#d62728");
        budget.LineWidth = 2;
        budget.LinePattern = LinePattern.Dashed;
        budget.LegendText = $"budget {ByteSize.Format(timeline.BudgetBytes)}";

        plot.Title(timeline.Plan is null
            ? $"{report.Graph.Name}: live memory (no plan fits {ByteSize.Format(timeline.BudgetBytes)})"
            : $"{report.Graph.Name}: live memory, store-all vs {timeline.Series} at {ByteSize.Format(timeline.BudgetBytes)}");
        plot.XLabel("schedule step");
        plot.YLabel($"live activations and gradients ({axis.Unit})");
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = axis.Format };
        plot.Legend.FontSize = 13;
        // Outside the data area: the lines fill the whole width, any corner would hide some of them.
        plot.ShowLegend(Edge.Bottom);
        int steps = Math.Max(timeline.StoreAll.LiveBytes.Length, timeline.Plan?.LiveBytes.Length ?? 0);
        plot.Axes.SetLimits(-0.5, Math.Max(steps, 1) - 0.5, 0, axis.Scale(max) * 1.08);
        return plot;
    }

    private static void Line(Plot plot, MemoryTimeline line, ByteAxis axis, Color color, string label)
    {
        var xs = Enumerable.Range(0, line.LiveBytes.Length).Select(i => (double)i).ToArray();
        var ys = line.LiveBytes.Select(b => axis.Scale(b)).ToArray();
        var sc = plot.Add.Scatter(xs, ys, color);
        sc.ConnectStyle = ConnectStyle.StepHorizontal;
        sc.MarkerSize = 0;
        sc.LineWidth = 1.5f;
        sc.LegendText = $"{label} (peak {ByteSize.Format(line.PeakBytes)})";
    }
}
