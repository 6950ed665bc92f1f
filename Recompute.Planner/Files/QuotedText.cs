using System.Globalization;
using System.Text;

namespace Recompute.Planner.Files;

/// <summary>Text from a file quoted in an error message: one line, and short.</summary>
internal static class QuotedText
{
    /// <summary>A name quoted in a message: at most 60 characters (see <see cref="Printable"/>).</summary>
    public static string Shorten(string s) => Printable(s, 60);

    /// <summary>
    /// Text quoted in an error message: control characters escaped (a message is one line) and cut to
    /// <paramref name="max"/> characters, never between the halves of a surrogate pair.
    /// </summary>
    public static string Printable(string s, int max)
    {
        if (s.Length <= max && !s.AsSpan().ContainsAnyInRange('\0', '\u001f') && !s.Contains('\u007f')) return s;
        var sb = new StringBuilder(Math.Min(s.Length, max) + 8);
        foreach (char c in s)
        {
            if (c < ' ' || c == '\u007f') sb.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            else sb.Append(c);
            if (sb.Length > max) break;
        }
        if (sb.Length <= max) return sb.ToString();
        sb.Length = max - 3;
        if (char.IsHighSurrogate(sb[^1])) sb.Length--;
        return sb.Append("...").ToString();
    }
}
