using System.Diagnostics;
using System.Globalization;
using Recompute.Planner.Files;
using Recompute.Planner.Import;
using Recompute.Planner.Planning;
using Recompute.Planner.Scheduling;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;

namespace Recompute.Benchmarks;

/// <summary>
/// Scale (issues 7 and 32): a 100,000- and a 1,000,000-tensor chain (native JSON, Conv and Relu alternating, 1 MiB
/// each) and a 20,000-node random layered DAG (Moccasin node-link JSON) go through what <c>recompute plan FILE
/// --budget 50% -o schedule.json --time-limit L</c> does (auto, L = 60 s, 240 s and the default 5 s), phase by phase,
/// then the schedule is read back as <c>recompute simulate</c> reads it. The chains' overhead is set beside the
/// revolve optimum (<see cref="RevolveOverhead"/>). <c>scale</c> runs each graph in a child process
/// (<c>scale-chain</c>, <c>scale-chain-1m</c>, <c>scale-dag</c>) so that each reports its own peak working set. Phases
/// show wall seconds and, in brackets, the process's CPU seconds (all threads, GC included), which a machine shared
/// with other work inflates less.
/// </summary>
public static class ScaleTable
{
    private const int ChainNodes = 100_000;
    private const int MillionNodes = 1_000_000;
    private const int DagNodes = 20_000;
    private const long TensorBytes = 1 << 20;

    public static void Table(QuickTableOptions options)
    {
        var columns = new List<(string Graph, List<(string Phase, string Value)> Rows)>();
        foreach (var table in new[] { "scale-chain", "scale-chain-1m", "scale-dag" })
            columns.Add((table, RunChild(table)));
        var phases = columns.SelectMany(c => c.Rows.Select(r => r.Phase)).Distinct().ToList();
        Console.WriteLine("| phase | " + string.Join(" | ", columns.Select(c => c.Rows.FirstOrDefault(r => r.Phase == "graph").Value
            ?? c.Graph)) + " |");
        Console.WriteLine("|---|" + string.Concat(columns.Select(_ => "---:|")));
        foreach (var phase in phases.Where(p => p != "graph"))
            Console.WriteLine($"| {phase} | " + string.Join(" | ", columns.Select(c => c.Rows.FirstOrDefault(r => r.Phase == phase).Value
                ?? "")) + " |");
    }

    /// <summary>The 100,000-tensor chain alone, at --time-limit 60.</summary>
    public static void Chain(QuickTableOptions options) =>
        Print(Measure($"chain of {ChainNodes:N0}", path => ScaleGraphs.WriteChain(path, ChainNodes, TensorBytes), ".json", TimeSpan.FromSeconds(60), ChainNodes));

    /// <summary>The 1,000,000-tensor chain alone, at --time-limit 240.</summary>
    public static void MillionChain(QuickTableOptions options) =>
        Print(Measure($"chain of {MillionNodes:N0}", path => ScaleGraphs.WriteChain(path, MillionNodes, TensorBytes), ".json", TimeSpan.FromSeconds(240), MillionNodes));

    /// <summary>The 20,000-node random layered DAG alone, at auto's default limit.</summary>
    public static void Dag(QuickTableOptions options) =>
        Print(Measure($"random layered DAG of {DagNodes:N0}", path => ScaleGraphs.WriteRandomLayered(path, DagNodes, seed: 7), ".json", AutoPortfolio.DefaultTimeLimit, null));

    /// <summary>
    /// Revolve's least recomputation on the benchmark's chain, as a share of the forward time: l = n/2 steps (a Conv and
    /// its Relu, time 11) and c = ⌊budget / 1 MiB⌋ − 2 snapshots (two buffers go to the running backward: a gradient and
    /// the gradient it reads). Griewank's binomial count of forward steps, T(l, c) = r·l −
    /// β(c + 1, r − 1) with β(c, r) = C(c + r, c) and r the least with β(c, r) ≥ l, less the first sweep's l − 1.
    /// </summary>
    internal static double RevolveOverhead(int nodes, long budgetBytes)
    {
        long l = nodes / 2;
        long c = Math.Max(1, budgetBytes / TensorBytes - 2);
        int r = 1;
        while (Beta(c, r) < l) r++;
        double steps = r * (double)l - Beta(c + 1, r - 1);
        return (steps - (l - 1)) / l;
    }

    /// <summary>C(c + r, c), saturating (only compared with l or subtracted from r·l).</summary>
    private static double Beta(long c, int r)
    {
        double b = 1;
        for (int i = 1; i <= r; i++) b = b * (c + i) / i;
        return b;
    }

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

    private static List<(string Phase, string Value)> Measure(string name, Action<string> writeGraph, string extension, TimeSpan limit, int? chainNodes)
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
            var command = Stopwatch.StartNew();
            var threadAtStart = CommandStop.ThreadTime();
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
            // As plan does: auto's wall-clock stop at the limit and its grace, less what reading took and the answer's reserve.
            CommandStop.ProcessIsCommand = true; // a child process that runs this one graph, as `recompute plan` does
            using var stop = CommandStop.ForAuto(limit, command.Elapsed, threadAtStart, problem.Training.Count);
            var options = new SolverOptions { BudgetBytes = budget, TimeLimit = limit, Stop = stop.Token };
            PlanResult plan = null!;
            Phase($"auto plan at 50 % (--time-limit {limit.TotalSeconds:0})", () => plan = RecomputePlanner.Plan(problem, SolverName.Auto, options));
            if (plan.Feasible)
                Phase("write the schedule (-o)", () => ScheduleFormat.Write(plan.Schedule!, scheduleFile));
            rows.Add(("total, import to written schedule (s)", $"{S(total)} ({S(totalCpu)})"));
            rows.Add(("within the limit + 1 s: wall, CPU", $"{(total <= limit.TotalSeconds + 1 ? "yes" : "no")}, {(totalCpu <= limit.TotalSeconds + 1 ? "yes" : "no")}"));
            rows.Add(("planned forward tensors", problem.Forward.Count.ToString("N0", CultureInfo.InvariantCulture)));
            rows.Add(("winner", plan.Solver.WinningSolver ?? "none"));
            rows.Add(("note", plan.Solver.Note?.Replace('|', '/') ?? ""));
            rows.Add(("schedule steps", plan.Schedule?.Steps.Length.ToString("N0", CultureInfo.InvariantCulture) ?? "none"));
            rows.Add(("simulated peak / budget", plan.Simulation is { } sim ? $"{(double)sim.PeakBytes / budget:P1}" : "no plan"));
            rows.Add(("overhead (recompute / forward time)", plan.Simulation is { } s2 ? $"{s2.Overhead:P3}" : "no plan"));
            if (chainNodes is int n)
            {
                double optimum = RevolveOverhead(n, budget);
                rows.Add(("revolve optimum", $"{optimum:P3}"));
                rows.Add(("overhead / optimum", plan.Simulation is { } s3 ? (s3.Overhead / optimum).ToString("0.0000", CultureInfo.InvariantCulture) : "no plan"));
            }
            using (var planned = Process.GetCurrentProcess())
                rows.Add(("peak working set, import to written schedule (MB)", (planned.PeakWorkingSet64 / 1e6).ToString("0", CultureInfo.InvariantCulture)));
            if (plan.Feasible)
            {
                rows.Add(("schedule file (MB)", (new FileInfo(scheduleFile).Length / 1e6).ToString("0.0", CultureInfo.InvariantCulture)));
                rows.Add(("schedule limit for this graph (MB)", (InputKind.ScheduleFor(problem.Training).MaxBytes / 1e6).ToString("0", CultureInfo.InvariantCulture)));
                // simulate is a process of its own: the plan's schedule is not held beside the one read back.
                var (peak, recompute) = (plan.Simulation!.PeakBytes, plan.Simulation.RecomputeTime);
                plan = null!;
                GC.Collect();
                SimulationResult back = null!;
                Phase("read the schedule back and simulate it (simulate)", () => back = Simulator.Simulate(ScheduleFormat.Read(scheduleFile, problem.Training)));
                rows.Add(("read back: same peak and recomputation", back.PeakBytes == peak && back.RecomputeTime == recompute ? "yes" : "no"));
            }
            using var self = Process.GetCurrentProcess();
            rows.Add(("peak working set, with the read back (MB)", (self.PeakWorkingSet64 / 1e6).ToString("0", CultureInfo.InvariantCulture)));
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
