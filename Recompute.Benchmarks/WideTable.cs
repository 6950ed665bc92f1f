using System.Diagnostics;
using Google.Protobuf;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Benchmarks;

/// <summary>
/// <c>wide</c>: the fan-out graph of issue 14 (one input read by W Relu branches joined by one Concat, as ONNX):
/// what <c>recompute inspect</c> does (import, training DAG, lower-set count up to 100,000, store-all) and the
/// greedy solver at 60 % of the store-all peak with a 5 s time limit, for W = 1,000 and 5,000. Targets: inspect
/// under 5 s and 500 MB at W = 5,000; greedy done within 6 s.
/// </summary>
public static class WideTable
{
    public static void Table(QuickTableOptions options)
    {
        Console.WriteLine("| W | tasks | training edges | inspect (s) | inspect peak working set (MB) | greedy --time-limit 5 (s) | greedy result |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (int w in new[] { 1000, 5000 })
        {
            var path = Path.Combine(Path.GetTempPath(), $"recompute-wide-{w}-{Environment.ProcessId}.onnx");
            File.WriteAllBytes(path, FanOut(w).ToByteArray());
            try
            {
                var clock = Stopwatch.StartNew();
                var graph = GraphLoader.Load(path);
                var problem = new PlanningProblem(graph);
                long? sets = LowerSetFamily.CountAll(problem.Forward, 100_000);
                var storeAll = RecomputePlanner.StoreAll(problem);
                double inspect = clock.Elapsed.TotalSeconds;
                long peakMb = Process.GetCurrentProcess().PeakWorkingSet64 >> 20;
                clock.Restart();
                var plan = RecomputePlanner.Plan(problem, "greedy", new SolverOptions
                {
                    BudgetBytes = storeAll.Simulation.PeakBytes * 6 / 10,
                    TimeLimit = TimeSpan.FromSeconds(5),
                });
                double greedy = clock.Elapsed.TotalSeconds;
                string result = plan.Feasible ? $"plan, peak {plan.Simulation!.PeakBytes} B" : $"{plan.Solver.Status}{(sets is null ? "" : $", {sets} lower sets")}";
                Console.WriteLine($"| {w} | {problem.Training.Count} | {problem.Training.Tasks.Sum(t => t.Inputs.Length)} | {inspect:0.00} | {peakMb} | {greedy:0.00} | {result} |");
            }
            finally { File.Delete(path); }
        }
    }

    /// <summary>x[4,256] → W × Relu → Concat(axis 1) → ReduceSum: the loss.</summary>
    internal static ModelProto FanOut(int w)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "recompute-benchmarks", Graph = new GraphProto { Name = $"fan-out-{w}" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.Graph.Input.Add(Value("x", 4, 256));
        var concat = new NodeProto { OpType = "Concat", Name = "concat" };
        concat.Output.Add("c");
        concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        for (int i = 0; i < w; i++)
        {
            var relu = new NodeProto { OpType = "Relu", Name = $"relu{i}" };
            relu.Input.Add("x");
            relu.Output.Add($"r{i}");
            model.Graph.Node.Add(relu);
            concat.Input.Add($"r{i}");
        }
        model.Graph.Node.Add(concat);
        var loss = new NodeProto { OpType = "ReduceSum", Name = "loss" };
        loss.Input.Add("c");
        loss.Output.Add("loss");
        loss.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        model.Graph.Node.Add(loss);
        model.Graph.Output.Add(Value("loss"));
        return model;
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
