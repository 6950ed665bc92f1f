using Recompute.Planner.Costs;
using Recompute.Planner.Graph;

namespace Recompute.Tests.Costs;

public sealed class MeasuredTimesTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "recompute-times-" + Guid.NewGuid().ToString("N"));

    public MeasuredTimesTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text)
    {
        string p = Path.Combine(_dir, "times.json");
        File.WriteAllText(p, text);
        return p;
    }

    [Fact]
    public void Load_ReadsUnitAndTimes()
    {
        var t = MeasuredTimes.Load(Write("""{ "unit": "us", "times": { "a": 1.25, "b": 0 } }"""));
        Assert.Equal("us", t.Unit);
        Assert.Equal(1.25, t.Times["a"]);
        Assert.Equal(0, t.Times["b"]);
        Assert.Equal("s", MeasuredTimes.Load(Write("""{ "times": {} }""")).Unit);
    }

    [Theory]
    [InlineData("""{ "unit": "s" }""", "\"times\"")]
    [InlineData("""{ "times": { "a": "fast" } }""", "\"a\"")]
    [InlineData("""{ "times": { "a": 1, "a": 2 } }""", "duplicate")]
    [InlineData("""{ "unit": 3, "times": {} }""", "\"unit\"")]
    [InlineData("""{ "times": { "a": 1 """, "invalid JSON")]
    [InlineData("""[1, 2]""", "JSON object")]
    public void Load_RejectsBadFiles(string text, string expected)
    {
        var e = Assert.Throws<GraphFormatException>(() => MeasuredTimes.Load(Write(text)));
        Assert.Contains("times.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Load_MissingFile()
    {
        var e = Assert.Throws<GraphFormatException>(() => MeasuredTimes.Load(Path.Combine(_dir, "none.json")));
        Assert.Contains("none.json", e.Message);
    }
}
