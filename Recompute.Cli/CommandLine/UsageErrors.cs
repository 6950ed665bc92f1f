using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Recompute.Cli.CommandLine;

/// <summary>
/// The one problem a usage error reports, in the project's words: the first of unknown options (with the nearest
/// names), unexpected arguments, options given twice, and the parser's own errors.
/// </summary>
public static class UsageErrors
{
    /// <summary>The problem to report, or null when the command line is fine.</summary>
    public static string? First(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        int doubleDash = IndexOfDoubleDash(parse.Tokens);

        // Unknown options first: their values would otherwise show up as unexpected arguments.
        foreach (var token in parse.UnmatchedTokens)
            if (LooksLikeOption(token)) return UnknownOption(token, command);
        // An unknown option before the graph is taken as the graph itself: "plan --budjet 40% g.onnx".
        foreach (var arg in parse.CommandResult.Children.OfType<ArgumentResult>())
            foreach (var token in arg.Tokens)
                if (LooksLikeOption(token.Value) && (doubleDash < 0 || IndexOf(parse.Tokens, token) < doubleDash))
                    return UnknownOption(token.Value, command);
        if (parse.UnmatchedTokens.Count > 0)
        {
            var t = parse.UnmatchedTokens[0];
            return command is RootCommand
                ? $"unknown command '{t}'" + Suggestions.DidYouMean(t, command.Subcommands.Select(c => c.Name))
                : $"unexpected argument '{t}'";
        }
        if (Repeated(parse) is { } repeated) return repeated;
        if (parse.Errors.Count == 0) return null;
        var e = parse.Errors[0];
        return e.SymbolResult switch
        {
            ArgumentResult { Tokens.Count: 0 } a when a.Parent is CommandResult => $"missing <{a.Argument.Name}>",
            OptionResult { Tokens.Count: 0 } o when o.Option.Arity.MinimumNumberOfValues > 0 => $"option {o.Option.Name} needs a value",
            CommandResult when command is RootCommand => "give a command",
            // The library's own messages may span lines (lists of choices): one line here.
            _ => string.Join(' ', e.Message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)),
        };
    }

    private static string UnknownOption(string token, Command command)
    {
        // "--budjet=40%" is the option "--budjet".
        string name = token.Split('=', 2)[0];
        var names = command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith('-'));
        return $"unknown option '{name}'" + Suggestions.DidYouMean(name, names);
    }

    /// <summary>An option given twice: "option --budget is given twice", or for an alias pair "-o and --output are the
    /// same option; give one".</summary>
    private static string? Repeated(ParseResult parse)
    {
        foreach (var o in parse.CommandResult.Children.OfType<OptionResult>())
        {
            if (o.Implicit || o.IdentifierTokenCount < 2) continue;
            var given = parse.Tokens.Where(t => t.Type == TokenType.Option && (t.Value == o.Option.Name || o.Option.Aliases.Contains(t.Value)))
                .Select(t => t.Value).Distinct(StringComparer.Ordinal).OrderBy(v => v.Length).ThenBy(v => v, StringComparer.Ordinal).ToList();
            return given.Count > 1
                ? $"{string.Join(" and ", given)} are the same option; give one"
                : $"option {o.Option.Name} is given twice";
        }
        return null;
    }

    /// <summary>"-x" or "--xyz", but not a negative number (a value such as "-5GB" is reported by its option).</summary>
    private static bool LooksLikeOption(string token) =>
        token.Length > 1 && token[0] == '-' && !char.IsDigit(token[1]) && token[1] != '.' &&
        !double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static int IndexOfDoubleDash(IReadOnlyList<Token> tokens)
    {
        for (int i = 0; i < tokens.Count; i++) if (tokens[i].Type == TokenType.DoubleDash) return i;
        return -1;
    }

    private static int IndexOf(IReadOnlyList<Token> tokens, Token token)
    {
        for (int i = 0; i < tokens.Count; i++) if (ReferenceEquals(tokens[i], token)) return i;
        return -1;
    }
}
