using System.CommandLine;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Runtime.Data;
using Recompute.Runtime.Execution;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>recompute eval</c>: the forward pass alone, with the graph's own weights (an ONNX file's initializers) or
/// weights from the seed, on <c>--data batch.npz</c> or a synthetic batch; prints the loss and a summary of each
/// graph output. The ops run as in a training step, so the loss is the one the next <c>train</c> step reports.
/// </summary>
public sealed class EvalCommand : CliCommand
{
    private readonly GraphInput _input = new();
    private readonly DataInput _data = new();
    private readonly Option<int> _seed = CliOptions.Int("--seed", "seed of weights (when the file has none), synthetic data and dropout",
        1, 0, int.MaxValue);
    private readonly Option<string> _format = CliOptions.Format();

    public EvalCommand() : base("eval", "forward pass only: the loss and a summary of each output (--data batch.npz)",
        "eval <graph> [--data batch.npz] [options]",
        "Weights: an ONNX file's initializers (inline or external data beside it), else initialised from --seed. BatchNormalization " +
        "uses batch statistics when the graph is in training mode, and dropout the mask of the next training step, so the loss equals " +
        "the first step of 'recompute train' on the same file, data and seed.")
    {
        Arguments.Add(_input.Graph);
        Add(_data.Data, _input.Batch, _seed, _format);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        var (stdout, stderr) = (context.Stdout, context.Stderr);
        var (graph, arrays) = _data.Load(parse, _input, context);
        int seed = parse.GetValue(_seed);
        var session = TrainingSession.Create(graph, new TrainingOptions { Seed = seed }, context.Cancellation);
        EvaluationResult result;
        try
        {
            using var batch = arrays is null ? null : session.CreateBatch(arrays);
            result = session.Evaluate(batch, cancellation: context.Cancellation);
        }
        catch (InvalidOperationException e)
        {
            // An op the runtime cannot run with these attributes or values (a label out of range).
            stderr.WriteLine($"recompute eval: {TerminalText.Escape($"{_input.Path(parse)}: {e.Message}")}");
            return ExitCodes.BadInput;
        }
        bool weights = session.InitialWeights is not null;
        if (parse.GetValue(_format) == "json") WriteJson(stdout, graph, result, arrays is null ? "synthetic" : parse.GetValue(_data.Data)!, weights);
        else WriteTable(stdout, graph, result,
            arrays is null ? "synthetic (seed " + seed.ToString(CultureInfo.InvariantCulture) + ")" : parse.GetValue(_data.Data)!, weights);
        // A loss that is not finite is a diverged evaluation, as in train: reported (JSON null), then exit 1.
        if (!float.IsFinite(result.Loss) && graph.Nodes.Any(n => n.Kind == NodeKind.Loss))
        {
            stderr.WriteLine($"recompute eval: {TerminalText.Escape(_input.Path(parse))}: the loss is {(float.IsNaN(result.Loss) ? "NaN" : result.Loss > 0 ? "+Infinity" : "-Infinity")} " +
                             "(data or weights holding Inf or NaN, or values that overflow float32?)");
            return ExitCodes.Infeasible;
        }
        return ExitCodes.Success;
    }

    /// <summary>Mean, standard deviation, minimum, maximum and L2 norm of an output, accumulated in double.</summary>
    internal static (double Mean, double Std, double Min, double Max, double Norm) Describe(NamedArray a)
    {
        int n = a.Length;
        double sum = 0, sq = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            double v = a.Floats is { } f ? f[i] : a.Longs![i];
            sum += v; sq += v * v; min = Math.Min(min, v); max = Math.Max(max, v);
        }
        double mean = n > 0 ? sum / n : 0;
        return (mean, n > 0 ? Math.Sqrt(Math.Max(0, sq / n - mean * mean)) : 0, n > 0 ? min : 0, n > 0 ? max : 0, Math.Sqrt(sq));
    }

    private static void WriteTable(TextWriter w, ComputationGraph graph, EvaluationResult r, string data, bool weights)
    {
        var inv = CultureInfo.InvariantCulture;
        w.WriteLine($"graph      {TerminalText.Escape(graph.Name)} ({GraphCounts.Of(graph)})");
        w.WriteLine($"weights    {(weights ? "the file's initializers" : "initialised from the seed")}");
        w.WriteLine($"data       {TerminalText.Escape(data)}");
        w.WriteLine(string.Create(inv, $"loss       {r.Loss:0.000000}"));
        w.WriteLine();
        w.WriteLine($"{"output",-40} {"shape",-18} {"mean",12} {"std",12} {"min",12} {"max",12}");
        foreach (var o in r.Outputs)
        {
            var s = Describe(o);
            string escaped = TerminalText.Escape(o.Name);
            string name = escaped.Length > 40 ? escaped[..37] + "..." : escaped;
            w.WriteLine(string.Create(inv, $"{name,-40} {o.ShapeText,-18} {s.Mean,12:G6} {s.Std,12:G6} {s.Min,12:G6} {s.Max,12:G6}"));
        }
    }

    private static void WriteJson(TextWriter w, ComputationGraph graph, EvaluationResult r, string data, bool weights)
    {
        // JsonOutput writes every number that is not finite (a loss or an output of Inf or NaN) as null.
        var j = new JsonOutput()
            .Field("graph", graph.Name)
            .Field("weights", weights ? "initializers" : "seed")
            .Field("data", data)
            .Field("loss", r.Loss)
            .Field("diverged", !float.IsFinite(r.Loss));
        var json = j.Writer;
        json.WriteStartArray("outputs");
        foreach (var o in r.Outputs)
        {
            var s = Describe(o);
            json.WriteStartObject();
            json.WriteString("name", o.Name);
            json.WriteString("dtype", o.DType);
            json.WriteStartArray("shape");
            foreach (var d in o.Shape) json.WriteNumberValue(d);
            json.WriteEndArray();
            foreach (var (name, value) in new[] { ("mean", s.Mean), ("std", s.Std), ("min", s.Min), ("max", s.Max), ("l2Norm", s.Norm) })
            {
                json.WritePropertyName(name);
                json.WriteRawValue(JsonOutput.Number(value));
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        j.WriteTo(w);
    }
}
