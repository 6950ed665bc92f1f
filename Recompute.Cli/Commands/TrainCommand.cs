using System.CommandLine;
using System.Globalization;
using Recompute.Cli.CommandLine;
using Recompute.Cli.Output;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;
using Recompute.Planner.Units;
using Recompute.Runtime.Execution;

namespace Recompute.Cli.Commands;

/// <summary>
/// <c>recompute train</c>: plans a graph under a budget and runs real training steps by the plan on the CPU,
/// printing the loss per step and the measured against the predicted peak; <c>--verify</c> trains a store-all twin
/// in lockstep and reports the largest gradient difference and both step times.
/// </summary>
public sealed class TrainCommand : CliCommand
{
    private readonly GraphInput _input = new() { PlansOnDefaultDevice = true };
    private readonly Option<SizeValue?> _budget = CliOptions.Size("--budget", "bytes, KB/MB/GB, KiB/MiB/GiB or a percentage of the store-all peak (\"40%\")");
    private readonly Option<int> _steps = CliOptions.Int("--steps", "training steps", 10, 1, 1_000_000);
    private readonly Option<bool> _verify = CliOptions.Flag("--verify", "also train with store-all in lockstep: maxGradientDifference and both step times");
    private readonly Option<string> _solver = CliOptions.Solver(AutoPortfolio.Name);
    private readonly Option<int> _seed = CliOptions.Int("--seed", "seed of weights, synthetic data and dropout", 1, 0, int.MaxValue);
    private readonly Option<double> _lr = CliOptions.Double("--lr", "learning rate", 1e-3, 1e-12, 1e3);
    private readonly Option<string> _optimizer = CliOptions.Choice("--optimizer", "adam (default) or sgd (momentum 0.9)", "adam", "adam", "sgd");
    private readonly Option<int> _batches = CliOptions.Int("--batches", "distinct synthetic batches cycled through (1: a fixed batch the model can fit)", 1, 1, 1_000_000, "K");
    private readonly Option<double?> _timeLimit = CliOptions.OptionalDouble("--time-limit", "seconds for the solver " + CommandSupport.TimeLimitDefaults, 0.001, 86_400, "S");
    private readonly Option<string> _format = CliOptions.Format();
    private readonly Option<int?> _threads = CliOptions.OptionalInt("--threads", "threads per runtime kernel (default: all processors); results do not depend on it", 1, 1024);
    private readonly DataInput _data = new();
    private readonly Option<string?> _save = CliOptions.Text("--save", "FILE.onnx", "write the trained model: the ONNX graph with the trained weights as initializers");
    private readonly OffloadSettings _offload = new();

    public TrainCommand() : base("train", "execute real training steps by the plan (--budget B --steps N); --verify compares with store-all",
        "train <graph> --budget <B> [options]",
        "Data: --data batch.npz (one array per graph input, by name; every step trains on it), else synthetic and deterministic: " +
        "float inputs standard normal, labels and indices uniform integers. Weights: an ONNX file's initializers, else from --seed.")
    {
        Arguments.Add(_input.Graph);
        Add(_budget, _steps, _data.Data, _save, _input.Batch, _input.TimeFile, _verify, _solver, _seed, _lr, _optimizer, _batches, _timeLimit, _format, _threads);
        _offload.AddTo(this);
    }

    public override int Execute(ParseResult parse, CommandContext context)
    {
        // The kernels' threads are set before the graph is loaded: the cpu profile it is planned with is that of these threads.
        int previousThreads = Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism;
        Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = parse.GetValue(_threads) ?? Environment.ProcessorCount;
        try { return Train(parse, context); }
        finally { Recompute.Runtime.Kernels.KernelOptions.MaxDegreeOfParallelism = previousThreads; }
    }

    private int Train(ParseResult parse, CommandContext context)
    {
        var (stdout, stderr, cancellation) = (context.Stdout, context.Stderr, context.Cancellation);
        var format = parse.GetValue(_format);
        var budgetValue = parse.GetValue(_budget) ?? throw new UsageException("--budget <B> is required (bytes or a percentage such as 40%)");
        int steps = parse.GetValue(_steps);
        var solver = parse.GetValue(_solver)!;
        int seed = parse.GetValue(_seed);
        double lr = parse.GetValue(_lr);
        IOptimizer optimizer = parse.GetValue(_optimizer) == "sgd" ? new Sgd(lr) : new Adam(lr);
        int batches = parse.GetValue(_batches);
        double timeLimit = CommandSupport.TimeLimitSeconds(parse, _timeLimit, solver);
        bool verify = parse.GetValue(_verify);

        var path = _input.Path(parse);
        var (graph, data) = _data.Load(parse, _input, context);
        // A graph the runtime cannot train (a paper or Checkmate graph, a non-scalar loss) is refused before anything is printed.
        TrainingSession.CheckExecutable(graph);
        var save = parse.GetValue(_save);
        if (save is not null && !(graph.Source ?? "").EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            throw new UsageException("--save writes an ONNX model: the graph must be an .onnx file");
        // Refused before training, not after: an output that cannot be written, or one of the command's inputs.
        CommandSupport.ClaimOutput(save, "--save");
        long budget = budgetValue.Resolve(() => RecomputePlanner.StoreAllPeak(new PlanningProblem(graph)));
        // On the CPU the host link is a copy within memory (OffloadSettings); the plan still weighs it in seconds.
        var offload = _offload.Read(parse, _input.Profile);
        if (offload is not null && OffloadPlanner.NotApplicableReason(new PlanningProblem(graph)) is { } noOffload) throw new UsageException($"--offload: {noOffload}");

        var options = new TrainingOptions
        {
            BudgetBytes = budget, Solver = solver, Optimizer = optimizer, Seed = seed, SyntheticBatches = batches,
            SolverTimeLimit = TimeSpan.FromSeconds(timeLimit),
            // --verify compares every gradient with store-all's, which catches a recomputation that differs; the hash
            // of recomputed tensors would only add passes over memory to the step times it measures.
            CheckRecomputation = !verify,
            Offload = offload,
        };
        bool table = format == "table";
        TrainingReport report;
        // On a terminal: planning, then the step and its loss, with the elapsed time (silent when piped or with --format json).
        using var status = LiveStatus.Begin(context, table, $"planning with {solver} under {ByteSize.Format(budget)}, then {steps} step{(steps == 1 ? "" : "s")}");
        try
        {
            bool header = false;
            report = TrainingRun.Run(graph, options, steps, verify, new LineProgress(r =>
            {
                status.Progress(r.Step, steps, string.Create(CultureInfo.InvariantCulture, $"step {r.Step}/{steps}, loss {r.Loss:0.000000}"));
                if (!table) return;
                if (!header)
                {
                    // Printed with the first step, not before: a run that fails while planning or on its data (a
                    // label out of range) prints nothing on stdout.
                    status.WriteLine($"graph      {TerminalText.Escape(graph.Name)} ({GraphCounts.Of(graph)})");
                    status.WriteLine($"budget     {Bytes(budget)}, solver {TerminalText.Escape(solver)}");
                    status.WriteLine($"{"step",5}  {"loss",10}  {"measured peak",14}  {"predicted peak",14}  {"seconds",9}  {"recomputed",10}");
                    header = true;
                }
                status.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Step,5}  {r.Loss,10:0.000000}  {r.MeasuredPeakBytes,14}  {r.PredictedPeakBytes,14}  {r.Seconds,9:0.0000}  {r.Recomputations,10}"));
            }), data, cancellation);
        }
        catch (InfeasibleBudgetException e)
        {
            status.Dispose();
            stderr.WriteLine($"recompute train: {TerminalText.Escape(e.Message)}{budgetValue.BareNumberHint()}");
            return ExitCodes.Infeasible;
        }
        catch (InvalidOperationException e)
        {
            // An op the runtime cannot run with these attributes or values (a 1-D convolution, a label out of range).
            status.Dispose();
            stderr.WriteLine($"recompute train: {TerminalText.Escape($"{path}: {e.Message}")}");
            return ExitCodes.BadInput;
        }

        status.Dispose();
        // A diverged run saves nothing (its weights are not finite, or about to be) and exits 1 after its report,
        // as a plan that does not fit does: the run finished, its result is not usable.
        var diverged = report.Diverged;
        if (save is not null && diverged is null) report.Session!.SaveOnnx(save);
        if (table)
        {
            WriteSummary(stdout, report, graph.TimeUnit, graph.Device);
            if (save is not null && diverged is null) stdout.WriteLine($"saved             {TerminalText.Escape(save)}");
        }
        else WriteJson(stdout, graph, solver, report, diverged is null ? save : null, parse.GetValue(_data.Data));
        if (diverged is not null)
        {
            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"recompute train: training diverged at step {diverged.Step} of {steps}: {TerminalText.Escape(diverged.What)} (a learning rate too large, or data holding Inf or NaN?)") +
                (save is not null ? $"; nothing was saved to {TerminalText.Escape(save)}" : ""));
            return ExitCodes.Infeasible;
        }
        return ExitCodes.Success;
    }

    /// <summary>Reports each step on the training thread, in order.</summary>
    private sealed class LineProgress(Action<TrainingStepResult> write) : IProgress<TrainingStepResult>
    {
        public void Report(TrainingStepResult value) => write(value);
    }

    private static string Bytes(long b) => $"{ByteSize.Format(b)} ({b.ToString(CultureInfo.InvariantCulture)} B)";

    private static void WriteSummary(TextWriter w, TrainingReport r, string unit, string? device)
    {
        var inv = CultureInfo.InvariantCulture;
        w.WriteLine();
        w.WriteLine($"store-all peak    {Bytes(r.Plan.StoreAllPeakBytes)}");
        w.WriteLine($"predicted peak    {Bytes(r.PredictedPeakBytes)}");
        w.WriteLine($"measured peak     {Bytes(r.MeasuredPeakBytes)}  ({(r.MeasuredPeakBytes == r.PredictedPeakBytes ? "equal to the prediction" : "DIFFERS from the prediction")})");
        var sim = r.Plan.Simulation!;
        w.WriteLine($"predicted overhead {CommandSupport.Percent(sim.StepOverhead)} of the training step (recompute / (forward + backward)); {CommandSupport.Percent(sim.Overhead)} of the forward");
        if (sim.OffloadBytes > 0)
            w.WriteLine($"offloaded         {r.Plan.Schedule!.OffloadedNodes.Length} tensors, {Bytes(sim.OffloadBytes)}; host peak {Bytes(r.Steps.Max(s => s.MeasuredHostPeakBytes))} measured, {Bytes(sim.HostPeakBytes)} predicted");
        if (unit == "s")
            w.WriteLine(string.Create(inv, $"predicted step    {sim.StepSeconds:0.0000} s, store-all {sim.ForwardTime + sim.BackwardTime:0.0000} s (forward and backward{(device is null ? "" : $", device {device}")}; the optimizer's update is not predicted)"));
        string over = r.WarmupSteps > 0
            ? string.Create(inv, $"mean of steps {r.WarmupSteps + 1}-{r.Steps.Count}; step 1 warms the kernels up")
            : "one step, kernels' warm-up included: --steps 3 or more for a fair comparison";
        w.WriteLine(string.Create(inv, $"step time         {r.StepSeconds:0.0000} s ({over})"));
        if (r.StoreAllStepSeconds is { } s)
        {
            w.WriteLine(string.Create(inv, $"store-all step    {s:0.0000} s (the same steps)"));
            if (r.StoreAllForwardBackwardSeconds is { } fb)
                w.WriteLine(string.Create(inv, $"forward+backward  {r.ForwardBackwardSeconds:0.0000} s, store-all {fb:0.0000} s: measured overhead {CommandSupport.Percent(r.ForwardBackwardSeconds / fb - 1)} of the training step"));
            w.WriteLine(r.MaxGradientDifference is { } d && double.IsFinite(d)
                ? string.Create(inv, $"max gradient difference {d:G6} (relative to the gradient norm)")
                : "max gradient difference not finite (the gradients overflowed)");
        }
        if (r.Diverged is { } diverged) w.WriteLine(string.Create(inv, $"diverged          at step {diverged.Step}: {TerminalText.Escape(diverged.What)}"));
    }

    private static void WriteJson(TextWriter w, ComputationGraph graph, string solver, TrainingReport r, string? saved, string? data)
    {
        // JsonOutput writes every number that is not finite (a diverged loss) as null.
        var j = new JsonOutput()
            .Field("graph", graph.Name)
            .Field("solver", solver)
            .Field("data", data ?? "synthetic");
        if (saved is not null) j.Field("savedFile", saved);
        j.Field("budgetBytes", r.Plan.BudgetBytes)
            .Field("storeAllPeakBytes", r.Plan.StoreAllPeakBytes)
            .Field("steps", (long)r.Steps.Count)
            .Field("loss", r.Steps.Select(s => s.Loss))
            .Field("diverged", r.Diverged is not null);
        if (r.Diverged is { } d) j.Field("divergedAtStep", (long)d.Step).Field("divergence", d.What);
        j.Field("measuredPeakBytes", r.MeasuredPeakBytes)
            .Field("predictedPeakBytes", r.PredictedPeakBytes)
            .Field("predictedOverhead", r.Plan.Simulation!.Overhead)
            .Field("predictedStepOverhead", r.Plan.Simulation.StepOverhead)
            .Field("recomputations", (long)r.Steps[0].Recomputations)
            .Field("scratchPeakBytes", r.Steps.Max(s => s.ScratchPeakBytes))
            .Field("timeUnit", graph.TimeUnit)
            .Field("device", graph.Device)
            .Field("stepSeconds", r.StepSeconds)
            .Field("warmupSteps", (long)r.WarmupSteps)
            .Field("forwardBackwardSeconds", r.ForwardBackwardSeconds);
        if (graph.TimeUnit == "s")
            // Forward, recomputation and backward; the optimizer's update is not in the model.
            j.Field("predictedStepSeconds", r.Plan.Simulation.StepSeconds)
                .Field("storeAllPredictedStepSeconds", r.Plan.Simulation.ForwardTime + r.Plan.Simulation.BackwardTime);
        if (r.Plan.Schedule!.HasTransfers || r.Plan.KeepOrRecompute is not null)
            j.Field("offloadedTensors", r.Plan.Schedule.OffloadedNodes.Select(n => graph[n].Name))
                .Field("offloadBytes", r.Plan.Simulation.OffloadBytes)
                .Field("hostPeakBytes", r.Plan.Simulation.HostPeakBytes)
                .Field("measuredHostPeakBytes", r.Steps.Max(s => s.MeasuredHostPeakBytes))
                .Field("transferSeconds", r.Plan.Simulation.TransferSeconds);
        if (r.StoreAllStepSeconds is { } s2)
        {
            j.Field("storeAllStepSeconds", s2)
                .Field("storeAllForwardBackwardSeconds", r.StoreAllForwardBackwardSeconds)
                .Field("measuredStepOverhead", r.StoreAllForwardBackwardSeconds is { } fb ? r.ForwardBackwardSeconds / fb - 1 : null)
                .Field("maxGradientDifference", r.MaxGradientDifference)
                .Field("storeAllLoss", r.StoreAllLoss!);
        }
        j.WriteTo(w);
    }
}
