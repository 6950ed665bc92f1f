namespace Recompute.Planner.Graph;

/// <summary>A tensor that is a view: its elements are <see cref="Length"/> consecutive elements of its base from <see cref="Offset"/> on.</summary>
/// <param name="Base">The graph node whose buffer the view reads (operand 0 of the view op).</param>
/// <param name="Offset">Element offset into the base's buffer.</param>
/// <param name="Length">Number of elements.</param>
public readonly record struct ViewOf(int Base, long Offset, long Length)
{
    /// <summary>True when the view covers all of its base (Reshape and its kin).</summary>
    public bool IsWhole(ComputationGraph g) => Offset == 0 && Length == Elements(g[Base]);

    internal static long Elements(Node n) => n.Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>
/// Which tensors are views of another, as every training framework makes them: Reshape, Flatten, Squeeze, Unsqueeze and
/// Identity (and Dropout in inference mode) keep the row-major layout of their input, so the output is the input's
/// buffer under another shape; Split along an axis with nothing but unit dimensions before it (an outer axis) cuts the
/// buffer into consecutive ranges, and so does a Slice that selects consecutive elements.
/// A view owns no bytes: the memory model (<see cref="TrainingGraph"/>) charges it nothing and keeps its base alive
/// for as long as the view is read, and the runtime reads the base's buffer in place.
/// </summary>
/// <remarks>
/// Only nodes that follow the saved-tensor table (<see cref="Node.SavedByRule"/>: ONNX imports and graphs built for the
/// runtime) are views; the paper's graphs and files with their own per-node needs keep one buffer per tensor, so their
/// figures do not move. Transpose stays a copy: this runtime's kernels read contiguous operands (see docs/memory-model.md).
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
        if (!input.IsPlanned || input.DType != n.DType || input.Bytes <= 0) return null;
        long length = ViewOf.Elements(n);
        if (IsWholeViewOp(n.Op) || n.OutputIndex == 0 && IsInferenceDropout(g, n))
            return length == ViewOf.Elements(input) && n.Bytes == input.Bytes ? new ViewOf(input.Id, 0, length) : null;
        if (n.Op == "Split") return SplitRange(g, n, input, length);
        if (n.Op == "Slice") return SliceRange(g, n, input, length);
        return null;
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
