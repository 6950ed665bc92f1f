using System.Text.Json;
using Recompute.Cli;
using Recompute.Runtime.Data;
using Recompute.Tests.Import;
using Recompute.Tests.Support;

namespace Recompute.Tests.Oracle;

/// <summary>
/// The training sample of docs/cli.md ("Train an ONNX model on your own data"), command for command: train ResNet-18
/// (weights from the seed) for 20 steps at 50 % on the
/// shipped batch and save it, eval the saved file, check its loss with ONNX Runtime, and train the saved file for one
/// step, whose loss is the one eval printed.
/// </summary>
public class TrainingSampleTests
{
    private static (int Code, string Out, string Err) Run(string cwd, string command)
    {
        // The page's relative paths, from the repository root; outputs into the test's folder.
        var args = command.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]
            .Select(a => a.StartsWith("graphs/", StringComparison.Ordinal) ? Path.Combine(Paths.RepoRoot,
                a) : a == "trained.onnx" ? Path.Combine(cwd, a) : a).ToArray();
        var o = new StringWriter(); var e = new StringWriter();
        int code = CommandRunner.Run(args, o, e, CancellationToken.None);
        return (code, o.ToString(), e.ToString());
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void TheCliPageSample_TrainSaveEval_AgreesWithOnnxRuntime_AndResumesAtTheEvalLoss()
    {
        string page = File.ReadAllText(Path.Combine(Paths.RepoRoot, "docs", "cli.md"));
        const string train = "recompute train graphs/resnet18-b32.onnx --data graphs/resnet18-b2.npz --budget 50% --steps 20 --lr 1e-5 --save trained.onnx";
        const string eval = "recompute eval trained.onnx --data graphs/resnet18-b2.npz --format json";
        const string again = "recompute train trained.onnx --data graphs/resnet18-b2.npz --budget 50% --steps 1";
        foreach (var c in new[] { train, eval, again }) Assert.Contains(c, page);

        using var dir = new TempFolder();
        var (code, stdout, stderr) = Run(dir.Path, train + " --format json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var r = doc.RootElement;
            var losses = r.GetProperty("loss").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            Assert.Equal(20, losses.Length);
            Assert.True(losses[^1] * 2 < losses[0], $"loss {losses[0]} → {losses[^1]}");
            Assert.Equal(r.GetProperty("predictedPeakBytes").GetInt64(), r.GetProperty("measuredPeakBytes").GetInt64());
            Assert.True(r.GetProperty("measuredPeakBytes").GetInt64() <= r.GetProperty("budgetBytes").GetInt64());
        }
        string saved = dir.File("trained.onnx");
        Assert.True(File.Exists(saved));

        (code, stdout, stderr) = Run(dir.Path, eval);
        Assert.True(code == 0, stderr);
        float evalLoss;
        using (var doc = JsonDocument.Parse(stdout))
        {
            evalLoss = doc.RootElement.GetProperty("loss").GetSingle();
            Assert.Equal("initializers", doc.RootElement.GetProperty("weights").GetString());
            var outputs = doc.RootElement.GetProperty("outputs").EnumerateArray().ToList();
            Assert.Equal("loss", outputs[0].GetProperty("name").GetString());
        }
        Assert.True(float.IsFinite(evalLoss) && evalLoss > 0.1, $"eval loss {evalLoss}");

        var data = Npz.Read(Path.Combine(Paths.Graphs, "resnet18-b2.npz"));
        var ort = OrtOracle.Run(saved, data);
        Assert.True(Math.Abs(ort["loss"][0] - evalLoss) <= 1e-4 * Math.Abs(ort["loss"][0]), $"eval {evalLoss}, ONNX Runtime {ort["loss"][0]}");

        (code, stdout, stderr) = Run(dir.Path, again + " --format json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
            Assert.Equal(evalLoss, doc.RootElement.GetProperty("loss")[0].GetSingle());
    }
}
