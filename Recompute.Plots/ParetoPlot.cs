using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using ScottPlot;

namespace Recompute.Plots;

/// <summary>
/// The Pareto plot of a sweep: simulated peak memory (x, binary units) against recompute overhead (y, percent of
/// the training step). Each curve solver is a step line through its non-dominated plans (between two plans, the
/// cheaper one at less memory is what that much memory buys); baselines are markers.
/// </summary>
public static class ParetoPlot
{
    public const int Width = 900, Height = 600;

    internal static readonly Color[] Palette =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#ff7f0e"), Color.FromHex("#2ca02c"), Color.FromHex("#d62728"),
        Color.FromHex("#9467bd"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"), Color.FromHex("#17becf"), Color.FromHex("#bcbd22"),
    ];

    private static readonly MarkerShape[] Shapes =
        [MarkerShape.FilledSquare, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleUp, MarkerShape.FilledCircle];

    private static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];

    private static readonly MarkerShape[] CurveMarkers = [MarkerShape.FilledCircle, MarkerShape.OpenCircle, MarkerShape.OpenSquare,
        MarkerShape.Cross];

    public static Plot Build(BudgetReport report)
    {
        var plot = new Plot();
        PlotFonts.Apply(plot);
        long maxPeak = report.Points.Where(p => p.Feasible && p.PeakBytes is not null).Select(p => p.PeakBytes!.Value)
            .DefaultIfEmpty(report.StoreAllPeakBytes).Max();
        var axis = ByteAxis.For(Math.Max(maxPeak, report.StoreAllPeakBytes));
        int colour = 0, shape = 0, pattern = 0;
        foreach (var s in report.Series)
        {
            // Each series keeps its colour whichever others a report shows (its solver's plot slot).
            var color = Palette[(SolverRegistry.PlotSlot(s.Name) ?? SolverRegistry.Descriptors.Count + 1 + colour++) % Palette.Length];
            if (s.IsCurve)
            {
                var front = report.Frontier(s.Name);
                if (front.Length == 0) continue;
                var xs = front.Select(p => axis.Scale(p.PeakBytes!.Value)).ToArray();
                var ys = front.Select(p => p.Overhead!.Value * 100).ToArray();
                bool auto = s.Name == AutoPortfolio.Name;
                // auto, the default plan, is the curve to read: solid, thick and black; the others are its comparisons.
                var line = plot.Add.Scatter(xs, ys, auto ? Colors.Black : color);
                line.ConnectStyle = ConnectStyle.StepHorizontal;
                // Curves often coincide (dp and dp-approx on chain-like graphs): vary the dash and the marker too.
                line.LineWidth = auto ? 3.5f : 2;
                line.LinePattern = auto ? LinePattern.Solid : Patterns[pattern % Patterns.Length];
                line.MarkerSize = auto ? 8 : 7;
                line.MarkerShape = auto ? MarkerShape.FilledCircle : CurveMarkers[pattern % CurveMarkers.Length];
                if (!auto) pattern++;
                line.LegendText = auto ? $"{s.Name} (the default plan)" : s.Name;
            }
            else
            {
                var pts = report.PointsOf(s.Name).Where(p => p.Feasible && p.PeakBytes is not null)
                    .Select(p => (Peak: p.PeakBytes!.Value, Overhead: p.Overhead ?? 0)).Distinct().OrderBy(p => p.Peak).ToArray();
                if (pts.Length == 0) continue;
                var markers = plot.Add.Markers(pts.Select(p => axis.Scale(p.Peak)).ToArray(), pts.Select(p => p.Overhead * 100).ToArray(),
                    color: color);
                markers.MarkerShape = Shapes[shape++ % Shapes.Length];
                markers.MarkerSize = 11;
                markers.LegendText = s.Name;
            }
        }
        if (report.Guide?.Recommended is { PeakBytes: { } peak, Overhead: { } overhead })
        {
            var star = plot.Add.Markers(new[] { axis.Scale(peak) }, new[] { overhead * 100 }, color: Color.FromHex("#d62728"));
            star.MarkerShape = MarkerShape.FilledDiamond;
            star.MarkerSize = 16;
            star.LegendText = $"recommended: {Recompute.Planner.Units.ByteSize.Format(peak)}, within {report.Guide.MaxOverhead * 100:0.#}% overhead";
        }
        plot.Title($"{report.Graph.Name}: peak memory vs recompute overhead");
        plot.XLabel($"simulated peak memory of activations and gradients ({axis.Unit})");
        plot.YLabel("recompute overhead (% of the training step)");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = axis.Format };
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => v.ToString("0.#",
            System.Globalization.CultureInfo.InvariantCulture) + "%" };
        plot.Legend.FontSize = 13;
        // Outside the data area: baselines sit in every corner (store-all bottom right, Chen or per-block top).
        plot.ShowLegend(Edge.Bottom);
        plot.Axes.Margins(0.08, 0.12);
        // Overhead never goes below zero; keep the axis starting there so curves are comparable by eye.
        plot.Axes.AutoScale();
        var limits = plot.Axes.GetLimits();
        double top = Math.Max(limits.Top, 1);
        plot.Axes.SetLimitsY(-0.03 * top, top);
        return plot;
    }
}
