using System.Text.Json;
using Recompute.Cli;
using Recompute.Tests.Import;
using static Recompute.Tests.Import.OnnxModelBuilder;

namespace Recompute.Tests.Runtime;

public class TrainCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CommandRunner.Run(args, o, e, CancellationToken.None);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>A small ONNX CNN with weights as initializers: Conv→BatchNormalization→Relu→MaxPool→Flatten→Gemm→loss.</summary>
    private static string WriteCnn(TempFolder dir, int depth = 1)
    {
        var rng = new Recompute.Runtime.Execution.DeterministicRandom(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextNormal() * 0.3)).ToArray();
        var b = new OnnxModelBuilder().Input("x", Float, 2, 3, 6, 6).Input("y", Long, 2);
        string h = "x";
        for (int i = 0; i < depth; i++)
        {
            int cin = i == 0 ? 3 : 4;
            b.Initializer(Tensor($"w{i}", [4, cin, 3, 3], floats: R(4 * cin * 9))).Initializer(Tensor($"s{i}", [4], floats: [1, 1, 1, 1]))
             .Initializer(Tensor($"o{i}", [4], floats: [0, 0, 0, 0])).Initializer(Tensor($"m{i}", [4], floats: [0, 0, 0, 0]))
             .Initializer(Tensor($"v{i}", [4], floats: [1, 1, 1, 1]))
             .Node("Conv", [h, $"w{i}"], [$"c{i}"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1))
             .Node("BatchNormalization", [$"c{i}", $"s{i}", $"o{i}", $"m{i}", $"v{i}"], [$"bn{i}"], Real("epsilon", 1e-5f))
             .Node("Relu", [$"bn{i}"], [$"r{i}"]);
            h = $"r{i}";
        }
        b.Initializer(Tensor("fw", [3, 36], floats: R(108))).Initializer(Tensor("fb", [3], floats: [0, 0, 0]))
         .Node("MaxPool", [h], ["p"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2))
         .Node("Flatten", ["p"], ["f"], Int("axis", 1))
         .Node("Gemm", ["f", "fw", "fb"], ["logits"], Int("transB", 1))
         .Node("SoftmaxCrossEntropyLoss", ["logits", "y"], ["loss"])
         .Output("loss", Float);
        return b.Write(dir.File("cnn.onnx"));
    }

    [Fact]
    public void TrainsAnOnnxGraph_MeasuredEqualsPredicted_AndVerifiesAgainstStoreAll()
    {
        using var dir = new TempFolder();
        var path = WriteCnn(dir, depth: 3);
        var (code, stdout, stderr) = Run("train", path, "--budget", "100%", "--steps", "4", "--verify", "--format", "json", "--lr", "0.01");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(4, r.GetProperty("steps").GetInt32());
        var loss = r.GetProperty("loss").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(4, loss.Length);
        Assert.All(loss, l => Assert.True(double.IsFinite(l) && l > 0));
        Assert.Equal(loss, r.GetProperty("storeAllLoss").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(r.GetProperty("predictedPeakBytes").GetInt64(), r.GetProperty("measuredPeakBytes").GetInt64());
        Assert.True(r.GetProperty("measuredPeakBytes").GetInt64() <= r.GetProperty("budgetBytes").GetInt64());
        Assert.Equal(0.0, r.GetProperty("maxGradientDifference").GetDouble());
        Assert.True(r.GetProperty("stepSeconds").GetDouble() > 0);
        Assert.True(r.GetProperty("storeAllStepSeconds").GetDouble() > 0);
    }

    /// <summary>--threads sets the runtime's kernel threads; each element is computed by one thread in a fixed order, so
    /// one thread and two give the same losses bit for bit.</summary>
    [Fact]
    public void Threads_DoNotChangeTheLosses()
    {
        using var dir = new TempFolder();
        var path = WriteCnn(dir, depth: 3);
        double[] Losses(string threads)
        {
            var (code, stdout, stderr) = Run("train", path, "--budget", "60%", "--steps", "3", "--format", "json", "--threads", threads);
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(doc.RootElement.GetProperty("predictedPeakBytes").GetInt64(), doc.RootElement.GetProperty("measuredPeakBytes").GetInt64());
            return doc.RootElement.GetProperty("loss").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        }
        Assert.Equal(Losses("1"), Losses("2"));
        Assert.Equal(2, Run("train", path, "--budget", "60%", "--threads", "0").Code);
    }

    [Fact]
    public void TablePrintsLossPerStepAndTheComparison()
    {
        using var dir = new TempFolder();
        var path = WriteCnn(dir);
        var (code, stdout, stderr) = Run("train", path, "--budget", "1MiB", "--steps", "2", "--optimizer", "sgd");
        Assert.True(code == 0, stderr);
        Assert.Contains("measured peak", stdout);
        Assert.Contains("equal to the prediction", stdout);
        Assert.Equal(2, stdout.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s+[12]\s+\d+\.\d{6}\s")));
    }

    [Fact]
    public void AnInfeasibleBudgetExitsWithOne()
    {
        using var dir = new TempFolder();
        var path = WriteCnn(dir);
        var (code, _, stderr) = Run("train", path, "--budget", "100B", "--steps", "1");
        Assert.Equal(ExitCodes.Infeasible, code);
        Assert.Contains("100 bytes", stderr);
    }

    [Theory]
    [InlineData("--steps", "3")]                                 // no --budget
    [InlineData("--budget", "40%", "--optimizer", "lbfgs")]
    [InlineData("--budget", "40%", "--steps", "0")]
    [InlineData("--budget", "lots")]
    public void BadUsageExitsWithTwo(params string[] options)
    {
        using var dir = new TempFolder();
        var path = WriteCnn(dir);
        var (code, stdout, stderr) = Run(["train", path, .. options]);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("recompute train:", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void AMissingFileExitsWithTwo()
    {
        var (code, _, stderr) = Run("train", "/nonexistent/model.onnx", "--budget", "40%");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("/nonexistent/model.onnx", stderr);
    }
}
