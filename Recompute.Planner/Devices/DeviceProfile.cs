using System.Collections.Immutable;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Devices;

/// <summary>Achieved throughput of one kind of kernel, forward and backward.</summary>
/// <param name="Flops">Floating-point operations per second the forward kernels achieve.</param>
/// <param name="BytesPerSecond">Bytes per second the forward kernels move.</param>
/// <param name="BackwardFlops">The same for the backward kernels.</param>
/// <param name="BackwardBytesPerSecond">The same for the backward kernels.</param>
public sealed record ClassRates(double Flops, double BytesPerSecond, double BackwardFlops, double BackwardBytesPerSecond);

/// <summary>A link between device and host memory, for offloading activations.</summary>
/// <param name="BytesPerSecond">Achieved bandwidth per direction.</param>
/// <param name="LatencySeconds">Fixed cost of one transfer.</param>
public sealed record HostLink(double BytesPerSecond, double LatencySeconds)
{
    /// <summary>
    /// The copies run on the compute stream rather than beside it: each transfer holds the step for its whole length
    /// (the <c>cpu</c> device, whose runtime copies to and from its host arena on the step's own thread).
    /// </summary>
    public bool Blocking { get; init; }
}

/// <summary>
/// What one device does per second: the roofline that turns an operation's FLOPs and bytes (<see cref="OpCosts"/>) into
/// seconds, <c>time = max(FLOPs / achieved FLOP/s, bytes / achieved bandwidth) + fixed cost per kernel</c>.
/// </summary>
/// <remarks>
/// Achieved rates are peaks times fractions: matrix work (MatMul, Gemm, dense convolutions) runs at
/// <see cref="MatrixFlops"/> of the element type times <see cref="ComputeFraction"/>; everything else at
/// <see cref="VectorFlops"/> times the same fraction, and every kernel moves bytes at <see cref="Bandwidth"/> times
/// <see cref="BandwidthFraction"/>. A measured profile (the <c>cpu</c> profile) states the achieved rates of each kind of
/// kernel instead (<see cref="Classes"/>), which take precedence. See docs/device-profiles.md for the file format.
/// </remarks>
public sealed record DeviceProfile
{
    /// <summary>Short name (<c>h100-sxm</c>, <c>cpu</c>, or the file's own).</summary>
    public required string Name { get; init; }
    /// <summary>One line for people: the device and where its figures come from.</summary>
    public string Description { get; init; } = "";
    /// <summary>Device memory, or null when the profile does not say.</summary>
    public long? MemoryBytes { get; init; }
    /// <summary>Seconds every kernel costs whatever its size (launch, dispatch, synchronisation).</summary>
    public double FixedSecondsPerOp { get; init; }
    /// <summary>Peak memory bandwidth, bytes per second.</summary>
    public double Bandwidth { get; init; }
    /// <summary>Share of <see cref="Bandwidth"/> that streaming kernels achieve.</summary>
    public double BandwidthFraction { get; init; } = 0.8;
    /// <summary>Peak FLOP/s of matrix work per element type: keys <c>fp32</c>, <c>tf32</c>, <c>bf16</c>, <c>fp16</c>.</summary>
    public ImmutableSortedDictionary<string, double> MatrixFlops { get; init; } = ImmutableSortedDictionary<string, double>.Empty;
    /// <summary>Peak FLOP/s of the vector units (fp32), for element-wise work.</summary>
    public double VectorFlops { get; init; }
    /// <summary>Share of the FLOP peaks that kernels achieve.</summary>
    public double ComputeFraction { get; init; } = 0.6;
    /// <summary>True when fp32 products run on TF32 matrix units (the <c>tf32</c> peak).</summary>
    public bool Tf32 { get; init; }
    /// <summary>Measured achieved rates per kind of kernel; they replace the peaks × fractions for the kinds they name.</summary>
    public ImmutableSortedDictionary<CostClass, ClassRates> Classes { get; init; } = ImmutableSortedDictionary<CostClass, ClassRates>.Empty;
    /// <summary>The host link for offloading, or null.</summary>
    public HostLink? HostLink { get; init; }
    /// <summary>How the profile was made (measured when, on what), as flat text pairs; not read by the model.</summary>
    public ImmutableSortedDictionary<string, string> Metadata { get; init; } = ImmutableSortedDictionary<string, string>.Empty;

    /// <summary>The name of the FLOP model, which is not a device: times stay FLOP counts.</summary>
    public const string FlopModel = "flop";

    /// <summary>Achieved rates of a kind of kernel at an element type, forward or backward.</summary>
    public (double Flops, double BytesPerSecond) RatesFor(CostClass cls, string dtype, bool backward)
    {
        if (Classes.TryGetValue(cls, out var measured))
            return backward ? (measured.BackwardFlops, measured.BackwardBytesPerSecond) : (measured.Flops, measured.BytesPerSecond);
        double bandwidth = Bandwidth * BandwidthFraction;
        double vector = VectorFlops * ComputeFraction;
        if (cls is CostClass.MatMul or CostClass.Conv)
        {
            string key = dtype switch { "bfloat16" => "bf16", "float16" => "fp16", _ => Tf32 ? "tf32" : "fp32" };
            double peak = MatrixFlops.TryGetValue(key, out var p) ? p : MatrixFlops.TryGetValue("fp32", out var f) ? f : VectorFlops;
            return (peak * ComputeFraction, bandwidth);
        }
        return (vector, bandwidth);
    }

    /// <summary>Seconds of one kernel's work on this device: the roofline plus the fixed cost of each launch.</summary>
    public double Seconds(OpWork work, string dtype, bool backward)
    {
        if (work.Class == CostClass.Free || work.Kernels == 0 && work.Bytes == 0 && work.Flops == 0) return 0;
        var (flops, bytesPerSecond) = RatesFor(work.Class, dtype, backward);
        double compute = flops > 0 ? work.Flops / flops : 0;
        double memory = bytesPerSecond > 0 ? work.Bytes / bytesPerSecond : 0;
        return Math.Max(compute, memory) + work.Kernels * FixedSecondsPerOp;
    }

    /// <summary>
    /// The graph with every planned tensor's forward and backward time in seconds on this device. The graph's times
    /// must be the FLOP model's (an ONNX import or a graph built for the runtime); other graphs are returned as they are.
    /// </summary>
    public ComputationGraph Apply(ComputationGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (!CanApply(graph)) return graph;
        var flops = graph.Nodes.Select(n => n.Time).ToArray();
        var needsGradient = OpCosts.NeedsGradient(graph);
        var nodes = ImmutableArray.CreateBuilder<Node>(graph.Count);
        foreach (var n in graph.Nodes)
        {
            double forward = 0, backward = 0;
            if (n.IsPlanned)
            {
                forward = Seconds(OpCosts.Forward(graph, n, flops[n.Id]), n.DType, backward: false);
                foreach (var w in OpCosts.Backward(graph, n, flops, needsGradient)) backward += Seconds(w, n.DType, backward: true);
            }
            nodes.Add(n.IsPlanned ? n with { Time = forward, BackwardTime = backward } : n);
        }
        var result = new ComputationGraph(graph.Name, "s", nodes.MoveToImmutable(), graph.Source)
        {
            ActivationDType = graph.ActivationDType,
            Device = Name,
            FusedPatterns = graph.FusedPatterns,
        };
        return result;
    }

    /// <summary>True for graphs whose times are the FLOP model's with shapes, which a device turns into seconds.</summary>
    public static bool CanApply(ComputationGraph graph) =>
        graph.TimeUnit == Costs.CostModel.Unit && !graph.HasExplicitBackward && graph.Nodes.Any(n => n.IsPlanned && n.SavedByRule);
}
