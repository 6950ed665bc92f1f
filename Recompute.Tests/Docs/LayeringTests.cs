using System.Text.RegularExpressions;
using Recompute.Tests.Support;

namespace Recompute.Tests.Docs;

/// <summary>
/// Every namespace of Recompute.Planner and Recompute.Runtime has its place in one order, and a namespace names
/// nothing placed after it: by <c>using</c>, by a qualified name (<c>Recompute.Planner.Planning.X</c>, or
/// <c>Planning.X</c> from inside the project), or by a type of an enclosing namespace, which C# shows without
/// either. Read from the sources with comments left out; docs/architecture.md draws the same order.
/// </summary>
public partial class LayeringTests
{
    /// <summary>
    /// Lowest first; the Runtime sits above the whole Planner. The ONNX protobuf types
    /// (<c>Recompute.Planner.Import.Onnx.Proto</c>) are generated at build time from onnx.proto and name none of these.
    /// </summary>
    private static readonly string[] Order =
    [
        "Recompute.Planner.Units", "Recompute.Planner.Graph", "Recompute.Planner.Files",
        "Recompute.Planner.Costs", "Recompute.Planner.Devices", "Recompute.Planner.Import.Onnx", "Recompute.Planner.Import",
        "Recompute.Planner.Scheduling", "Recompute.Planner.Solvers", "Recompute.Planner.Solvers.Optimal", "Recompute.Planner.Planning",
        "Recompute.Planner.Reporting",
        "Recompute.Runtime.Tensors", "Recompute.Runtime.Kernels", "Recompute.Runtime.Ops", "Recompute.Runtime.Data",
        "Recompute.Runtime.Onnx", "Recompute.Runtime.Models", "Recompute.Runtime.Execution",
    ];

    private static readonly string[] Projects = ["Recompute.Planner", "Recompute.Runtime"];

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"^namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"\b(?:class|struct|record|interface|enum)\s+([A-Z]\w*)")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"(?<![\w.])([A-Z]\w*(?:\.[A-Z]\w*)*)")]
    private static partial Regex DottedName();

    private sealed record SourceFile(string Path, string Namespace, string Code);

    private static List<SourceFile> Sources() =>
        Projects.SelectMany(p => Directory.EnumerateFiles(Path.Combine(Paths.RepoRoot, p), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(f =>
            {
                var code = Comment().Replace(File.ReadAllText(f), "");
                var ns = NamespaceDeclaration().Match(code);
                Assert.True(ns.Success, $"{f} declares no namespace");
                return new SourceFile(Path.GetRelativePath(Paths.RepoRoot, f), ns.Groups[1].Value, code);
            })
            .ToList();

    /// <summary>
    /// The namespaces <paramref name="code"/>, in namespace <paramref name="own"/>, names, with the text that names
    /// each; <paramref name="types"/> gives the types each namespace declares.
    /// </summary>
    private static IEnumerable<(string Namespace, string Text)> References(string own, string code,
        IReadOnlyDictionary<string, HashSet<string>> types)
    {
        // Qualified names: in full, or relative to an enclosing namespace ("Planning.X" inside Recompute.Planner.*).
        var prefixes = Enumerable.Range(1, own.Count(c => c == '.')).Select(k => string.Join('.', own.Split('.')[..k]) + ".").Prepend("").ToList();
        foreach (Match m in DottedName().Matches(code))
        {
            var parts = m.Value.Split('.');
            for (int k = parts.Length; k >= 1; k--)
            {
                string name = string.Join('.', parts[..k]);
                string? ns = prefixes.Select(p => p + name).FirstOrDefault(types.ContainsKey);
                if (ns is null) continue;
                // Named in full, or followed by one of its types: not a property that shares a namespace's name.
                if (k == parts.Length ? name == ns : types[ns].Contains(parts[k])) yield return (ns, m.Value);
                break;
            }
        }
        // Types of an enclosing namespace, which C# resolves without a using.
        foreach (var outer in types.Keys.Where(n => own.StartsWith(n + ".", StringComparison.Ordinal)))
            foreach (var type in types[outer])
                if (Regex.IsMatch(code, $@"(?<![\w.]){type}\b"))
                    yield return (outer, type);
    }

    private static Dictionary<string, HashSet<string>> TypesByNamespace(List<SourceFile> files) =>
        files.GroupBy(f => f.Namespace).ToDictionary(g => g.Key,
            g => g.SelectMany(f => TypeDeclaration().Matches(f.Code).Select(m => m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal));

    [Fact]
    public void EveryNamespace_HasItsPlaceInTheOrder()
    {
        var declared = Sources().Select(f => f.Namespace).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.Equal(declared, Order.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void NoNamespace_NamesOneAboveIt()
    {
        var files = Sources();
        var types = TypesByNamespace(files);
        var wrong = new List<string>();
        foreach (var file in files)
        {
            int own = Array.IndexOf(Order, file.Namespace);
            foreach (var (ns, text) in References(file.Namespace, file.Code, types).Distinct())
                if (Array.IndexOf(Order, ns) > own) wrong.Add($"{file.Path} ({file.Namespace}) names {ns}: '{text}'");
        }
        Assert.True(wrong.Count == 0, "a namespace names one above it:\n" + string.Join("\n", wrong));
    }

    [Fact]
    public void TheCheck_SeesEveryKindOfReference()
    {
        var types = new Dictionary<string, HashSet<string>>
        {
            ["Recompute.Planner.Planning"] = ["RecomputePlanner"],
            ["Recompute.Planner.Import"] = ["JsonFields"],
            ["Recompute.Planner.Import.Onnx"] = ["OnnxImporter"],
        };
        string[] Found(string own, string code) => References(own, Comment().Replace(code, ""), types).Select(r => r.Namespace).Distinct().ToArray();

        Assert.Equal(["Recompute.Planner.Planning"], Found("Recompute.Planner.Graph", "using Recompute.Planner.Planning;"));
        Assert.Equal(["Recompute.Planner.Planning"], Found("Recompute.Planner.Graph", "var p = Recompute.Planner.Planning.RecomputePlanner.Plan();"));
        Assert.Equal(["Recompute.Planner.Planning"], Found("Recompute.Planner.Graph", "var p = Planning.RecomputePlanner.Plan();"));
        Assert.Equal(["Recompute.Planner.Import.Onnx"], Found("Recompute.Planner.Graph", "using Recompute.Planner.Import.Onnx;"));
        Assert.Equal(["Recompute.Planner.Import"], Found("Recompute.Planner.Import.Onnx", "JsonFields.Fail(x);"));
        Assert.Empty(Found("Recompute.Planner.Graph", "using Recompute.Planner.Import.Onnx.Proto;"));
        // Comments, a property that shares a namespace's name, and a longer identifier name nothing.
        Assert.Empty(Found("Recompute.Planner.Graph",
            "/// <see cref=\"Planning.RecomputePlanner\"/>\nvar n = Planning.Count; var r = Replanning.Run();"));
    }
}
