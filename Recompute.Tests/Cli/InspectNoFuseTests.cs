using System.Text.Json;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary><c>inspect --no-fuse</c>: the file as written, checkable against ONNX's own shape inference.</summary>
public class InspectNoFuseTests
{
    [Fact]
    public void NoFuse_GivesTheFilesNodesAndBytes_AsOnnxCountsThem()
    {
        // graphs/reference.json holds what ONNX's shape inference gives for each shipped export.
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(Paths.Graphs, "reference.json")));
        var expected = reference.RootElement.GetProperty("gpt2-124m-b8-t1024.onnx");
        string graph = Path.Combine(Paths.Graphs, "gpt2-124m-b8-t1024.onnx");
        var (code, output, err) = InProcessCli.Run("inspect", graph, "--no-fuse", "--format", "json", "--device", "flop");
        Assert.True(code == 0, err);
        using var asWritten = JsonDocument.Parse(output);
        Assert.Equal(expected.GetProperty("nodes").GetInt64(), asWritten.RootElement.GetProperty("nodes").GetInt64());
        Assert.Equal(expected.GetProperty("activationBytes").GetInt64(), asWritten.RootElement.GetProperty("activationBytes").GetInt64());
        // Fused (the default), LayerNorm and GELU are one node each: fewer nodes, fewer bytes.
        var (code2, fused, err2) = InProcessCli.Run("inspect", graph, "--format", "json", "--device", "flop");
        Assert.True(code2 == 0, err2);
        using var planned = JsonDocument.Parse(fused);
        Assert.True(planned.RootElement.GetProperty("nodes").GetInt64() < expected.GetProperty("nodes").GetInt64());
        // 12 blocks of two LayerNorms and a GELU, and the final LayerNorm; none when the file is read as written.
        Assert.Equal(37, planned.RootElement.GetProperty("fusedPatterns").GetInt64());
        Assert.Equal(0, asWritten.RootElement.GetProperty("fusedPatterns").GetInt64());
    }
}
