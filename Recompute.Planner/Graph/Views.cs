namespace Recompute.Planner.Graph;

/// <summary>
/// A tensor that is a view: its elements are <see cref="Length"/> consecutive elements of its base from
/// <see cref="Offset"/> on, or, with <see cref="Perm"/>, all of its base's elements read through permuted strides.
/// </summary>
/// <param name="Base">The graph node whose buffer the view reads (operand 0 of the view op).</param>
/// <param name="Offset">Element offset into the base's buffer.</param>
/// <param name="Length">Number of elements.</param>
/// <param name="Perm">A Transpose's permutation (dimension d of the view is dimension Perm[d] of the base), or null
/// for a range of consecutive elements.</param>
public readonly record struct ViewOf(int Base, long Offset, long Length, int[]? Perm = null)
{
    /// <summary>True when the view covers all of its base (Reshape and its kin, and transposed views).</summary>
    public bool IsWhole(ComputationGraph g) => Offset == 0 && Length == Elements(g[Base]);

    /// <summary>True for a Transpose read in place through strides (<see cref="Perm"/> set).</summary>
    public bool IsTransposed => Perm is not null;

    /// <summary>
    /// The view's element strides in its base's row-major buffer, one per dimension of the view: the base's
    /// row-major strides permuted. Null for a range view (row-major in its own shape).
    /// </summary>
    public long[]? Strides(ComputationGraph g)
    {
        if (Perm is null) return null;
        var shape = g[Base].Shape;
        var baseStrides = new long[shape.Length];
        long s = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { baseStrides[d] = s; s *= shape[d]; }
        return Perm.Select(p => baseStrides[p]).ToArray();
    }

    internal static long Elements(Node n) => n.Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>
/// Which tensors are views of another, as every training framework makes them: Reshape, Flatten, Squeeze, Unsqueeze and
/// Identity (and Dropout in inference mode) keep the row-major layout of their input, so the output is the input's
/// buffer under another shape; Split along an axis with nothing but unit dimensions before it (an outer axis) cuts the
/// buffer into consecutive ranges, and so does a Slice that selects consecutive elements. A Transpose is a strided
/// view when every reader reads it through a GEMM operand that takes strides (MatMul's A and B, Gemm's A and B), its
/// input's innermost axis stays one of the two matrix axes (so one matrix stride is 1), and its input is a planned
/// tensor in row-major layout or a parameter: weight transposes become the GEMM's ABᵀ path and GPT-2's head transposes
/// a batched GEMM with a stride per batch axis. The gradient of a transposed view is kept in its base's layout (the
/// GEMM's backward writes it there through the same strides), so its own backward is a copy, or nothing when the
/// gradient aliases the base's (<see cref="TrainingGraph.GradientAliasOf"/>).
/// A view owns no bytes: the memory model (<see cref="TrainingGraph"/>) charges it nothing and keeps its base alive
/// for as long as the view is read, and the runtime reads the base's buffer in place.
/// </summary>
/// <remarks>
/// Only nodes that follow the saved-tensor table (<see cref="Node.SavedByRule"/>: ONNX imports and graphs built for the
/// runtime) are views; the paper's graphs and files with their own per-node needs keep one buffer per tensor, so their
/// figures do not move. A Transpose read by anything else (a Reshape, an element-wise op) stays a copy, as PyTorch's
/// reshape of a permuted tensor copies (see docs/memory-model.md).
/// </remarks>
public static class Views
{
    /// <summary>Op types whose output is all of operand 0 under another shape.</summary>
    public static bool IsWholeViewOp(string op) => op is "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" or "Identity";

    /// <summary>
    /// True for a Dropout in inference mode, the identity: ONNX's training_mode (operand 2) absent or a constant false
    /// (a computed training_mode counts as training).
    /// </summary>
    public static bool IsInferenceDropout(ComputationGraph g, Node n)
    {
        if (n.Op != "Dropout") return false;
        for (int k = 0; k < n.Inputs.Length; k++)
            if (n.OperandPosition(k) == 2)
            {
                var mode = g[n.Inputs[k]];
                if (mode.Kind != NodeKind.Constant) return false;
                var value = mode.Attributes.TryGetValue("value", out var v) ? v : null;
                return value switch { long[] l => l.Length > 0 && l[0] == 0, float[] f => f.Length > 0 && f[0] == 0,
                    double[] d => d.Length > 0 && d[0] == 0, _ => false };
            }
        return true;
    }

    /// <summary>The view a node is, or null when it has a buffer of its own.</summary>
    public static ViewOf? Of(ComputationGraph g, Node n)
    {
        if (!n.IsPlanned || !n.SavedByRule || n.IsBackward || n.Kind == NodeKind.Loss || n.Inputs.Length == 0
            || n.OperandPosition(0) != 0) return null;
        var input = g[n.Inputs[0]];
        if (n.Op == "Transpose") return TransposedView(g, n, input);
        if (!input.IsPlanned || input.DType != n.DType || input.Bytes <= 0) return null;
        long length = ViewOf.Elements(n);
        if (IsWholeViewOp(n.Op) || n.OutputIndex == 0 && IsInferenceDropout(g, n))
            return length == ViewOf.Elements(input) && n.Bytes == input.Bytes ? new ViewOf(input.Id, 0, length) : null;
        if (n.Op == "Split") return SplitRange(g, n, input, length);
        if (n.Op == "Slice") return SliceRange(g, n, input, length);
        return null;
    }

    /// <summary>Op types whose operands 0 and 1 the runtime reads through strides (a row and a column stride per matrix,
    /// one stride per batch axis).</summary>
    private static bool ReadsStrided(Node reader, int k) => reader.Op is "MatMul" or "Gemm" && reader.OperandPosition(k) is 0 or 1;

    /// <summary>A Transpose as a strided view of its input (see <see cref="Views"/>), or null when it stays a copy.</summary>
    private static ViewOf? TransposedView(ComputationGraph g, Node n, Node input)
    {
        // The base is a buffer in row-major layout that lives as long as the view is read: a planned tensor of the same
        // type that is not itself transposed, or a parameter (resident for the whole step; parameters keep their type
        // under --dtype, and the view owns no bytes at either width).
        if (n.Bytes <= 0) return null;
        if (input.Kind != NodeKind.Parameter && (!input.IsPlanned || input.DType != n.DType || n.Bytes != input.Bytes || Of(g, input) is { IsTransposed: true })) return null;
        int rank = input.Shape.Length;
        if (rank < 2 || n.Shape.Length != rank) return null;
        var attr = n.AttributeLongs("perm");
        int[] perm = attr.Length == rank ? attr.Select(p => (int)p).ToArray() : Enumerable.Range(0, rank).Reverse().ToArray();
        if (perm.Order().Where((p, i) => p != i).Any()) return null;
        for (int d = 0; d < rank; d++) if (n.Shape[d] != input.Shape[perm[d]]) return null;
        if (perm[^1] != rank - 1 && perm[^2] != rank - 1) return null;
        var readers = g.Successors(n.Id);
        if (readers.Length == 0) return null;
        foreach (int s in readers)
        {
            var reader = g[s];
            if (!reader.IsPlanned || !reader.SavedByRule || reader.IsBackward) return null;
            for (int k = 0; k < reader.Inputs.Length; k++)
                if (reader.Inputs[k] == n.Id && !(ReadsStrided(reader, k) && (reader.Op == "MatMul" || rank == 2))) return null;
        }
        return new ViewOf(input.Id, 0, ViewOf.Elements(n), perm);
    }

    /// <summary>
    /// A Slice as a range of its input, when what it selects is consecutive in row-major order: step 1, every axis after
    /// the last sliced one taken whole, and a single index on every axis before it (the outer axis of a [1, T, C] tensor,
    /// a row block of a matrix). Starts, axes and steps come from constant operands (opset 10+) or attributes.
    /// </summary>
    private static ViewOf? SliceRange(ComputationGraph g, Node n, Node input, long length)
    {
        var shape = input.Shape;
        if (shape.Length == 0 || n.Shape.Length != shape.Length) return null;
        long[]? Operand(int position, string attribute)
        {
            for (int k = 0; k < n.Inputs.Length; k++)
                if (n.OperandPosition(k) == position)
                    return g[n.Inputs[k]].Kind == NodeKind.Constant && g[n.Inputs[k]].Attributes.TryGetValue("value",
                        out var v) && v is long[] l ? l : null;
            return n.Attributes.ContainsKey(attribute) ? n.AttributeLongs(attribute) : [];
        }
        long[]? starts = Operand(1, "starts"), axes = Operand(3, "axes"), steps = Operand(4, "steps");
        if (starts is null || axes is null || steps is null || starts.Length == 0) return null;
        var start = new long[shape.Length];
        for (int i = 0; i < starts.Length; i++)
        {
            if (axes.Length != 0 && axes.Length <= i) return null;
            long a = axes.Length == 0 ? i : axes[i] < 0 ? axes[i] + shape.Length : axes[i];
            if (a < 0 || a >= shape.Length || (steps.Length > i && steps[i] != 1)) return null;
            int axis = (int)a;
            long st = starts[i] < 0 ? starts[i] + shape[axis] : starts[i];
            start[axis] = Math.Clamp(st, 0, shape[axis]);
        }
        int last = -1;
        for (int d = 0; d < shape.Length; d++) if (n.Shape[d] != shape[d] || start[d] != 0) last = d;
        long offset = 0, stride = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            if (d < last && n.Shape[d] != 1) return null;
            if (d <= last) offset += start[d] * stride;
            stride *= shape[d];
        }
        return offset + length <= ViewOf.Elements(input) ? new ViewOf(input.Id, offset, length) : null;
    }

    /// <summary>A Split output as a range of its input, when the split axis is outer (every dimension before it is 1).</summary>
    private static ViewOf? SplitRange(ComputationGraph g, Node n, Node input, long length)
    {
        var shape = input.Shape;
        if (shape.Length == 0 || n.Shape.Length != shape.Length) return null;
        long axisAttr = n.AttributeLong("axis", 0);
        int axis = (int)(axisAttr < 0 ? axisAttr + shape.Length : axisAttr);
        if (axis < 0 || axis >= shape.Length) return null;
        for (int d = 0; d < axis; d++) if (shape[d] != 1) return null;
        long inner = 1;
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        long[] split = n.AttributeLongs("split");
        for (int k = 1; k < n.Inputs.Length; k++)
            if (n.OperandPosition(k) == 1)
            {
                // Sizes from a constant operand; a part whose sizes cannot be read here stays a copy.
                split = g[n.Inputs[k]].AttributeLongs("value");
                if (split.Length <= n.OutputIndex) return null;
            }
        long count = n.Shape[axis];
        long start = split.Length > n.OutputIndex ? split.Take(n.OutputIndex).Sum() : n.OutputIndex * count;
        if (start + count > shape[axis]) return null;
        return new ViewOf(input.Id, start * inner, length);
    }
}
