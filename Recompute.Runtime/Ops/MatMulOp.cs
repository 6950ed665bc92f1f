using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// MatMul with NumPy semantics: [..., M, K] × [..., K, N] with broadcast batch dimensions (1-D operands are
/// promoted). Operands are read through their strides (<see cref="OpCall.InputStrides"/>): a row and a column stride
/// per matrix and one stride per batch axis, so a transposed view ([B, T, H, D] read as [B, H, T, D], a weight read as
/// Bᵀ) is multiplied where it lies, and its gradient is written at the same strides, in its base's layout. When B has
/// no batch dimensions (a weight) and A is row-major, the batch of A is folded into M: one GEMM.
/// </summary>
internal sealed class MatMulOp : Operator
{
    /// <summary>One operand: its matrix strides and, per output batch axis, its batch stride (0 where broadcast).</summary>
    private sealed record Matrix(int RowStride, int ColStride, int[] BatchStrides, int Batches);

    private sealed record Geometry(int M, int N, int K, int[] OutBatch, Matrix A, Matrix B, bool Fold);

    private static Geometry Shape(OpCall call)
    {
        var a = call.InputShape(0); var b = call.InputShape(1);
        var sa = call.InputStrides(0); var sb = call.InputStrides(1);
        // A 1-D operand is row-major (a view is at least 2-D): [K] is one row of A, or one column of B.
        int[] a2 = a.Length == 1 ? [1, a[0]] : a, sa2 = a.Length == 1 ? [a[0], 1] : sa;
        int[] b2 = b.Length == 1 ? [b[0], 1] : b, sb2 = b.Length == 1 ? [1, 1] : sb;
        int m = a2[^2], k = a2[^1], n = b2[^1];
        if (b2[^2] != k) throw new InvalidOperationException($"'{call.Node.Name}' (MatMul): inner dimensions {k} and {b2[^2]} differ");
        var ab = a2[..^2]; var bb = b2[..^2];
        var outBatch = Broadcast.Shape(ab, bb);
        return new Geometry(m, n, k, outBatch, Operand(outBatch, ab, sa2), Operand(outBatch, bb, sb2), bb.Length == 0 && !call.IsStrided(0));
    }

    private static Matrix Operand(int[] outBatch, int[] batch, int[] strides)
    {
        var batchStrides = new int[outBatch.Length];
        int shift = outBatch.Length - batch.Length;
        for (int d = 0; d < batch.Length; d++) batchStrides[d + shift] = batch[d] == 1 ? 0 : strides[d];
        return new Matrix(strides[^2], strides[^1], batchStrides, Tensor.SizeOf(batch));
    }

    /// <summary>Visits every output batch (row-major) with the element offsets of its A and B matrices.</summary>
    private static IEnumerable<(int Out, int A, int B)> Batches(Geometry g)
    {
        int count = Tensor.SizeOf(g.OutBatch);
        var index = new int[g.OutBatch.Length];
        for (int o = 0; o < count; o++)
        {
            int ia = 0, ib = 0;
            for (int d = 0; d < index.Length; d++) { ia += index[d] * g.A.BatchStrides[d]; ib += index[d] * g.B.BatchStrides[d]; }
            yield return (o, ia, ib);
            for (int d = index.Length - 1; d >= 0 && ++index[d] == g.OutBatch[d]; d--) index[d] = 0;
        }
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var g = Shape(call);
        var a = call.Input(0).Span; var b = call.Input(1).Span; var y = output.Span;
        if (g.Fold) { Gemm.MultiplyStrided(a, g.K, 1, b, g.B.RowStride, g.B.ColStride, y, g.N, 1, g.A.Batches * g.M, g.N, g.K); return; }
        int sy = g.M * g.N;
        foreach (var (o, ia, ib) in Batches(g))
            Gemm.MultiplyStrided(a[ia..], g.A.RowStride, g.A.ColStride, b[ib..], g.B.RowStride, g.B.ColStride, y.Slice(o * sy, sy), g.N, 1, g.M, g.N, g.K);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> grad, int operand, Span<float> gradInput)
    {
        var g = Shape(call);
        int sy = g.M * g.N, outBatches = Tensor.SizeOf(g.OutBatch);
        if (operand == 0)
        {
            var b = call.Input(1).Span;
            // dA = dY · Bᵀ, written at A's strides.
            if (g.Fold) { Gemm.MultiplyStrided(grad, g.N, 1, b, g.B.ColStride, g.B.RowStride, gradInput, g.K, 1, g.A.Batches * g.M, g.K, g.N); return; }
            // A broadcast over a batch axis gets the sum over it.
            bool sum = g.A.Batches != outBatches;
            if (sum) gradInput.Clear();
            foreach (var (o, ia, ib) in Batches(g))
                Gemm.MultiplyStrided(grad.Slice(o * sy, sy), g.N, 1, b[ib..], g.B.ColStride, g.B.RowStride, gradInput[ia..], g.A.RowStride, g.A.ColStride,
                    g.M, g.K, g.N, beta: sum ? 1f : 0f);
        }
        else
        {
            var a = call.Input(0).Span;
            // dB = Aᵀ · dY, written at B's strides (a weight read as Bᵀ gets dY'ᵀ·A in its own [N, K] layout).
            if (g.Fold) { Gemm.MultiplyStrided(a, 1, g.K, grad, g.N, 1, gradInput, g.B.RowStride, g.B.ColStride, g.K, g.N, g.A.Batches * g.M); return; }
            bool sum = g.B.Batches != outBatches;
            if (sum) gradInput.Clear();
            foreach (var (o, ia, ib) in Batches(g))
                Gemm.MultiplyStrided(a[ia..], g.A.ColStride, g.A.RowStride, grad.Slice(o * sy, sy), g.N, 1, gradInput[ib..], g.B.RowStride, g.B.ColStride,
                    g.K, g.N, g.M, beta: sum ? 1f : 0f);
        }
    }
}

/// <summary>ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C, with <c>transA</c>, <c>transB</c> and a broadcast C.</summary>
internal sealed class GemmOp : Operator
{

    /// <summary>Sizes, and the strides of op(A) (m×k) and op(B) (k×n) in their buffers; the gradient of op(A) lies at
    /// op(A)'s strides in the gradient buffer whether or not transA is set (and likewise for B).</summary>
    private static (int M, int N, int K, (int R, int C) A, (int R, int C) B, float Alpha, float Beta) Geometry(OpCall call)
    {
        var a = call.InputShape(0); var b = call.InputShape(1);
        var sa = call.InputStrides(0); var sb = call.InputStrides(1);
        bool ta = call.Attr("transA", 0L) != 0, tb = call.Attr("transB", 0L) != 0;
        int m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], n = tb ? b[0] : b[1];
        return (m, n, k, ta ? (sa[1], sa[0]) : (sa[0], sa[1]), tb ? (sb[1], sb[0]) : (sb[0], sb[1]),
            (float)call.Attr("alpha", 1.0), (float)call.Attr("beta", 1.0));
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (m, n, k, sa, sb, alpha, beta) = Geometry(call);
        var y = output.Span;
        float b0 = 0f;
        if (call.HasOperand(2) && beta != 0f)
        {
            var plan = new Broadcast([m, n], call.InputShape(2));
            var c = call.Input(2).Span;
            int s = plan.InnerStrides[0];
            for (int r = 0; r < m; r++)
            {
                int o = plan.Offset(0, r);
                for (int j = 0; j < n; j++) y[r * n + j] = c[o + j * s];
            }
            b0 = beta;
        }
        Gemm.MultiplyStrided(call.Input(0).Span, sa.R, sa.C, call.Input(1).Span, sb.R, sb.C, y, n, 1, m, n, k, alpha, b0);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (m, n, k, sa, sb, alpha, beta) = Geometry(call);
        switch (operand)
        {
            case 0: // d op(A) = dY·op(B)ᵀ
                Gemm.MultiplyStrided(g, n, 1, call.Input(1).Span, sb.C, sb.R, gradInput, sa.R, sa.C, m, k, n, alpha);
                break;
            case 1: // d op(B) = op(A)ᵀ·dY
                Gemm.MultiplyStrided(call.Input(0).Span, sa.C, sa.R, g, n, 1, gradInput, sb.R, sb.C, k, n, m, alpha);
                break;
            default:
            {
                var plan = new Broadcast([m, n], call.InputShape(2));
                plan.ReduceTo(0, g, gradInput);
                if (beta != 1f) for (int i = 0; i < gradInput.Length; i++) gradInput[i] *= beta;
                break;
            }
        }
    }
}
