using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// Reshape, Flatten, Squeeze, Unsqueeze, Identity: the elements are unchanged, only the shape (taken from the
/// graph) differs. The value is copied because every task owns its own buffer in the memory model.
/// </summary>
internal sealed class ReshapeOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand == 0;
    public override void Forward(OpCall call, Tensor output) => call.Input(0).Span.CopyTo(output.Span);
    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput) => g.CopyTo(gradInput);
}

/// <summary>Transpose with attribute <c>perm</c> (default: reverse the dimensions).</summary>
internal sealed class TransposeOp : Operator
{

    private static int[] Perm(OpCall call)
    {
        int rank = call.InputShape(0).Length;
        var p = call.Attrs("perm");
        return p.Length == rank ? p.Select(v => (int)v).ToArray() : Enumerable.Range(0, rank).Reverse().ToArray();
    }

    public override void Forward(OpCall call, Tensor output) => Permute(call.Input(0).Span, call.InputShape(0), Perm(call), output.Span);

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var perm = Perm(call);
        var inverse = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        Permute(g, call.OutputShape, inverse, gradInput);
    }

    /// <summary>dst[i_0..i_r] = src at the index whose dimension perm[d] is i_d.</summary>
    internal static void Permute(ReadOnlySpan<float> src, int[] srcShape, int[] perm, Span<float> dst)
    {
        int rank = srcShape.Length;
        if (rank == 0) { src.CopyTo(dst); return; }
        var srcStrides = new int[rank];
        for (int d = rank - 1, s = 1; d >= 0; d--) { srcStrides[d] = s; s *= srcShape[d]; }
        var dstShape = perm.Select(p => srcShape[p]).ToArray();
        var step = perm.Select(p => srcStrides[p]).ToArray();
        int inner = dstShape[^1], innerStep = step[^1];
        if (dst.Length == 0) return;
        // The destination dimension read contiguously from the source: when it is not the last one, copy in
        // square tiles so that each source cache line is used for a whole tile instead of once per element.
        int contiguous = Array.LastIndexOf(step, 1);
        if (innerStep != 1 && contiguous >= 0 && contiguous < rank - 1 && dstShape[contiguous] > 1)
        {
            PermuteTiled(src, dstShape, step, contiguous, dst);
            return;
        }
        var idx = new int[rank];
        int rows = inner == 0 ? 0 : dst.Length / inner;
        for (int r = 0; r < rows; r++)
        {
            int off = 0;
            for (int d = 0; d < rank - 1; d++) off += idx[d] * step[d];
            var row = dst.Slice(r * inner, inner);
            if (innerStep == 1) src.Slice(off, inner).CopyTo(row);
            else for (int j = 0; j < inner; j++) row[j] = src[off + j * innerStep];
            for (int d = rank - 2; d >= 0; d--)
            {
                if (++idx[d] < dstShape[d]) break;
                idx[d] = 0;
            }
        }
    }

    /// <summary>
    /// The permutation as a batch of 2-D transposes: destination dimension <paramref name="k"/> (source stride 1)
    /// against the last destination dimension (source stride step[^1], destination stride 1), in 32 × 32 tiles.
    /// </summary>
    private static void PermuteTiled(ReadOnlySpan<float> src, int[] dstShape, int[] step, int k, Span<float> dst)
    {
        const int Tile = 32;
        int rank = dstShape.Length;
        var dstStrides = new int[rank];
        for (int d = rank - 1, s = 1; d >= 0; d--) { dstStrides[d] = s; s *= dstShape[d]; }
        int rowsK = dstShape[k], cols = dstShape[^1], srcColStep = step[^1], dstRowStep = dstStrides[k];
        var idx = new int[rank];
        int planes = dst.Length / (rowsK * cols);
        for (int p = 0; p < planes; p++)
        {
            int srcBase = 0, dstBase = 0;
            for (int d = 0; d < rank - 1; d++)
            {
                if (d == k) continue;
                srcBase += idx[d] * step[d];
                dstBase += idx[d] * dstStrides[d];
            }
            for (int r0 = 0; r0 < rowsK; r0 += Tile)
            {
                int r1 = Math.Min(rowsK, r0 + Tile);
                for (int c0 = 0; c0 < cols; c0 += Tile)
                {
                    int c1 = Math.Min(cols, c0 + Tile);
                    // Whole 8 × 8 blocks through registers; the ragged edges of the tile element by element.
                    int r8 = Avx.IsSupported ? r0 + (r1 - r0) / 8 * 8 : r0, c8 = Avx.IsSupported ? c0 + (c1 - c0) / 8 * 8 : c0;
                    for (int r = r0; r < r8; r += 8)
                        for (int c = c0; c < c8; c += 8)
                            Transpose8x8(src, srcBase + c * srcColStep + r, srcColStep, dst, dstBase + r * dstRowStep + c, dstRowStep);
                    for (int c = c0; c < c1; c++)
                    {
                        int from = srcBase + c * srcColStep, to = dstBase + c;
                        for (int r = c < c8 ? r8 : r0; r < r1; r++) dst[to + r * dstRowStep] = src[from + r];
                    }
                }
            }
            // Next plane: advance the odometer over the dimensions other than k and the last.
            for (int d = rank - 2; d >= 0; d--)
            {
                if (d == k) continue;
                if (++idx[d] < dstShape[d]) break;
                idx[d] = 0;
            }
        }
    }

    /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for an 8 × 8 block: eight loads, the usual unpack / shuffle /
    /// 128-bit permute network, eight stores (a pure move, so the values are bitwise those of the scalar copy).</summary>
    private static void Transpose8x8(ReadOnlySpan<float> src, int from, int srcStride, Span<float> dst, int to, int dstStride)
    {
        if (from + 7 * srcStride + 8 > src.Length || to + 7 * dstStride + 8 > dst.Length) throw new ArgumentOutOfRangeException(nameof(from));
        ref float ps = ref MemoryMarshal.GetReference(src);
        ref float pd = ref MemoryMarshal.GetReference(dst);
        var a0 = Vector256.LoadUnsafe(ref ps, (nuint)from);
        var a1 = Vector256.LoadUnsafe(ref ps, (nuint)(from + srcStride));
        var a2 = Vector256.LoadUnsafe(ref ps, (nuint)(from + 2 * srcStride));
        var a3 = Vector256.LoadUnsafe(ref ps, (nuint)(from + 3 * srcStride));
        var a4 = Vector256.LoadUnsafe(ref ps, (nuint)(from + 4 * srcStride));
        var a5 = Vector256.LoadUnsafe(ref ps, (nuint)(from + 5 * srcStride));
        var a6 = Vector256.LoadUnsafe(ref ps, (nuint)(from + 6 * srcStride));
        var a7 = Vector256.LoadUnsafe(ref ps, (nuint)(from + 7 * srcStride));
        var t0 = Avx.UnpackLow(a0, a1); var t1 = Avx.UnpackHigh(a0, a1);
        var t2 = Avx.UnpackLow(a2, a3); var t3 = Avx.UnpackHigh(a2, a3);
        var t4 = Avx.UnpackLow(a4, a5); var t5 = Avx.UnpackHigh(a4, a5);
        var t6 = Avx.UnpackLow(a6, a7); var t7 = Avx.UnpackHigh(a6, a7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).StoreUnsafe(ref pd, (nuint)to);
        Avx.Permute2x128(u1, u5, 0x20).StoreUnsafe(ref pd, (nuint)(to + dstStride));
        Avx.Permute2x128(u2, u6, 0x20).StoreUnsafe(ref pd, (nuint)(to + 2 * dstStride));
        Avx.Permute2x128(u3, u7, 0x20).StoreUnsafe(ref pd, (nuint)(to + 3 * dstStride));
        Avx.Permute2x128(u0, u4, 0x31).StoreUnsafe(ref pd, (nuint)(to + 4 * dstStride));
        Avx.Permute2x128(u1, u5, 0x31).StoreUnsafe(ref pd, (nuint)(to + 5 * dstStride));
        Avx.Permute2x128(u2, u6, 0x31).StoreUnsafe(ref pd, (nuint)(to + 6 * dstStride));
        Avx.Permute2x128(u3, u7, 0x31).StoreUnsafe(ref pd, (nuint)(to + 7 * dstStride));
    }
}

/// <summary>Copies of blocks along one axis: the shared loop of Split, Concat and Slice-like ops.</summary>
internal static class AxisBlocks
{
    /// <summary>
    /// For every outer index, copies <paramref name="count"/> rows of <paramref name="inner"/> elements from
    /// <paramref name="src"/> (axis length <paramref name="srcAxis"/>, starting at <paramref name="srcStart"/>) into
    /// <paramref name="dst"/> (axis length <paramref name="dstAxis"/>, starting at <paramref name="dstStart"/>).
    /// </summary>
    public static void Copy(ReadOnlySpan<float> src, int srcAxis, int srcStart, Span<float> dst, int dstAxis, int dstStart, int count,
        int outer, int inner)
    {
        int n = count * inner;
        for (int o = 0; o < outer; o++)
            src.Slice((o * srcAxis + srcStart) * inner, n).CopyTo(dst.Slice((o * dstAxis + dstStart) * inner, n));
    }
}

/// <summary>Split along <c>axis</c>: this node is output <see cref="Node.OutputIndex"/>. Sizes from the <c>split</c>
/// operand or attribute, else equal parts.</summary>
internal sealed class SplitOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand == 0;

    private static (int Axis, int Start, int Outer, int Inner, int AxisLength, int Count) Geometry(OpCall call)
    {
        var shape = call.InputShape(0);
        int axis = Axis(call.Attr("axis", 0L), shape.Length);
        long[] split = call.HasOperand(1) ? call.InputLongs(1) : call.Attrs("split");
        int count = call.OutputShape[axis];
        int index = call.Node.OutputIndex;
        int start = split.Length > 0 ? (int)split.Take(index).Sum() : index * count;
        return (axis, start, Product(shape, 0, axis), Product(shape, axis + 1, shape.Length), shape[axis], count);
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (_, start, outer, inner, len, count) = Geometry(call);
        AxisBlocks.Copy(call.Input(0).Span, len, start, output.Span, count, 0, count, outer, inner);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (_, start, outer, inner, len, count) = Geometry(call);
        gradInput.Clear();
        AxisBlocks.Copy(g, count, 0, gradInput, len, start, count, outer, inner);
    }
}

/// <summary>Concat along <c>axis</c>.</summary>
internal sealed class ConcatOp : Operator
{

    public override void Forward(OpCall call, Tensor output)
    {
        var shape = call.OutputShape;
        int axis = Axis(call.Attr("axis", 0L), shape.Length);
        int outer = Product(shape, 0, axis), inner = Product(shape, axis + 1, shape.Length), start = 0;
        for (int k = 0; k < call.Arity; k++)
        {
            int len = call.InputShape(k)[axis];
            AxisBlocks.Copy(call.Input(k).Span, len, 0, output.Span, shape[axis], start, len, outer, inner);
            start += len;
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var shape = call.OutputShape;
        int axis = Axis(call.Attr("axis", 0L), shape.Length);
        int outer = Product(shape, 0, axis), inner = Product(shape, axis + 1, shape.Length), start = 0;
        for (int k = 0; k < operand; k++) start += call.InputShape(k)[axis];
        int len = call.InputShape(operand)[axis];
        AxisBlocks.Copy(g, shape[axis], start, gradInput, len, 0, len, outer, inner);
    }
}

/// <summary>Gather(data, indices) along <c>axis</c>; the backward scatters into data (indices carry no gradient).</summary>
internal sealed class GatherOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand == 0;

    private static (int Outer, int AxisLength, int Inner, int Count) Geometry(OpCall call)
    {
        var ds = call.InputShape(0);
        int axis = Axis(call.Attr("axis", 0L), ds.Length);
        return (Product(ds, 0, axis), ds[axis], Product(ds, axis + 1, ds.Length), Tensor.SizeOf(call.InputShape(1)));
    }

    private static int Index(float v, int len, Node node)
    {
        int i = (int)v;
        if (i < 0) i += len;
        if (i < 0 || i >= len) throw new InvalidOperationException($"'{node.Name}' (Gather): index {v} is out of range [0, {len})");
        return i;
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (outer, len, inner, count) = Geometry(call);
        var data = call.Input(0).Span; var idx = call.Input(1).Span; var y = output.Span;
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < count; c++)
                data.Slice((o * len + Index(idx[c], len, call.Node)) * inner, inner).CopyTo(y.Slice((o * count + c) * inner, inner));
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (outer, len, inner, count) = Geometry(call);
        var idx = call.Input(1).Span;
        gradInput.Clear();
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < count; c++)
            {
                var dst = gradInput.Slice((o * len + Index(idx[c], len, call.Node)) * inner, inner);
                var src = g.Slice((o * count + c) * inner, inner);
                for (int j = 0; j < inner; j++) dst[j] += src[j];
            }
    }
}

/// <summary>Where(condition, x, y) with broadcasting; the condition carries no gradient.</summary>
internal sealed class WhereOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand != 0;

    public override void Forward(OpCall call, Tensor output)
    {
        var plan = new Broadcast(call.OutputShape, call.InputShape(0), call.InputShape(1), call.InputShape(2));
        var c = call.Input(0).Span; var x = call.Input(1).Span; var z = call.Input(2).Span; var y = output.Span;
        int inner = plan.Inner, sc = plan.InnerStrides[0], sx = plan.InnerStrides[1], sz = plan.InnerStrides[2];
        for (int r = 0; r < plan.Rows; r++)
        {
            int oc = plan.Offset(0, r), ox = plan.Offset(1, r), oz = plan.Offset(2, r), o = r * inner;
            for (int j = 0; j < inner; j++) y[o + j] = c[oc + j * sc] != 0f ? x[ox + j * sx] : z[oz + j * sz];
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var plan = new Broadcast(call.OutputShape, call.InputShape(0), call.InputShape(1), call.InputShape(2));
        var c = call.Input(0).Span;
        using var full = call.Scratch(g.Length);
        var f = full.Span;
        int inner = plan.Inner, sc = plan.InnerStrides[0];
        bool whenTrue = operand == 1;
        for (int r = 0; r < plan.Rows; r++)
        {
            int oc = plan.Offset(0, r), o = r * inner;
            for (int j = 0; j < inner; j++) f[o + j] = (c[oc + j * sc] != 0f) == whenTrue ? g[o + j] : 0f;
        }
        plan.ReduceTo(operand, f, gradInput);
    }
}

/// <summary>Trilu(x, k): keeps the upper (attribute <c>upper</c>=1, default) or lower triangle of the last two dimensions.</summary>
internal sealed class TriluOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand == 0;

    private static void Mask(OpCall call, ReadOnlySpan<float> src, Span<float> dst)
    {
        var shape = call.OutputShape;
        int rows = shape[^2], cols = shape[^1];
        long k = call.HasOperand(1) ? call.InputLongs(1)[0] : 0;
        bool upper = call.Attr("upper", 1L) != 0;
        int mats = src.Length / Math.Max(1, rows * cols);
        for (int m = 0; m < mats; m++)
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                {
                    int at = (m * rows + i) * cols + j;
                    bool keep = upper ? j - i >= k : j - i <= k;
                    dst[at] = keep ? src[at] : 0f;
                }
    }

    public override void Forward(OpCall call, Tensor output) => Mask(call, call.Input(0).Span, output.Span);
    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput) => Mask(call, g, gradInput);
}

/// <summary>Constant, ConstantOfShape and Shape when they are planned rather than folded: values without gradient.</summary>
internal sealed class ConstantOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => false;

    public override void Forward(OpCall call, Tensor output)
    {
        var y = output.Span;
        if (call.Node.Op == "Shape")
        {
            var s = call.InputShape(0);
            for (int i = 0; i < y.Length; i++) y[i] = s[i];
            return;
        }
        ConstantValues.Fill(call.Node, y);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput) => gradInput.Clear();
}

/// <summary>Reads the value of a constant node from its attributes (ONNX <c>value</c>, <c>value_float(s)</c>, <c>value_int(s)</c>).</summary>
internal static class ConstantValues
{
    /// <summary>Fills <paramref name="dst"/> with the node's constant value (a single value is broadcast); false when the node has none.</summary>
    public static bool Fill(Node node, Span<float> dst)
    {
        foreach (var key in new[] { "value", "value_floats", "value_ints", "value_float", "value_int" })
        {
            if (!node.Attributes.TryGetValue(key, out var v)) continue;
            switch (v)
            {
                case float[] f: Spread(f.Select(x => x).ToArray(), dst, node); return true;
                case double[] d: Spread(d.Select(x => (float)x).ToArray(), dst, node); return true;
                case long[] l: Spread(l.Select(x => (float)x).ToArray(), dst, node); return true;
                case int[] i: Spread(i.Select(x => (float)x).ToArray(), dst, node); return true;
                case float f1: dst.Fill(f1); return true;
                case double d1: dst.Fill((float)d1); return true;
                case long l1: dst.Fill(l1); return true;
                case int i1: dst.Fill(i1); return true;
            }
        }
        if (node.Op == "ConstantOfShape") { dst.Clear(); return true; }
        return false;
    }

    private static void Spread(float[] values, Span<float> dst, Node node)
    {
        if (values.Length == dst.Length) values.CopyTo(dst);
        else if (values.Length == 1) dst.Fill(values[0]);
        else throw new GraphFormatException(null, $"tensor '{node.Name}'", $"constant has {values.Length} values but its shape holds {dst.Length}");
    }
}
