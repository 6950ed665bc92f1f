using System.Text.Json;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Cli;

/// <summary>
/// The JSON's <c>boundSource</c> and <c>boundCovers</c> keep their words now that the source is an enum
/// (<see cref="BoundSource"/>): scripts read these strings.
/// </summary>
public class BoundSourceJsonTests
{
    private static JsonElement Plan(string budget)
    {
        var (code, stdout, stderr) = InProcessCli.Run("plan", Path.Combine(Paths.Graphs, "mlp50.json"), "--budget", budget, "--format", "json");
        Assert.True(code == 0, stderr);
        return JsonDocument.Parse(stdout).RootElement;
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void PlanJson_NamesTheBoundsSource_InItsWords()
    {
        var storeAll = Plan("100%");
        Assert.Equal("no recomputation", storeAll.GetProperty("boundSource").GetString());
        Assert.Equal("every schedule", storeAll.GetProperty("boundCovers").GetString());
        // At 40 % the plan recomputes; the cut relaxation's bound for every schedule is the one attached.
        var tight = Plan("40%");
        Assert.True(tight.GetProperty("recomputeTime").GetDouble() > 0);
        Assert.Equal("cut relaxation", tight.GetProperty("boundSource").GetString());
        Assert.Equal("every schedule", tight.GetProperty("boundCovers").GetString());
    }

    [Fact]
    public void EverySource_HasDistinctWords()
    {
        var words = Enum.GetValues<BoundSource>().Select(s => s.ToText()).ToList();
        Assert.Equal(["no recomputation", "cut relaxation", "cp-sat", "relaxation", "one run of every task"], words);
    }
}
