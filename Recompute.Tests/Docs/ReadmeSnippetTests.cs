using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Recompute.Tests.Support;

namespace Recompute.Tests.Docs;

/// <summary>
/// Every <c>```csharp</c> block of README.md and docs/library.md (<see cref="Pages"/>) is compiled with Roslyn against
/// the built libraries and run, so a snippet that stops compiling or throws fails CI. A block that starts with
/// <c>using</c> lines begins a program; a block without them continues the program of the block before it, in the
/// same page. Each program runs in a child process whose working
/// directory is a fresh temporary folder holding a link to the repository's <c>graphs/</c>, so the relative paths a
/// reader would type work and the files a snippet writes land in that folder.
/// </summary>
public class ReadmeSnippetTests
{
    private static readonly Regex Block = new(@"^```csharp\r?\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline);

    /// <summary>The pages whose C# blocks are programs: the README's one example, and the library's page.</summary>
    internal static readonly string[] Pages = ["README.md", "docs/library.md"];

    private static string Read(string page) => File.ReadAllText(Path.Combine(Paths.RepoRoot, page));

    /// <summary>The C# programs of one page, in order (each one or more consecutive blocks).</summary>
    internal static List<string> Programs(string page)
    {
        var programs = new List<string>();
        foreach (Match m in Block.Matches(Read(page)))
        {
            string code = m.Groups[1].Value;
            if (code.TrimStart().StartsWith("using ", StringComparison.Ordinal) || programs.Count == 0) programs.Add(code);
            else programs[^1] += "\n" + code;
        }
        return programs;
    }

    /// <summary>Every page's programs, in order: (page, code).</summary>
    internal static List<(string Page, string Code)> Programs() =>
        [.. Pages.SelectMany(page => Programs(page).Select(code => (page, code)))];

    public static TheoryData<int> ProgramIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Programs().Count; i++) data.Add(i);
        return data;
    }

    [Fact]
    public void TheReadmeAndTheLibraryPageHaveCSharpSnippets()
    {
        // The README: the planner. The library page: the training session and calibration (which continues the
        // session's program) at least.
        Assert.True(Programs("README.md").Count >= 1, "README.md has no C# program");
        int blocks = Pages.Sum(page => Block.Matches(Read(page)).Count);
        Assert.True(blocks >= 3 && Programs().Count >= 2, $"found {blocks} C# blocks, {Programs().Count} programs in {string.Join(" and ", Pages)}");
        Assert.True(Block.Matches(Read("docs/library.md")).Count >= 2 && Programs("docs/library.md").Count >= 1,
            "docs/library.md lost its training program");
    }

    [Trait("Category", "Slow")]
    [Theory]
    [MemberData(nameof(ProgramIndices))]
    public void ReadmeSnippetCompilesAndRuns(int index)
    {
        var (page, code) = Programs()[index];
        string dir = Directory.CreateTempSubdirectory("recompute-readme-").FullName;
        try
        {
            string output = Compile(code, page, dir, $"ReadmeSnippet{index}");
            var (exit, stdout, stderr) = Run(output, dir);
            Assert.True(exit == 0, $"{page} program {index} exited {exit}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- code\n{code}");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>Compiles a top-level program to <paramref name="dir"/> beside links to the test's own assemblies.</summary>
    private static string Compile(string code, string page, string dir, string name)
    {
        var tpa = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var references = tpa.Where(p => p.EndsWith(".dll", StringComparison.Ordinal)).Select(p => MetadataReference.CreateFromFile(p));
        var tree = CSharpSyntaxTree.ParseText(code, new CSharpParseOptions(LanguageVersion.Latest), path: page);
        var global = CSharpSyntaxTree.ParseText(
            "global using System; global using System.IO; global using System.Linq; global using System.Collections.Generic; global using System.Threading;",
            new CSharpParseOptions(LanguageVersion.Latest));
        var compilation = CSharpCompilation.Create(name, [global, tree], references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        string path = Path.Combine(dir, name + ".dll");
        var result = compilation.Emit(path);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error || (d.Severity == DiagnosticSeverity.Warning
            && d.WarningLevel <= 1)).ToList();
        Assert.True(result.Success && errors.Count == 0, $"{page} snippet does not compile:\n" + string.Join("\n", errors) + "\n--- code\n" + code);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Recompute.Tests.runtimeconfig.json"), Path.Combine(dir, name + ".runtimeconfig.json"));
        foreach (var f in Directory.GetFiles(AppContext.BaseDirectory))
        {
            string link = Path.Combine(dir, Path.GetFileName(f));
            if (!Path.GetFileName(f).StartsWith("Recompute.Tests.", StringComparison.Ordinal) && !File.Exists(link)) File.CreateSymbolicLink(link, f);
        }
        Directory.CreateSymbolicLink(Path.Combine(dir, "graphs"), Paths.Graphs);
        return path;
    }

    private static (int Exit, string Stdout, string Stderr) Run(string dll, string dir)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(entireProcessTree: true); return (-1, stdout.Result, stderr.Result + "\n(timed out)"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
