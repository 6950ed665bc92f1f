using System.Text.Json;
using Recompute.Cli;
using Recompute.Runtime.Data;
using Recompute.Tests.Import;

namespace Recompute.Tests.Cli;

public class EvalCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CommandRunner.Run(args, o, e, CancellationToken.None);
        return (code, o.ToString(), e.ToString());
    }

    private static readonly float[] X = Enumerable.Range(0, 32).Select(i => (float)Math.Cos(i)).ToArray();

    [Fact]
    public void Eval_PrintsTheLossAndOutputs_AndTrainWithSaveResumesThere()
    {
        // MLP with weights as graph inputs (seeded); data from an .npz; train 3 steps and save; eval the saved file;
        // one more training step from it starts at the loss eval printed.
        using var dir = new TempFolder();
        string model = OnnxModelBuilder.Mlp().Write(dir.File("mlp.onnx"));
        string data = dir.File("batch.npz");
        Npz.Write(data, [NamedArray.Of("x", X, 4, 8), NamedArray.Of("y", [1L, 0, 3, 2], 4)]);
        var (code, stdout, stderr) = Run("train", model, "--data", data, "--budget", "100%", "--steps", "3", "--lr", "0.01", "--save",
            dir.File("t.onnx"), "--format", "json");
        Assert.True(code == 0, stderr);
        Assert.Equal(dir.File("t.onnx"), JsonDocument.Parse(stdout).RootElement.GetProperty("savedFile").GetString());
        (code, stdout, stderr) = Run("eval", dir.File("t.onnx"), "--data", data, "--format", "json");
        Assert.True(code == 0, stderr);
        var r = JsonDocument.Parse(stdout).RootElement;
        float loss = r.GetProperty("loss").GetSingle();
        var output = r.GetProperty("outputs")[0];
        Assert.Equal("loss", output.GetProperty("name").GetString());
        Assert.Equal(loss, output.GetProperty("mean").GetSingle());
        (code, stdout, stderr) = Run("train", dir.File("t.onnx"), "--data", data, "--budget", "100%", "--steps", "1", "--format", "json");
        Assert.True(code == 0, stderr);
        Assert.Equal(loss, JsonDocument.Parse(stdout).RootElement.GetProperty("loss")[0].GetSingle());
        // The table form names the weights' origin and the loss.
        (code, stdout, _) = Run("eval", dir.File("t.onnx"), "--data", data);
        Assert.Equal(0, code);
        Assert.Contains("the file's initializers", stdout);
    }

    [Theory]
    [InlineData("name", "'labels' is not an input")]
    [InlineData("shape", "needs float32[4,8]")]
    [InlineData("type", "needs int64[4]")]
    public void BadData_IsOneLineNamingTheFile_Exit2(string kind, string expected)
    {
        using var dir = new TempFolder();
        string model = OnnxModelBuilder.Mlp().Write(dir.File("mlp.onnx"));
        string data = dir.File("bad.npz");
        NamedArray[] arrays = kind switch
        {
            "name" => [NamedArray.Of("x", X, 4, 8), NamedArray.Of("labels", [1L, 0, 3, 2], 4)],
            "shape" => [NamedArray.Of("x", X[..24], 3, 8), NamedArray.Of("y", [1L, 0, 3, 2], 4)],
            _ => [NamedArray.Of("x", X, 4, 8), NamedArray.Of("y", [1f, 0, 3, 2], 4)],
        };
        Npz.Write(data, arrays);
        foreach (var command in new[] { "eval", "train" })
        {
            var (code, stdout, stderr) = command == "eval" ? Run("eval", model, "--data", data) : Run("train", model, "--data", data,
                "--budget", "50%");
            Assert.Equal(2, code);
            Assert.Contains(data, stderr);
            Assert.Contains(expected, stderr);
            Assert.Single(stderr.Trim().Split('\n'));
            Assert.Equal("", stdout);
        }
    }

    [Fact]
    public void SaveNeedsAnOnnxGraph_AndAnOutputThatCanBeWritten()
    {
        using var dir = new TempFolder();
        var (code, _, stderr) = Run("train", Path.Combine(OnnxTestFiles.RepoRoot, "graphs", "mlp50.json"), "--budget", "100%", "--steps",
            "1", "--save", dir.File("x.onnx"));
        Assert.Equal(2, code);
        Assert.Contains("--save", stderr);
        string model = OnnxModelBuilder.Mlp().Write(dir.File("mlp.onnx"));
        (code, _, stderr) = Run("train", model, "--budget", "100%", "--steps", "1", "--save", model);
        Assert.Equal(2, code);
        Assert.False(File.Exists(dir.File("x.onnx")));
    }
}
