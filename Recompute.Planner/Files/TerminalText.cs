using System.Globalization;
using System.Text;

namespace Recompute.Planner.Files;

/// <summary>
/// The one sanitiser for text that reaches a terminal: names from files (tensors, graphs, paths, time-file keys)
/// can hold escape sequences (ESC [ 31 m, OSC), line breaks that forge lines ("\nplan feasible"), C1 controls
/// (U+009B is a one-character CSI) and bidirectional overrides (U+202E reverses what follows). Each of those, and
/// DEL, is printed as a visible escape (<c>\e</c>, <c>\n</c>, <c>\u009b</c>, <c>\u202e</c>); everything else,
/// including other non-ASCII text, as it is. JSON output does not need this: its writer escapes controls, and the
/// project's writer also escapes the bidirectional controls (see <see cref="IsUnsafe"/>).
/// </summary>
public static class TerminalText
{
    /// <summary>Whether a character must not reach a terminal raw: C0 (but tab), DEL, C1, bidi embeddings, overrides
    /// and isolates, LRM/RLM/ALM.</summary>
    public static bool IsUnsafe(char c) =>
        (c < ' ' && c != '\t') || c is >= '\u007f' and <= '\u009f' ||
        c is >= '\u202a' and <= '\u202e' || c is >= '\u2066' and <= '\u2069' || c is '\u200e' or '\u200f' or '\u061c';

    /// <summary>The text with every unsafe character escaped; the same string when there is none.</summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        int first = -1;
        for (int i = 0; i < text.Length; i++) if (IsUnsafe(text[i])) { first = i; break; }
        if (first < 0) return text;
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (!IsUnsafe(c)) { sb.Append(c); continue; }
            sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\u001b' => "\\e",
                _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
            });
        }
        return sb.ToString();
    }
}
