using Recompute.Planner.Devices;
using Recompute.Planner.Graph;

namespace Recompute.Tests.Devices;

public class DeviceProfileFileTests
{
    [Fact]
    public void EveryShippedProfile_RoundTripsThroughTheFileFormat()
    {
        foreach (var p in DeviceProfiles.Gpus.Append(Recompute.Tests.Support.TestEnvironment.FixedCpu()))
        {
            string text = DeviceProfileFile.Format(p);
            var back = DeviceProfileFile.Parse(System.Text.Encoding.UTF8.GetBytes(text), "p.json");
            Assert.Equal(text, DeviceProfileFile.Format(back));
            foreach (var cls in Enum.GetValues<CostClass>().Where(c => c != CostClass.Free))
                Assert.Equal(p.RatesFor(cls, "float32", false), back.RatesFor(cls, "float32", false));
        }
    }

    /// <summary>The CPU's blocking copy link (its runtime copies on the step's own thread) survives the profile cache.</summary>
    [Fact]
    public void ABlockingHostLink_RoundTripsThroughTheFileFormat()
    {
        var cpu = Recompute.Tests.Support.TestEnvironment.FixedCpu() with { HostLink = new HostLink(2.5e10, 0) { Blocking = true } };
        string text = DeviceProfileFile.Format(cpu);
        Assert.Contains("\"blocking\": true", text);
        var back = DeviceProfileFile.Parse(System.Text.Encoding.UTF8.GetBytes(text), "p.json");
        Assert.Equal(cpu.HostLink, back.HostLink);
        Assert.True(back.HostLink!.Blocking);
    }

    [Fact]
    public void TheShippedGpus_HaveTheirDatasheetFigures()
    {
        var h100 = DeviceProfiles.Find("h100-sxm")!;
        Assert.Equal(3350e9, h100.Bandwidth);
        Assert.Equal(989.5e12, h100.MatrixFlops["bf16"]);
        Assert.Equal(80L << 30, h100.MemoryBytes);
        Assert.Equal(["a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "l4", "rtx-4090"], DeviceProfiles.Gpus.Select(p => p.Name));
    }

    [Theory]
    [InlineData("{\"name\": \"x\", \"bandwidth\": 1e12, \"vectorFlops\": 1e12, \"speed\": 3}", "\"speed\"", "unknown field")]
    [InlineData("{\"bandwidth\": 1e12, \"vectorFlops\": 1e12}", "\"name\"", "missing")]
    [InlineData("{\"name\": \"x\", \"bandwidth\": -1, \"vectorFlops\": 1e12}", "\"bandwidth\"", "must be positive")]
    [InlineData("{\"name\": \"x\", \"bandwidth\": 1e12, \"vectorFlops\": 1e12, \"bandwidthFraction\": 1.5}", "\"bandwidthFraction\"",
        "share in (0, 1]")]
    [InlineData("{\"name\": \"x\", \"vectorFlops\": 1e12}", "\"bandwidth\"", "missing")]
    [InlineData("{\"name\": \"x\", \"bandwidth\": 1e12, \"vectorFlops\": 1e12, \"classes\": {\"gemm\": {}}}", "\"classes\".\"gemm\"",
        "unknown kind of kernel")]
    [InlineData("{\"name\": \"x\", \"bandwidth\": \"fast\", \"vectorFlops\": 1e12}", "\"bandwidth\"", "must be a number")]
    [InlineData("{\"name\": \"x\", \"bandwidth\": 1e12, \"vectorFlops\": 1e12, \"hostLink\": {\"bytesPerSecond\": 1e9, \"blocking\": 1}}",
        "\"hostLink\".\"blocking\"", "must be true or false")]
    [InlineData("[1, 2]", null, "expected a JSON object")]
    [InlineData("{\"name\": \"x\",", null, "invalid JSON")]
    public void ABadProfile_IsRefused_NamingTheFieldAndTheProblem(string json, string? where, string problem)
    {
        var e = Assert.Throws<GraphFormatException>(() => DeviceProfileFile.Parse(System.Text.Encoding.UTF8.GetBytes(json), "bad.json"));
        Assert.Contains("bad.json", e.Message);
        if (where is not null) Assert.Contains(where, e.Message);
        Assert.Contains(problem, e.Message);
    }
}
