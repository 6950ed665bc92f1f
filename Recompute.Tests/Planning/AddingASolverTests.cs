using System.Text.Json;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Tests.Support;

namespace Recompute.Tests.Planning;

/// <summary>
/// The README's "adding a solver", done: a solver is one class (<see cref="RunOnceSolver"/>), one registry entry and
/// one test. The planner proves its schedule by simulation, the smallest-budget service and the command line find it
/// by name; nothing else is changed.
/// </summary>
[Collection(RunsAlone.Name)] // the registry is shared: no test running beside this one sees the extra solver
public class AddingASolverTests
{
    /// <summary>Every task once, in the training DAG's order, each buffer freed after its last reader: store-all by liveness.</summary>
    private sealed class RunOnceSolver : ISolver
    {
        public const string Id = "run-once";
        public string Name => Id;
        public bool IsCanonical => false;

        public SolverResult Solve(PlanningProblem problem, SolverOptions options, CancellationToken cancellation = default) =>
            new(Name, PlanStatus.Feasible, Schedule: Liveness.RunOnce(problem.Training, Name, options.BudgetBytes));
    }

    [Fact]
    public void ASolverRegisteredInOneEntry_PlansProvesAndAnswersByName()
    {
        SolverRegistry.Register(new SolverDescriptor(RunOnceSolver.Id, "every task once, in order: store-all by liveness.",
            SolverCapabilities.None, () => new RunOnceSolver()));
        try
        {
            string path = Path.Combine(Paths.Graphs, "mlp50.json");
            var problem = new PlanningProblem(GraphLoader.Load(path));
            // With no limit it plans, recomputing nothing; its simulated peak p is then the least budget it plans at:
            // at p it fits, at p - 1 the simulator says it does not.
            var free = RecomputePlanner.Plan(problem, RunOnceSolver.Id, new SolverOptions());
            Assert.True(free.Feasible, free.Solver.Reason);
            Assert.Equal(0, free.Simulation!.RecomputeTime);
            long p = free.Simulation.PeakBytes;
            Assert.True(RecomputePlanner.Plan(problem, RunOnceSolver.Id, new SolverOptions { BudgetBytes = p }).Feasible);
            var tight = RecomputePlanner.Plan(problem, RunOnceSolver.Id, new SolverOptions { BudgetBytes = p - 1 });
            Assert.False(tight.Feasible);
            Assert.Equal(PlanStatus.Infeasible, tight.Solver.Status);
            Assert.Equal(p, SmallestBudget.Bytes(problem, RunOnceSolver.Id, new SolverOptions()));

            // The command line takes it by name, and its infeasible answer names the smallest budget.
            var (code, output, err) = InProcessCli.Run("plan", path, "--solver", RunOnceSolver.Id, "--budget", $"{p}", "--format", "json");
            Assert.True(code == 0, err);
            Assert.Equal(RunOnceSolver.Id, JsonDocument.Parse(output).RootElement.GetProperty("solver").GetString());
            (code, output, err) = InProcessCli.Run("plan", path, "--solver", RunOnceSolver.Id, "--budget", $"{p - 1}", "--format", "json");
            Assert.Equal(1, code);
            Assert.Equal(p, JsonDocument.Parse(output).RootElement.GetProperty("smallestFeasibleBudgetBytes").GetInt64());
        }
        finally
        {
            SolverRegistry.Unregister(RunOnceSolver.Id);
        }
    }
}
