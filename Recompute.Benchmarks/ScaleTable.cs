using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Benchmarks;

/// <summary>
/// Scale (issue 7): a 100,000-node chain (native JSON) and a 20,000-node random layered DAG (Moccasin node-link
/// JSON) go through what <c>recompute plan FILE --budget 50% --solver dp-approx -o schedule.json</c> does, phase by
/// phase, plus Chen's solver and the schedule read back. <c>dotnet run -c Release --project Recompute.Benchmarks --
/// scale</c> runs each graph in a child process (<c>scale-chain</c>, <c>scale-dag</c>) so that each reports its own
/// peak working set. Phases show wall seconds and, in brackets, the process's CPU seconds (all threads, GC
/// included), which a machine shared with other work inflates less.
/// </summary>
public static class ScaleTable
{
    private const int ChainNodes = 100_000;
    private const int DagNodes = 20_000;

    public static void Table(QuickTableOptions options)
    {
        var columns = new List<(string Graph, List<(string Phase, string Value)> Rows)>();
        foreach (var table in new[] { "scale-chain", "scale-dag" })
        {
            var rows = RunChild(table);
            columns.Add((table, rows));
        }
        var phases = columns.SelectMany(c => c.Rows.Select(r => r.Phase)).Distinct().ToList();
        Console.WriteLine("| phase | " + string.Join(" | ", columns.Select(c => c.Rows.FirstOrDefault(r => r.Phase == "graph").Value
            ?? c.Graph)) + " |");
        Console.WriteLine("|---|" + string.Concat(columns.Select(_ => "---:|")));
        foreach (var phase in phases.Where(p => p != "graph"))
            Console.WriteLine($"| {phase} | " + string.Join(" | ", columns.Select(c => c.Rows.FirstOrDefault(r => r.Phase == phase).Value
                ?? "")) + " |");
    }

    /// <summary>The 100,000-node chain alone.</summary>
    public static void Chain(QuickTableOptions options) =>
        Print(Measure($"chain of {ChainNodes:N0}", path => ScaleGraphs.WriteChain(path, ChainNodes, 1 << 20), ".json"));

    /// <summary>The 20,000-node random layered DAG alone.</summary>
    public static void Dag(QuickTableOptions options) =>
        Print(Measure($"random layered DAG of {DagNodes:N0}", path => ScaleGraphs.WriteRandomLayered(path, DagNodes, seed: 7), ".json"));

    private static void Print(List<(string Phase, string Value)> rows)
    {
        Console.WriteLine("| phase | value |");
        Console.WriteLine("|---|---:|");
        foreach (var (phase, value) in rows) Console.WriteLine($"| {phase} | {value} |");
    }

    private static List<(string Phase, string Value)> RunChild(string table)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the running program");
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        // Under `dotnet Recompute.Benchmarks.dll` the process is the host; the assembly goes first.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(ScaleTable).Assembly.Location);
        start.ArgumentList.Add(table);
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {self}");
        var rows = new List<(string, string)>();
        string? line;
        while ((line = child.StandardOutput.ReadLine()) is not null)
        {
            var cells = line.Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length != 4 || cells[1] is "phase" or "---") continue;
            rows.Add((cells[1], cells[2]));
        }
        child.WaitForExit();
        if (child.ExitCode != 0) rows.Add(("exit code", child.ExitCode.ToString(CultureInfo.InvariantCulture)));
        return rows;
    }

    private static List<(string Phase, string Value)> Measure(string name, Action<string> writeGraph, string extension)
    {
        var rows = new List<(string, string)> { ("graph", name) };
        var dir = Directory.CreateTempSubdirectory("recompute-scale-");
        try
        {
            string graphFile = Path.Combine(dir.FullName, "graph" + extension);
            string scheduleFile = Path.Combine(dir.FullName, "schedule.json");
            rows.Add(("write the graph file (s, not in the total)", S(Time(() => writeGraph(graphFile)))));
            rows.Add(("graph file (MB)", (new FileInfo(graphFile).Length / 1e6).ToString("0.0", CultureInfo.InvariantCulture)));
            GC.Collect();
            double total = 0, totalCpu = 0;
            void Phase(string phase, Action action)
            {
                var (wall, cpu) = WallAndCpu(action);
                total += wall;
                totalCpu += cpu;
                rows.Add((phase + " (s)", $"{S(wall)} ({S(cpu)})"));
            }

            Recompute.Planner.Graph.ComputationGraph graph = null!;
            Phase("import", () => graph = GraphLoader.Load(graphFile));
            PlanningProblem problem = null!;
            Phase("training DAG and forward DAG", () => { problem = new PlanningProblem(graph); _ = problem.Forward; });
            long storeAll = 0;
            Phase("store-all schedule and simulation (the 100 % of --budget 50%)", () => storeAll = RecomputePlanner.StoreAllPeak(problem));
            long budget = ByteSize.Parse("50%", storeAll);
            var options = new SolverOptions { BudgetBytes = budget };
            PlanResult plan = null!;
            Phase("dp-approx plan at 50 % (every DP run, lowering and simulation)", () => plan = RecomputePlanner.Plan(problem,
                "dp-approx", options));
            if (plan.Feasible)
                Phase("write the schedule (-o)", () => ScheduleFormat.Write(plan.Schedule!, scheduleFile));
            rows.Add(("total, import to written schedule (s)", $"{S(total)} ({S(totalCpu)})"));
            rows.Add(("planned forward tensors", problem.Forward.Count.ToString("N0", CultureInfo.InvariantCulture)));
            rows.Add(("schedule steps", plan.Schedule?.Steps.Length.ToString("N0", CultureInfo.InvariantCulture) ?? "none"));
            rows.Add(("simulated peak / budget", plan.Simulation is { } sim ? $"{(double)sim.PeakBytes / budget:P1}" : "no plan"));
            rows.Add(("overhead (recompute / forward time)", plan.Simulation is { } s2 ? $"{s2.Overhead:P1}" : "no plan"));

            // The parts of the plan again, one at a time (not in the total).
            if (plan.Feasible)
            {
                var solverOptions = options with { BudgetBytes = plan.SolverBudgetBytes };
                SolverResult once = null!;
                Phase("  one dp-approx solve at the plan's model budget", () => once = new DpApproxSolver().Solve(problem, solverOptions));
                Schedule lowered = null!;
                Phase("  one lowering", () => lowered = Lowering.Lower(problem.Training, problem.Forward, once.Strategy!, "dp-approx", budget));
                Phase("  one simulation", () => Simulator.Simulate(lowered, enforceBudget: false));
                Phase("read the schedule back and simulate it", () => Simulator.Simulate(ScheduleFormat.Read(scheduleFile, problem.Training)));
            }
            PlanResult chen = null!;
            Phase("chen plan at 50 %", () => chen = RecomputePlanner.Plan(problem, "chen", options));
            rows.Add(("chen simulated peak / budget", chen.Simulation is { } cs ? $"{(double)cs.PeakBytes / budget:P1}" : "no plan"));
            using var self = Process.GetCurrentProcess();
            rows.Add(("peak working set (MB)", (self.PeakWorkingSet64 / 1e6).ToString("0", CultureInfo.InvariantCulture)));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
        return rows;
    }

    private static (double Wall, double Cpu) WallAndCpu(Action action)
    {
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        action();
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        self.Refresh();
        return (wall, (self.TotalProcessorTime - cpu).TotalSeconds);
    }

    private static double Time(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private static string S(double s) => s.ToString("0.00", CultureInfo.InvariantCulture);
}
