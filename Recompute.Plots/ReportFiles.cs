using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Planner.Reporting;
using ScottPlot;

namespace Recompute.Plots;

/// <summary>The files of a report, in the order <see cref="ReportFiles.WriteAll"/> writes them.</summary>
public static class ReportFileNames
{
    public const string Json = "report.json", Csv = "report.csv", Html = "report.html", Dot = "graph.dot";
    public const string ParetoPng = "pareto.png", ParetoSvg = "pareto.svg", TimelinePng = "timeline.png", TimelineSvg = "timeline.svg";

    /// <summary>Every file a report may write (claimed before the sweep, so none of them can be an input).</summary>
    public static IReadOnlyList<string> All { get; } = [Json, Csv, Html, Dot, ParetoPng, ParetoSvg, TimelinePng, TimelineSvg];
}

/// <summary>Writes every file of a report into a folder, each one atomically.</summary>
public static partial class ReportFiles
{
    /// <summary>Writes report.json only (used after every point of a sweep, so an interrupted sweep keeps its points).</summary>
    public static void WriteJson(BudgetReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        ReportJson.Write(report, Path.Combine(directory, ReportFileNames.Json));
    }

    /// <summary>Writes the plots, the tables, the page and graph.dot; returns the paths written.</summary>
    public static IReadOnlyList<string> WriteAll(BudgetReport report, ComputationGraph graph, string directory)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        string P(string name) { var p = Path.Combine(directory, name); written.Add(p); return p; }

        var pareto = ParetoPlot.Build(report);
        byte[] paretoPng = Png(pareto, ParetoPlot.Width, ParetoPlot.Height);
        AtomicFile.WriteAllBytes(P(ReportFileNames.ParetoPng), paretoPng);
        AtomicFile.WriteAllText(P(ReportFileNames.ParetoSvg), Svg(pareto, ParetoPlot.Width, ParetoPlot.Height));

        byte[]? timelinePng = null;
        if (report.Timeline is { } t)
        {
            var timeline = TimelinePlot.Build(report, t);
            timelinePng = Png(timeline, TimelinePlot.Width, TimelinePlot.Height);
            AtomicFile.WriteAllBytes(P(ReportFileNames.TimelinePng), timelinePng);
            AtomicFile.WriteAllText(P(ReportFileNames.TimelineSvg), Svg(timeline, TimelinePlot.Width, TimelinePlot.Height));
        }

        ReportJson.Write(report, P(ReportFileNames.Json));
        ReportCsv.Write(report, P(ReportFileNames.Csv));
        ReportHtml.Write(report, paretoPng, timelinePng, P(ReportFileNames.Html));
        DotWriter.Write(graph, report.Timeline?.Schedule, P(ReportFileNames.Dot));
        return written;
    }

    /// <summary>
    /// SVG text of a plot. Skia numbers clip paths with a process-wide counter; they are renumbered from zero in
    /// order of appearance so that the same report gives the same file however many plots were drawn before.
    /// </summary>
    public static string Svg(Plot plot, int width, int height)
    {
        var svg = plot.GetSvgXml(width, height);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        return ClipId().Replace(svg, m =>
        {
            if (!ids.TryGetValue(m.Value,
                out var id)) ids[m.Value] = id = "cl_" + ids.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return id;
        });
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\bcl_[0-9a-fA-F]+\b")]
    private static partial System.Text.RegularExpressions.Regex ClipId();

    /// <summary>PNG bytes of a plot.</summary>
    public static byte[] Png(Plot plot, int width, int height) => plot.GetImageBytes(width, height, ImageFormat.Png);
}
