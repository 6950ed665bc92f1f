using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// MatMul with NumPy semantics: [..., M, K] × [..., K, N] with broadcast batch dimensions (1-D operands are
/// promoted). When B has no batch dimensions (a weight), the batch of A is folded into M: one GEMM.
/// </summary>
internal sealed class MatMulOp : Operator
{

    private sealed record Geometry(int M, int N, int K, int[] OutBatch, Broadcast Batches, int ABatchSize, int BBatchSize, bool BIsMatrix);

    private static Geometry Shape(OpCall call)
    {
        var a = call.InputShape(0); var b = call.InputShape(1);
        int[] a2 = a.Length == 1 ? [1, a[0]] : a;
        int[] b2 = b.Length == 1 ? [b[0], 1] : b;
        int m = a2[^2], k = a2[^1], n = b2[^1];
        if (b2[^2] != k) throw new InvalidOperationException($"'{call.Node.Name}' (MatMul): inner dimensions {k} and {b2[^2]} differ");
        var ab = a2[..^2]; var bb = b2[..^2];
        var outBatch = Broadcast.Shape(ab, bb);
        return new Geometry(m, n, k, outBatch, new Broadcast(outBatch.Length == 0 ? [1] : outBatch, ab, bb),
            Tensor.SizeOf(ab), Tensor.SizeOf(bb), bb.Length == 0);
    }

    /// <summary>Visits every output batch with the batch offsets (in matrices) of A and B.</summary>
    private static IEnumerable<(int Out, int A, int B)> Batches(Geometry g)
    {
        var p = g.Batches;
        for (int r = 0, o = 0; r < p.Rows; r++)
        {
            int oa = p.Offset(0, r), ob = p.Offset(1, r);
            for (int j = 0; j < p.Inner; j++, o++) yield return (o, oa + j * p.InnerStrides[0], ob + j * p.InnerStrides[1]);
        }
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var g = Shape(call);
        var a = call.Input(0).Span; var b = call.Input(1).Span; var y = output.Span;
        if (g.BIsMatrix) { Gemm.Multiply(a, b, y, g.ABatchSize * g.M, g.N, g.K); return; }
        int sa = g.M * g.K, sb = g.K * g.N, sy = g.M * g.N;
        foreach (var (o, ia, ib) in Batches(g))
            Gemm.Multiply(a.Slice(ia * sa, sa), b.Slice(ib * sb, sb), y.Slice(o * sy, sy), g.M, g.N, g.K);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> grad, int operand, Span<float> gradInput)
    {
        var g = Shape(call);
        int sa = g.M * g.K, sb = g.K * g.N, sy = g.M * g.N;
        if (operand == 0)
        {
            var b = call.Input(1).Span;
            // dA = dY · Bᵀ
            if (g.BIsMatrix) { Gemm.Multiply(grad, b, gradInput, g.ABatchSize * g.M, g.K, g.N, transB: true); return; }
            gradInput.Clear();
            foreach (var (o, ia, ib) in Batches(g))
                Gemm.Multiply(grad.Slice(o * sy, sy), b.Slice(ib * sb, sb), gradInput.Slice(ia * sa, sa), g.M, g.K, g.N, transB: true, beta: 1f);
        }
        else
        {
            var a = call.Input(0).Span;
            // dB = Aᵀ · dY
            if (g.BIsMatrix) { Gemm.Multiply(a, grad, gradInput, g.K, g.N, g.ABatchSize * g.M, transA: true); return; }
            gradInput.Clear();
            foreach (var (o, ia, ib) in Batches(g))
                Gemm.Multiply(a.Slice(ia * sa, sa), grad.Slice(o * sy, sy), gradInput.Slice(ib * sb, sb), g.K, g.N, g.M, transA: true, beta: 1f);
        }
    }
}

/// <summary>ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C, with <c>transA</c>, <c>transB</c> and a broadcast C.</summary>
internal sealed class GemmOp : Operator
{

    private static (int M, int N, int K, bool TA, bool TB, float Alpha, float Beta) Geometry(OpCall call)
    {
        var a = call.InputShape(0); var b = call.InputShape(1);
        bool ta = call.Attr("transA", 0L) != 0, tb = call.Attr("transB", 0L) != 0;
        int m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], n = tb ? b[0] : b[1];
        return (m, n, k, ta, tb, (float)call.Attr("alpha", 1.0), (float)call.Attr("beta", 1.0));
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (m, n, k, ta, tb, alpha, beta) = Geometry(call);
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
        Gemm.Multiply(call.Input(0).Span, call.Input(1).Span, y, m, n, k, ta, tb, alpha, b0);
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (m, n, k, ta, tb, alpha, beta) = Geometry(call);
        switch (operand)
        {
            case 0:
            {
                var b = call.Input(1).Span;
                if (!ta) Gemm.Multiply(g, b, gradInput, m, k, n, transB: !tb, alpha: alpha);        // dA = dY·op(B)ᵀ
                else Gemm.Multiply(b, g, gradInput, k, m, n, transA: tb, transB: true, alpha: alpha); // dAᵀ = op(B)·dYᵀ
                break;
            }
            case 1:
            {
                var a = call.Input(0).Span;
                if (!tb) Gemm.Multiply(a, g, gradInput, k, n, m, transA: !ta, alpha: alpha);          // dB = op(A)ᵀ·dY
                else Gemm.Multiply(g, a, gradInput, n, k, m, transA: true, transB: ta, alpha: alpha);  // dBᵀ = dYᵀ·op(A)
                break;
            }
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
