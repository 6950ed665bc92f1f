using System.Reflection;
using ScottPlot;
using SkiaSharp;

namespace Recompute.Plots;

/// <summary>
/// The font every plot is drawn with: DejaVu Sans, shipped inside this assembly (see Fonts/LICENSE-DejaVu.txt),
/// so plots look the same on a machine with no fonts installed (CI containers).
/// </summary>
public static class PlotFonts
{
    /// <summary>Family name the plots ask for.</summary>
    public const string Family = "DejaVu Sans";

    private static readonly object Gate = new();
    private static bool _registered;

    /// <summary>Registers the shipped font with ScottPlot and makes it the default (idempotent, thread-safe).</summary>
    public static void Register()
    {
        lock (Gate)
        {
            if (_registered) return;
            Fonts.FontResolvers.Insert(0, new EmbeddedFontResolver(LoadTypeface()));
            Fonts.Default = Family;
            _registered = true;
        }
    }

    /// <summary>Applies the shipped font to every text element of a plot.</summary>
    public static void Apply(Plot plot)
    {
        Register();
        plot.Font.Set(Family);
    }

    private static SKTypeface LoadTypeface()
    {
        using var stream = typeof(PlotFonts).Assembly.GetManifestResourceStream("Recompute.Plots.DejaVuSans.ttf")
            ?? throw new InvalidOperationException("the DejaVu Sans font is missing from the Recompute.Plots assembly");
        using var data = SKData.Create(stream);
        return SKTypeface.FromData(data) ?? throw new InvalidOperationException("the shipped DejaVu Sans font could not be read");
    }

    /// <summary>Answers every request for the shipped family (any weight or slant: the regular face; bold is synthesised by Skia).</summary>
    private sealed class EmbeddedFontResolver(SKTypeface typeface) : IFontResolver
    {
        public SKTypeface? CreateTypeface(string fontName, bool bold, bool italic) =>
            string.Equals(fontName, Family, StringComparison.OrdinalIgnoreCase) ? typeface : null;

        public SKTypeface? CreateTypeface(string fontName, FontWeight weight, FontSlant slant, FontSpacing spacing) =>
            string.Equals(fontName, Family, StringComparison.OrdinalIgnoreCase) ? typeface : null;
    }
}
