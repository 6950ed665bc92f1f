using System.CommandLine;
using Recompute.Cli.CommandLine;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>recompute completion bash|zsh|pwsh</c>: prints a shell script that completes commands, options and option
/// values by asking <c>recompute</c> itself through System.CommandLine's <c>[suggest:N]</c> directive, so the
/// completions always match the declarations the parser uses.
/// </summary>
public sealed class CompletionCommand : CliCommand
{
    private static readonly string[] Shells = ["bash", "zsh", "pwsh"];
    private readonly Argument<string> _shell = new("shell") { Description = "bash, zsh or pwsh" };

    public CompletionCommand() : base("completion", "print a shell completion script (bash, zsh or pwsh)", "completion bash|zsh|pwsh",
        "bash: source <(recompute completion bash)   zsh: source <(recompute completion zsh)\n" +
        "pwsh: recompute completion pwsh | Out-String | Invoke-Expression   (put the line in the shell's profile to keep it)")
    {
        _shell.CompletionSources.Add(Shells);
        _shell.Validators.Add(r =>
        {
            var shell = r.GetValueOrDefault<string>();
            if (shell is not null && !Shells.Contains(shell))
                r.AddError($"the shell must be {CliOptions.Alternatives(Shells)}, not '{shell}'" + Suggestions.DidYouMean(shell, Shells));
        });
        Arguments.Add(_shell);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        context.Stdout.Write(parse.GetValue(_shell) switch
        {
            "bash" => Bash,
            "zsh" => Zsh,
            _ => PowerShell,
        });
        return ExitCodes.Success;
    }

    // Each script passes the words after "recompute" and the cursor's offset in them; the directive answers one
    // completion per line.
    private const string Bash = """
        # recompute: bash completion (System.CommandLine [suggest] directive)
        _recompute_complete()
        {
            local line="${COMP_LINE:0:COMP_POINT}"
            local rest="${line#*recompute}"
            rest="${rest# }"
            local IFS=$'\n'
            COMPREPLY=( $(compgen -W "$(recompute "[suggest:${#rest}]" "$rest" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}") )
        }
        complete -o default -F _recompute_complete recompute

        """;

    private const string Zsh = """
        # recompute: zsh completion (System.CommandLine [suggest] directive)
        _recompute_complete()
        {
            local rest="${BUFFER[1,CURSOR]#*recompute}"
            rest="${rest# }"
            local -a items
            items=("${(@f)$(recompute "[suggest:${#rest}]" "$rest" 2>/dev/null)}")
            compadd -- $items
        }
        compdef _recompute_complete recompute

        """;

    private const string PowerShell = """
        # recompute: PowerShell completion (System.CommandLine [suggest] directive)
        Register-ArgumentCompleter -Native -CommandName recompute -ScriptBlock {
            param($wordToComplete, $commandAst, $cursorPosition)
            $line = $commandAst.ToString()
            $rest = $line.Substring($commandAst.CommandElements[0].Extent.Text.Length).TrimStart()
            $position = [Math]::Max(0, $cursorPosition - $commandAst.Extent.StartOffset - ($line.Length - $rest.Length))
            recompute "[suggest:$position]" "$rest" | ForEach-Object {
                [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
            }
        }

        """;
}
