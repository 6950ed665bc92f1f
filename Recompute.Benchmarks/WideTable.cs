using System.Diagnostics;
using Google.Protobuf;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Benchmarks;

/// <summary>
/// <c>wide</c>: the fan-out graph of issue 14 (one input read by W Relu branches joined by one Concat) as ONNX, as
/// native JSON (no <c>backwardNeeds</c>: the Concat's backward reads every operand, W² training edges) and as a
/// Checkmate training graph, for W = 1,000 and 5,000. Each command runs end to end as its own process (the Release
/// build of <c>recompute</c>, under <c>/usr/bin/time</c> for the peak resident set when it is there): <c>inspect</c>,
/// then <c>plan --budget 60% --solver greedy|auto --time-limit 5</c> (below the largest step, the Concat's gradient
/// with all its operands, at about two thirds of store-all: no plan exists) and <c>plan --budget 75% --time-limit 5</c>
/// (auto plans), each with its processor seconds beside the wall clock. W = 20,000 (4·10⁸ training edges) is run as
/// native JSON only. Targets: inspect under 5 s and 500 MB; every plan done within the limit plus 2 s.
/// </summary>
public static class WideTable
{
    public static void Table(QuickTableOptions options)
    {
        var cli = CliProcess.Binary();
        if (cli is null)
        {
            Console.Error.WriteLine("error: build the command line first: dotnet build -c Release Recompute.Cli");
            return;
        }
        Console.WriteLine("| W | format | training edges | inspect (s) | inspect peak RSS (MB) | greedy 60 % (s) | auto 60 % (s) | auto 75 % (s, CPU s) | auto 75 % peak RSS (MB) | auto 75 % status |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        var dir = Directory.CreateTempSubdirectory("recompute-wide-");
        try
        {
            foreach (int w in new[] { 1000, 5000, 20000 })
                foreach (var (format, file, bytes) in new[]
                         {
                             ("ONNX", $"fan-out-{w}.onnx", FanOut(w).ToByteArray()),
                             ("native JSON", $"fan-out-{w}.json", System.Text.Encoding.UTF8.GetBytes(NativeFanOut(w))),
                             ("Checkmate", $"fan-out-{w}.cm.json", System.Text.Encoding.UTF8.GetBytes(CheckmateFanOut(w))),
                         })
                {
                    if (w > 5000 && format != "native JSON") continue;
                    var path = Path.Combine(dir.FullName, file);
                    File.WriteAllBytes(path, bytes);
                    var problem = new PlanningProblem(GraphLoader.Load(path));
                    long edges = problem.Training.Tasks.Sum(t => (long)t.Inputs.Length);
                    var (inspect, rss, _, _) = CliProcess.Run(cli, ["inspect", path]);
                    var (greedy, _, _, _) = CliProcess.Run(cli, ["plan", path, "--budget", "60%", "--solver", SolverName.Greedy, "--time-limit", "5",
                        "--format", "json"]);
                    var (auto, _, _, _) = CliProcess.Run(cli, ["plan", path, "--budget", "60%", "--solver", SolverName.Auto, "--time-limit", "5", "--format", "json"]);
                    var (fits, fitsRss, fitsCpu, status) = CliProcess.Run(cli, ["plan", path, "--budget", "75%", "--solver", SolverName.Auto, "--time-limit", "5", "--format", "json"]);
                    static string Mb(long? mb) => mb is { } m ? m.ToString(System.Globalization.CultureInfo.InvariantCulture) : "-";
                    Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"| {w} | {format} | {edges} | {inspect:0.00} | {Mb(rss)} | {greedy:0.00} | {auto:0.00} | {fits:0.00} ({fitsCpu:0.00}) | {Mb(fitsRss)} | {status} |"));
                }
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>The same fan-out as a native graph without <c>backwardNeeds</c> (the Concat's backward reads every operand).</summary>
    internal static string NativeFanOut(int w)
    {
        var sb = new System.Text.StringBuilder("{\"format\": \"recompute-graph\", \"version\": 1, \"name\": \"fan-out\", \"nodes\": [");
        sb.Append("{\"name\": \"x\", \"op\": \"Input\", \"kind\": \"input\", \"bytes\": 4096}");
        for (int i = 0; i < w; i++) sb.Append(System.Globalization.CultureInfo.InvariantCulture,
            $", {{\"name\": \"r{i}\", \"op\": \"Relu\", \"kind\": \"activation\", \"inputs\": [\"x\"], \"bytes\": 4096, \"time\": 1}}");
        sb.Append(", {\"name\": \"c\", \"op\": \"Concat\", \"kind\": \"activation\", \"inputs\": [");
        sb.AppendJoin(", ", Enumerable.Range(0, w).Select(i => $"\"r{i}\""));
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"], \"bytes\": {4096L * w}, \"time\": {w}}}");
        sb.Append(System.Globalization.CultureInfo.InvariantCulture,
            $", {{\"name\": \"loss\", \"op\": \"ReduceSum\", \"kind\": \"loss\", \"inputs\": [\"c\"], \"bytes\": 4, \"time\": {w}}}]}}");
        return sb.ToString();
    }

    /// <summary>The fan-out as a Checkmate training graph: forward nodes, then Loss_backward, c_backward and one backward per branch.</summary>
    internal static string CheckmateFanOut(int w)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var nodes = new List<string>();
        var links = new List<string>();
        int Add(string name, long ram, long cpu, bool backward)
        {
            nodes.Add(string.Create(inv,
                $"{{\"id\": {nodes.Count}, \"name\": \"{name}\", \"backward\": {(backward ? "true" : "false")}, \"cost_cpu\": {cpu}, \"cost_ram\": {ram}}}"));
            return nodes.Count - 1;
        }
        void Link(int a, int b) => links.Add(string.Create(inv, $"{{\"source\": {a}, \"target\": {b}}}"));
        int x = Add("x", 4096, 0, false);
        var rs = Enumerable.Range(0, w).Select(i => Add($"r{i}", 4096, 1, false)).ToList();
        foreach (int r in rs) Link(x, r);
        int c = Add("c", 4096L * w, w, false);
        foreach (int r in rs) Link(r, c);
        int loss = Add("Loss", 4, w, false);
        Link(c, loss);
        int lb = Add("Loss_backward", 4096L * w, w, true);
        Link(loss, lb);
        int cb = Add("c_backward", 4096L * w, w, true);
        Link(lb, cb);
        for (int i = 0; i < w; i++)
        {
            int b = Add($"r{i}_backward", 4096, 1, true);
            Link(cb, b);
            Link(rs[i], b);
        }
        return "{\"directed\": true, \"multigraph\": false, \"graph\": {}, \"nodes\": [" + string.Join(", ",
            nodes) + "], \"links\": [" + string.Join(", ", links) + "]}";
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
