using Recompute.Planner.Costs;
using Recompute.Planner.Graph;

namespace Recompute.Planner.Devices;

/// <summary>
/// The kind of kernel an operation runs, which decides the throughput a device gives it: GEMM-like work runs on the
/// matrix units, everything else streams through memory and the vector units.
/// </summary>
public enum CostClass
{
    /// <summary>No work: a view (Reshape, Flatten, Squeeze, an outer Split or Slice, a Transpose read by products) or a folded constant.</summary>
    Free,
    /// <summary>MatMul and Gemm.</summary>
    MatMul,
    /// <summary>Conv and ConvTranspose with dense groups.</summary>
    Conv,
    /// <summary>Depthwise and grouped convolutions (few input channels per group: little reuse, mostly memory-bound).</summary>
    GroupedConv,
    /// <summary>Element-wise arithmetic of two or more operands (Add, Sub, Mul, Div, Where, comparisons), and gradient sums.</summary>
    Elementwise,
    /// <summary>Cheap functions of one operand: ReLU, Clip, LeakyRelu, Neg, Abs, Cast, Dropout.</summary>
    Activation,
    /// <summary>Element-wise functions that need a polynomial or exponential per element (Erf, GELU, Tanh, Exp, ...).</summary>
    Transcendental,
    /// <summary>BatchNormalization, LayerNormalization and their kin: statistics, then a normalising pass.</summary>
    Normalization,
    /// <summary>Softmax, LogSoftmax and the softmax losses.</summary>
    Softmax,
    /// <summary>Windowed and global pooling.</summary>
    Pooling,
    /// <summary>Reductions over axes (ReduceSum, ReduceMean, ArgMax, ...).</summary>
    Reduction,
    /// <summary>Copies that rearrange elements: Transpose, Concat, Split and Slice that copy, Pad, Gather, Expand, Resize.</summary>
    DataMovement,
}

/// <summary>The work of one kernel: floating-point operations, bytes read and written, and the kernels launched.</summary>
/// <param name="Flops">Floating-point operations.</param>
/// <param name="Bytes">Bytes read from and written to memory.</param>
/// <param name="Class">The kind of kernel (decides the throughput).</param>
/// <param name="Kernels">Kernel launches, each paying the device's fixed cost per op.</param>
public readonly record struct OpWork(double Flops, double Bytes, CostClass Class, int Kernels = 1)
{
    /// <summary>No work at all.</summary>
    public static OpWork None { get; } = new(0, 0, CostClass.Free, 0);
}

/// <summary>
/// The one table of what each operation costs in FLOPs and bytes moved, forward and backward, beside the saved-tensor
/// table (<see cref="SavedTensors"/>) that says what each backward reads. A device profile turns this work into
/// seconds (<see cref="DeviceProfile"/>); the runtime's kernels do the passes counted here.
/// </summary>
/// <remarks>
/// Bytes are the tensors each kernel reads and writes at their element types, counted once per pass over memory:
/// an element-wise op reads its operands and writes its output; a normalisation reads its input twice (statistics,
/// then the normalising pass) in the forward and reads the output gradient and the input twice each in the backward
/// (the reductions for the scale and shift gradients, then the input gradient); a view moves nothing. Forward FLOPs
/// are the cost model's (<see cref="CostModel.ForwardFlops"/>, the graph's times in unit "flop"). A backward task of
/// tensor v is what the runtime runs for it: every reader's vector-Jacobian product with respect to v (the
/// gradient flowing into v, summed when there are several readers) and the parameter gradients of v's own operation.
/// A product's vector-Jacobian products each cost what its forward costs (dA = G·Bᵀ and dB = Aᵀ·G are GEMMs of the
/// forward's size, as are a convolution's data and weight gradients).
/// </remarks>
public static class OpCosts
{
    /// <summary>The kind of kernel an operation of this type runs (<paramref name="node"/> decides grouped convolutions).</summary>
    public static CostClass ClassOf(ComputationGraph g, Node node)
    {
        switch (node.Op)
        {
            case "MatMul" or "Gemm": return CostClass.MatMul;
            case "Conv" or "ConvTranspose":
            {
                long group = node.AttributeLong("group", 1);
                if (group <= 1) return CostClass.Conv;
                // Channels per group from the weight: [C_out, C_in / group, ...] for Conv, [C_in, C_out / group, ...] for ConvTranspose.
                int w = WeightOperand(node);
                long perGroup = w >= 0 && g[node.Inputs[w]].Shape.Length > 1 ? g[node.Inputs[w]].Shape[1] : 1;
                return perGroup <= 16 ? CostClass.GroupedConv : CostClass.Conv;
            }
            case "BatchNormalization" or "LayerNormalization" or "InstanceNormalization" or "GroupNormalization" or "MeanVarianceNormalization" or "LRN":
                return CostClass.Normalization;
            case "Softmax" or "LogSoftmax" or "SoftmaxCrossEntropyLoss" or "NegativeLogLikelihoodLoss": return CostClass.Softmax;
            case "MaxPool" or "AveragePool" or "LpPool" or "GlobalAveragePool" or "GlobalMaxPool" or "GlobalLpPool": return CostClass.Pooling;
            case "ArgMax" or "ArgMin" or "CumSum": return CostClass.Reduction;
            case "Transpose" or "Concat" or "Split" or "Slice" or "Pad" or "Gather" or "GatherElements" or "GatherND" or "Tile" or "Expand"
                or "Resize" or "Upsample" or "DepthToSpace" or "SpaceToDepth" or "Trilu" or "ScatterElements" or "ScatterND" or "Reshape"
                or "Flatten" or "Squeeze" or "Unsqueeze" or "Identity":
                return CostClass.DataMovement;
            case "Relu" or "LeakyRelu" or "PRelu" or "Clip" or "Neg" or "Abs" or "Sign" or "Floor" or "Ceil" or "Round" or "Cast" or "CastLike"
                or "Dropout" or "Not" or "ThresholdedRelu" or "Shrink" or "IsNaN" or "IsInf":
                return CostClass.Activation;
            case "Erf" or "Gelu" or "Tanh" or "Sigmoid" or "Exp" or "Log" or "Sqrt" or "Pow" or "Reciprocal" or "Softplus" or "Softsign" or "Mish"
                or "Elu" or "Selu" or "Celu" or "HardSigmoid" or "HardSwish" or "Sin" or "Cos" or "Tan" or "Asin" or "Acos" or "Atan"
                or "Sinh" or "Cosh" or "Asinh" or "Acosh" or "Atanh":
                return CostClass.Transcendental;
            default:
                return node.Op.StartsWith("Reduce", StringComparison.Ordinal) ? CostClass.Reduction : CostClass.Elementwise;
        }
    }

    /// <summary>
    /// The forward work of one planned tensor: its operation's FLOPs (<paramref name="flops"/>, the cost model's count
    /// for this output) and the bytes its kernel moves. An operation's operands are charged to its first output; every
    /// output pays for writing itself. Views and folded constants cost nothing.
    /// </summary>
    public static OpWork Forward(ComputationGraph g, Node n, double flops)
    {
        if (!n.IsPlanned || n.IsBackward) return OpWork.None;
        if (Views.Of(g, n) is not null) return OpWork.None;
        var cls = ClassOf(g, n);
        double bytes = n.Bytes;
        // Secondary outputs (running statistics, masks) come with output 0's pass, but the runtime computes
        // LayerNormalization's Mean and InvStdDev each in a kernel of its own that reads the input again.
        if (n.OutputIndex > 0)
            return n.Op == "LayerNormalization" && n.Inputs.Length > 0 ? new OpWork(flops, bytes + g[n.Inputs[0]].Bytes,
                cls) : new OpWork(flops, bytes, cls, 0);
        foreach (int p in n.Inputs.Distinct()) bytes += g[p].Bytes;
        // A training-mode normalisation reads its input once for the statistics and once to normalise it.
        if (cls == CostClass.Normalization && n.Inputs.Length > 0) bytes += g[n.Inputs[0]].Bytes;
        return new OpWork(flops, bytes, cls);
    }

    /// <summary>
    /// The vector-Jacobian product of operation <paramref name="op"/> with respect to its input <paramref name="k"/>
    /// (an index into <see cref="Node.Inputs"/>): it reads the output gradient and what the saved-tensor table keeps for
    /// that operand, and writes the operand's gradient.
    /// </summary>
    /// <param name="g">The graph.</param>
    /// <param name="op">The operation (its output 0 node, or the node of the output whose gradient flows).</param>
    /// <param name="k">Input index.</param>
    /// <param name="forwardFlops">The operation's forward FLOPs.</param>
    public static OpWork Vjp(ComputationGraph g, Node op, int k, double forwardFlops)
    {
        var cls = ClassOf(g, op);
        if (cls == CostClass.Free) return OpWork.None;
        var operand = g[op.Inputs[k]];
        double gradOut = op.Bytes, gradIn = operand.Bytes;
        double saved = 0;
        var (inputs, output, others) = op.SavedFor(k);
        foreach (int j in inputs) saved += g[op.Inputs[j]].Bytes;
        if (output) saved += op.Bytes;
        foreach (int index in others)
            if (g.OutputOf(op.Id, index) is >= 0 and var o) saved += g[o].Bytes;
        int position = op.OperandPosition(k);
        double flops = cls switch
        {
            // The bias of a product is the output gradient summed over its broadcast axes.
            CostClass.MatMul or CostClass.Conv or CostClass.GroupedConv => position == 2 ? ShapeMath.Elements(op.Shape) : forwardFlops,
            _ => forwardFlops,
        };
        double bytes = gradOut + saved + gradIn;
        // The normalisations' backward makes two passes: the reductions Σg and Σg·x̂, then the input gradient.
        if (cls == CostClass.Normalization && position == 0) bytes += gradOut + operand.Bytes;
        return new OpWork(flops, bytes, cls);
    }

    /// <summary>
    /// The work of tensor <paramref name="v"/>'s backward task as the runtime runs it (the training graph's gradient
    /// task): the vector-Jacobian product of every reader through which a gradient flows into v, the sum of those
    /// partial gradients, and the parameter gradients of the operations whose first gradient-carrying operand is v
    /// (or of v's own operation when none of its operands carries a gradient).
    /// </summary>
    /// <param name="g">The graph.</param>
    /// <param name="v">A planned forward tensor.</param>
    /// <param name="forwardFlops">Forward FLOPs by node id (the cost model's counts).</param>
    public static IEnumerable<OpWork> Backward(ComputationGraph g, Node v, IReadOnlyList<double> forwardFlops) =>
        Backward(g, v, forwardFlops, NeedsGradient(g));

    /// <summary>The same, with <see cref="NeedsGradient"/> of the graph computed once by the caller.</summary>
    public static IEnumerable<OpWork> Backward(ComputationGraph g, Node v, IReadOnlyList<double> forwardFlops, bool[] needsGradient)
    {
        if (!v.IsPlanned || v.IsBackward || !needsGradient[v.Id]) yield break;
        int contributions = 0;
        var seen = new HashSet<int>();
        foreach (int s in g.Successors(v.Id).ToArray())
        {
            if (!seen.Add(s)) continue;
            var reader = g[s];
            // Readers without a gradient (a normalisation's running statistics, comparisons) send none back.
            if (!needsGradient[s]) continue;
            for (int k = 0; k < reader.Inputs.Length; k++)
            {
                if (reader.Inputs[k] != v.Id || !CarriesGradient(reader, k)) continue;
                contributions++;
                yield return Vjp(g, reader, k, forwardFlops[reader.Id]);
            }
            if (FirstGradientOperand(g, reader, needsGradient) == v.Id)
                foreach (var w in ParameterGradients(g, reader, forwardFlops)) yield return w;
        }
        // Every partial gradient after the first is added into the sum: two reads and a write of v's size.
        if (contributions > 1) yield return new OpWork((contributions - 1) * (double)ShapeMath.Elements(v.Shape),
            (contributions - 1) * 3.0 * v.Bytes, CostClass.Elementwise, contributions - 1);
        if (FirstGradientOperand(g, v, needsGradient) < 0)
            foreach (var w in ParameterGradients(g, v, forwardFlops)) yield return w;
    }

    /// <summary>
    /// Which planned tensors take a gradient: the loss, and every floating-point tensor read, through an operand that
    /// carries a gradient, by a tensor that takes one (the training graph's gradient tasks).
    /// </summary>
    public static bool[] NeedsGradient(ComputationGraph g)
    {
        var needs = new bool[g.Count];
        for (int v = g.Count - 1; v >= 0; v--)
        {
            var node = g[v];
            if (!node.IsPlanned || node.IsBackward) continue;
            if (node.Kind == NodeKind.Loss) { needs[v] = true; continue; }
            if (!ElementTypes.IsFloat(node.DType)) continue;
            foreach (int s in g.Successors(v))
            {
                if (!needs[s] || !ElementTypes.IsFloat(g[s].DType)) continue;
                var reader = g[s];
                for (int k = 0; k < reader.Inputs.Length && !needs[v]; k++)
                    if (reader.Inputs[k] == v && CarriesGradient(reader, k)) needs[v] = true;
                if (needs[v]) break;
            }
        }
        return needs;
    }

    private static IEnumerable<OpWork> ParameterGradients(ComputationGraph g, Node op, IReadOnlyList<double> forwardFlops)
    {
        if (op.OutputIndex != 0) yield break;
        for (int k = 0; k < op.Inputs.Length; k++)
            if (g[op.Inputs[k]].Kind == NodeKind.Parameter && CarriesGradient(op, k))
                yield return Vjp(g, op, k, forwardFlops[op.Id]);
    }

    /// <summary>The first planned floating-point operand of an operation that carries a gradient, or -1.</summary>
    private static int FirstGradientOperand(ComputationGraph g, Node op, bool[] needsGradient)
    {
        foreach (int p in op.Inputs)
            if (g[p].IsPlanned && needsGradient[p] && ElementTypes.IsFloat(op.DType)) return p;
        return -1;
    }

    /// <summary>
    /// True when a gradient flows through input <paramref name="k"/> of <paramref name="op"/>: the operation has a
    /// derivative for that operand (not an index, a shape or a condition) and its outputs are floating-point.
    /// </summary>
    public static bool CarriesGradient(Node op, int k)
    {
        int position = op.OperandPosition(k);
        return op.Op switch
        {
            "Gather" or "GatherElements" => position == 0,
            "Where" => position is 1 or 2,
            "Reshape" or "Expand" or "Tile" or "Slice" or "Pad" or "Resize" or "Upsample" or "Squeeze" or "Unsqueeze" or "Split" or "Trilu" => position == 0,
            "Dropout" or "Clip" or "CumSum" => position == 0,
            "SoftmaxCrossEntropyLoss" or "NegativeLogLikelihoodLoss" => position == 0,
            "BatchNormalization" or "InstanceNormalization" or "GroupNormalization" or "LayerNormalization" => position is 0 or 1 or 2,
            "Shape" or "Size" or "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "And" or "Or" or "Xor" or "Not"
                or "IsNaN" or "IsInf" or "ArgMax" or "ArgMin" or "ConstantOfShape" or "Range" => false,
            _ => true,
        };
    }

    private static int WeightOperand(Node node)
    {
        for (int k = 0; k < node.Inputs.Length; k++)
            if (node.OperandPosition(k) == 1) return k;
        return -1;
    }
}
