using System.Text.Json;
using Recompute.Cli;

namespace Recompute.Tests.Import;

/// <summary><c>recompute inspect --format json</c> on the sample ONNX graphs, through the ONNX loader.</summary>
public sealed class OnnxInspectCliTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static (int Code, JsonElement Json, string Stderr) Inspect(params string[] args)
    {
        var stdout = new StringWriter(); var stderr = new StringWriter();
        // A small lower-set limit keeps the command fast: counting lower sets is not what is tested here.
        int code = CommandRunner.Run(["inspect", .. args, "--format", "json", "--max-lower-sets", "1"], stdout, stderr, CancellationToken.None);
        var json = code == 0 ? JsonDocument.Parse(stdout.ToString()).RootElement.Clone() : default;
        return (code, json, stderr.ToString());
    }

    public static TheoryData<string> Models() => new(OnnxTestFiles.Models);

    [Theory]
    [MemberData(nameof(Models))]
    public void NoShapesAndShapedForms_ReportTheSameFigures(string model)
    {
        var shaped = Inspect(OnnxTestFiles.Graph(model + ".onnx"));
        var bare = Inspect(OnnxTestFiles.Graph(model + "-noshapes.onnx"));
        Assert.Equal(0, shaped.Code);
        Assert.Equal(0, bare.Code);
        foreach (var field in new[] { "nodes", "edges", "tensors", "plannedTensors", "activationBytes", "parameterBytes", "inputBytes",
            "constantBytes" })
            Assert.Equal(shaped.Json.GetProperty(field).GetInt64(), bare.Json.GetProperty(field).GetInt64());
        Assert.Equal(shaped.Json.GetProperty("ops").GetRawText(), bare.Json.GetProperty("ops").GetRawText());

        using var reference = JsonDocument.Parse(File.ReadAllText(OnnxTestFiles.Graph("reference.json")));
        var r = reference.RootElement.GetProperty(model + ".onnx");
        // A fused LayerNorm stands for 9 nodes of the file, a fused GELU for 5 (FusedPatterns: GPT-2's export).
        long Count(string op) => bare.Json.GetProperty("ops").TryGetProperty(op, out var c) ? c.GetInt64() : 0;
        long layerNorms = Count("LayerNormalization"), gelus = Count("Gelu");
        Assert.Equal(r.GetProperty("nodes").GetInt64() - 8 * layerNorms - 4 * gelus, bare.Json.GetProperty("nodes").GetInt64());
        // reference.json counts every op output; inspect's activationBytes leaves out folded constants (constantBytes
        // holds them, with constant initializers), and the intermediates of fused patterns.
        long activations = bare.Json.GetProperty("activationBytes").GetInt64();
        long constants = bare.Json.GetProperty("constantBytes").GetInt64();
        if (layerNorms + gelus == 0) Assert.InRange(r.GetProperty("activationBytes").GetInt64() - activations, 0, constants);
        else Assert.True(activations < r.GetProperty("activationBytes").GetInt64());
        Assert.Equal(r.GetProperty("inputBytes").GetInt64(),
            bare.Json.GetProperty("inputBytes").GetInt64() + bare.Json.GetProperty("parameterBytes").GetInt64());
    }

    [Fact]
    public void Batch_IsWiredIntoInspect()
    {
        var atFile = Inspect(OnnxTestFiles.Graph("resnet50-b64.onnx"));
        var at16 = Inspect(OnnxTestFiles.Graph("resnet50-b64.onnx"), "--batch", "16");
        Assert.Equal(0, at16.Code);
        Assert.Equal(atFile.Json.GetProperty("inputBytes").GetInt64() / 4, at16.Json.GetProperty("inputBytes").GetInt64());
        Assert.True(at16.Json.GetProperty("activationBytes").GetInt64() < atFile.Json.GetProperty("activationBytes").GetInt64() / 3);
    }

    [Fact]
    public void CorruptFile_ExitsWithCode2AndOneLineNamingTheFile()
    {
        var bytes = File.ReadAllBytes(OnnxTestFiles.Graph("vgg16-b32.onnx"));
        string path = _tmp.File("vgg16-truncated.onnx");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 3)]);
        var (code, _, stderr) = Inspect(path);
        Assert.Equal(2, code);
        Assert.Contains("vgg16-truncated.onnx", stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", stderr);
    }
}
