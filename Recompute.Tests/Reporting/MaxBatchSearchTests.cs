using Recompute.Planner.Planning;
using Recompute.Planner.Reporting;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Reporting;

public class MaxBatchSearchTests
{
    [Fact]
    public void StoreAll_HandComputedChain()
    {
        // Chain of 8 tensors of 10·b bytes: store-all peak 100·b, input 10·b, no parameters. With 1000 bytes of
        // device memory, b = 9 needs 900 + 90 = 990 and fits; b = 10 needs 1000 + 100 = 1100 and does not.
        var r = MaxBatchSearch.Find(ReportGraphs.Chain, 1000, new MaxBatchOptions { Optimizer = OptimizerKind.Sgd });
        Assert.Equal(9, r.StoreAll.Batch);
        Assert.True(r.StoreAll.AtBatch!.Fits);
        Assert.Equal(990, r.StoreAll.AtBatch.TotalBytes);
        Assert.False(r.StoreAll.AtNext!.Fits);
        Assert.Equal(10, r.StoreAll.AtNext.Batch);
        Assert.Equal(1100, r.StoreAll.AtNext.TotalBytes);
        // Recomputation fits a larger batch in the same memory.
        Assert.True(r.Planner.Batch > r.StoreAll.Batch);
    }

    [Theory]
    [InlineData(OptimizerKind.Adam, null)]
    [InlineData(OptimizerKind.Sgd, null)]
    [InlineData(OptimizerKind.Adam, 0.3)]
    public void Answers_FitAtTheBatch_AndNotAtTheNext(OptimizerKind optimizer, double? maxOverhead)
    {
        long memory = 96L << 20;
        var options = new MaxBatchOptions { Optimizer = optimizer, MaxOverhead = maxOverhead };
        var r = MaxBatchSearch.Find(b => ReportGraphs.ResidualNet(b, layers: 2), memory, options);
        Assert.True(r.StoreAll.Batch >= 1);
        Assert.True(r.Planner.Batch > r.StoreAll.Batch, $"planner {r.Planner.Batch} vs store-all {r.StoreAll.Batch}");

        // Checked independently of the search: plan again at b and b + 1.
        foreach (var (answer, planner) in new[] { (r.StoreAll, false), (r.Planner, true) })
        {
            Assert.True(Fits(answer.Batch, planner), $"{answer.Method} at {answer.Batch}");
            Assert.False(Fits(answer.Batch + 1, planner), $"{answer.Method} at {answer.Batch + 1}");
            Assert.True(answer.AtBatch!.TotalBytes <= memory);
            if (maxOverhead is { } m && planner) Assert.True(answer.AtBatch.Overhead <= m);
        }

        bool Fits(int batch, bool planner)
        {
            var g = ReportGraphs.ResidualNet(batch, layers: 2);
            long paramBytes = g.ParameterBytes;
            long fixedBytes = paramBytes * (optimizer == OptimizerKind.Adam ? 4 : 3) + g.InputBytes + g.ConstantBytes;
            long budget = memory - fixedBytes;
            var problem = new PlanningProblem(g);
            if (!planner) return RecomputePlanner.StoreAllPeak(problem) <= budget;
            var plan = RecomputePlanner.Plan(problem, options.Solver, options.SolverOptions with { BudgetBytes = budget });
            return plan.Feasible && plan.Simulation!.PeakBytes <= budget && (maxOverhead is null || plan.Simulation.StepOverhead <= maxOverhead);
        }
    }

    /// <summary>
    /// "b + 1 does not fit: needs X": X is the smallest budget the method plans at there, not the peak of the
    /// closest plan the portfolio found: the planner plans at X, X is more than the budget it had, and the table says X.
    /// </summary>
    [Fact]
    public void TheNextBatch_SaysWhatItWouldNeed_TheSmallestBudgetThatPlansThere()
    {
        long memory = 96L << 20;
        var options = new MaxBatchOptions();
        var r = MaxBatchSearch.Find(b => ReportGraphs.ResidualNet(b, layers: 2), memory, options);
        var next = r.Planner.AtNext!;
        long need = next.SmallestFeasibleBudgetBytes!.Value;
        Assert.True(need > next.ActivationBudgetBytes, $"{need} B would fit the {next.ActivationBudgetBytes} B budget");
        var problem = new PlanningProblem(ReportGraphs.ResidualNet(next.Batch, layers: 2));
        Assert.True(RecomputePlanner.Plan(problem, options.Solver, options.SolverOptions with { BudgetBytes = need }).Feasible);
        // Store-all needs its own peak, exactly.
        Assert.Equal(r.StoreAll.AtNext!.PeakBytes, r.StoreAll.AtNext.SmallestFeasibleBudgetBytes);
        Assert.Contains($"{next.Batch} does not fit: needs {Recompute.Planner.Units.ByteSize.Format(need)} > ", MaxBatchFormat.Table(r, "residual"));
        using var doc = System.Text.Json.JsonDocument.Parse(MaxBatchFormat.Json(r, "residual"));
        Assert.Equal(need, doc.RootElement.GetProperty("planner").GetProperty("atNextBatch").GetProperty("smallestFeasibleBudgetBytes").GetInt64());
    }

    [Fact]
    public void NothingFits_WhenParametersAloneExceedTheMemory()
    {
        var r = MaxBatchSearch.Find(b => ReportGraphs.ResidualNet(b, layers: 1), 100_000, new MaxBatchOptions());
        Assert.Equal(0, r.StoreAll.Batch);
        Assert.Equal(0, r.Planner.Batch);
        Assert.Null(r.Planner.AtBatch);
        Assert.Contains("parameters", r.Planner.AtNext!.Reason);
        var text = MaxBatchFormat.Table(r, "tiny");
        Assert.Contains("1 does not fit", text);
        Assert.DoesNotContain(text, c => char.IsControl(c) && c != '\n');
    }

    [Fact]
    public void Json_CarriesBothAnswersWithTheirEvidence()
    {
        var r = MaxBatchSearch.Find(ReportGraphs.Chain, 1000, new MaxBatchOptions { Optimizer = OptimizerKind.Sgd });
        using var doc = System.Text.Json.JsonDocument.Parse(MaxBatchFormat.Json(r, "chain"));
        var storeAll = doc.RootElement.GetProperty("storeAll");
        Assert.Equal(9, storeAll.GetProperty("batch").GetInt32());
        Assert.True(storeAll.GetProperty("atBatch").GetProperty("fits").GetBoolean());
        Assert.False(storeAll.GetProperty("atNextBatch").GetProperty("fits").GetBoolean());
        Assert.Equal("sgd", doc.RootElement.GetProperty("optimizer").GetString());
        Assert.Equal(r.Planner.Batch, doc.RootElement.GetProperty("planner").GetProperty("batch").GetInt32());
    }
}
