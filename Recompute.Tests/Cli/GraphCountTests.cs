using System.Text.Json;
using System.Text.RegularExpressions;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>Every command counts the same graph the same way (operations, planned tensors, ops).</summary>
public class GraphCountTests
{
    [Fact]
    public void InspectReportTrainEvalAndCalibrate_CountTheSameGraphAlike()
    {
        string graph = Path.Combine(Paths.Graphs, "gpt2-2l-t128.onnx");
        var (code, inspect, err) = InProcessCli.Run("inspect", graph, "--format", "json", "--device", "flop");
        Assert.True(code == 0, err);
        var i = JsonDocument.Parse(inspect).RootElement;
        long operations = i.GetProperty("nodes").GetInt64(), planned = i.GetProperty("plannedTensors").GetInt64();
        string words = $"({operations} operations, {planned} planned tensors)";

        var dir = Directory.CreateTempSubdirectory("recompute-counts-");
        try
        {
            var (rc, _, rerr) = InProcessCli.Run("report", graph, "-o", Path.Combine(dir.FullName, "r"), "--solvers", "dp-approx",
                "--points", "3", "--device", "flop");
            Assert.True(rc == 0, rerr);
            var r = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.FullName, "r", "report.json"))).RootElement.GetProperty("graph");
            Assert.Equal(operations, r.GetProperty("nodes").GetInt64());
            Assert.Equal(planned, r.GetProperty("plannedTensors").GetInt64());
            static Dictionary<string, long> Ops(JsonElement e) => e.GetProperty("ops").EnumerateObject().ToDictionary(p => p.Name,
                p => p.Value.GetInt64());
            Assert.Equal(Ops(i), Ops(r));

            foreach (string[] args in new[]
            {
                new[] { "train", graph, "--budget", "100%", "--steps", "1" },
                ["eval", graph],
                ["calibrate", graph, "-o", Path.Combine(dir.FullName, "t.json"), "--repeat", "1", "--warmup", "0"],
            })
            {
                var (c, output, e) = InProcessCli.Run(args);
                Assert.True(c == 0, e);
                Assert.Matches(new Regex(@"(?m)^graph +\S+ " + Regex.Escape(words)), output);
            }
        }
        finally { dir.Delete(recursive: true); }
    }
}
