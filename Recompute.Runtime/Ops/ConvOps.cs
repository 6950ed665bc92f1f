using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// 2-D convolution (NCHW, weights [M, C/group, KH, KW], optional bias) by im2col and GEMM per image and group.
/// Attributes: <c>strides</c>, <c>pads</c>, <c>dilations</c>, <c>group</c>, <c>kernel_shape</c>, <c>auto_pad</c>.
/// The backward reads x (for the weight gradient) and the weights.
/// </summary>
internal sealed class ConvOp : Operator
{
    public override IReadOnlyList<int> BackwardReads => [0, 1];

    private sealed record Geometry(int N, int C, int M, int Groups, Window2d Window)
    {
        public int Cg => C / Groups;
        public int Mg => M / Groups;
        public int ColRows => Cg * Window.KernelArea;
        public int InImage => C * Window.H * Window.W;
        public int OutImage => M * Window.OutArea;
    }

    private static Geometry Shape(OpCall call)
    {
        var x = call.InputShape(0); var w = call.InputShape(1); var y = call.OutputShape;
        if (x.Length != 4) throw new InvalidOperationException($"'{call.Node.Name}' (Conv): only 2-D convolutions (rank-4 tensors) are supported, got rank {x.Length}");
        int groups = (int)call.Attr("group", 1L);
        return new Geometry(x[0], x[1], w[0], groups, Window2d.From(call, x[2], x[3], y[2], y[3], w[2], w[3]));
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var g = Shape(call);
        var x = call.Input(0).Span; var w = call.Input(1).Span; var y = output.Span;
        int area = g.Window.OutArea, wg = g.Mg * g.ColRows;
        using var col = call.Scratch(g.ColRows * area);
        for (int n = 0; n < g.N; n++)
            for (int gr = 0; gr < g.Groups; gr++)
            {
                Im2Col.Expand(x.Slice(n * g.InImage + gr * g.Cg * g.Window.H * g.Window.W, g.Cg * g.Window.H * g.Window.W), g.Cg, g.Window, col.Span);
                Gemm.Multiply(w.Slice(gr * wg, wg), col.Span, y.Slice(n * g.OutImage + gr * g.Mg * area, g.Mg * area), g.Mg, area, g.ColRows);
            }
        if (call.HasOperand(2))
        {
            var b = call.Input(2).Span;
            for (int n = 0; n < g.N; n++)
                for (int m = 0; m < g.M; m++)
                {
                    var plane = y.Slice(n * g.OutImage + m * area, area);
                    float bias = b[m];
                    for (int i = 0; i < area; i++) plane[i] += bias;
                }
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> dy, int operand, Span<float> gradInput)
    {
        var g = Shape(call);
        int area = g.Window.OutArea, wg = g.Mg * g.ColRows, plane = g.Window.H * g.Window.W;
        if (operand == 2)
        {
            gradInput.Clear();
            for (int n = 0; n < g.N; n++)
                for (int m = 0; m < g.M; m++)
                {
                    float s = 0f;
                    foreach (var v in dy.Slice(n * g.OutImage + m * area, area)) s += v;
                    gradInput[m] += s;
                }
            return;
        }
        using var col = call.Scratch(g.ColRows * area);
        if (operand == 0)
        {
            var w = call.Input(1).Span;
            gradInput.Clear();
            for (int n = 0; n < g.N; n++)
                for (int gr = 0; gr < g.Groups; gr++)
                {
                    // dcol = W_gᵀ · dY_g, then scatter the columns back to the image.
                    Gemm.Multiply(w.Slice(gr * wg, wg), dy.Slice(n * g.OutImage + gr * g.Mg * area, g.Mg * area), col.Span, g.ColRows, area, g.Mg, transA: true);
                    Im2Col.Accumulate(col.Span, g.Cg, g.Window, gradInput.Slice(n * g.InImage + gr * g.Cg * plane, g.Cg * plane));
                }
        }
        else
        {
            var x = call.Input(0).Span;
            for (int n = 0; n < g.N; n++)
                for (int gr = 0; gr < g.Groups; gr++)
                {
                    // dW_g += dY_g · colᵀ
                    Im2Col.Expand(x.Slice(n * g.InImage + gr * g.Cg * plane, g.Cg * plane), g.Cg, g.Window, col.Span);
                    Gemm.Multiply(dy.Slice(n * g.OutImage + gr * g.Mg * area, g.Mg * area), col.Span, gradInput.Slice(gr * wg, wg),
                        g.Mg, g.ColRows, area, transB: true, beta: n == 0 ? 0f : 1f);
                }
        }
    }
}

/// <summary>
/// 2-D transposed convolution (weights [C, M/group, KH, KW]): the adjoint of a convolution from the output image
/// to the input, by GEMM and col2im. Output geometry (including <c>output_padding</c>) comes from the graph's shape.
/// </summary>
internal sealed class ConvTransposeOp : Operator
{
    public override IReadOnlyList<int> BackwardReads => [0, 1];

    private sealed record Geometry(int N, int C, int M, int Groups, Window2d Window)
    {
        public int Cg => C / Groups;
        public int Mg => M / Groups;
        /// <summary>Column rows: output channels of a group × kernel area.</summary>
        public int ColRows => Mg * Window.KernelArea;
        /// <summary>Input spatial area (the columns).</summary>
        public int InArea => Window.OutArea;
        public int OutPlane => Window.H * Window.W;
    }

    private static Geometry Shape(OpCall call)
    {
        var x = call.InputShape(0); var w = call.InputShape(1); var y = call.OutputShape;
        if (x.Length != 4) throw new InvalidOperationException($"'{call.Node.Name}' (ConvTranspose): only 2-D (rank-4) tensors are supported, got rank {x.Length}");
        int groups = (int)call.Attr("group", 1L);
        // The "image" of the window is the output; the window positions are the input pixels.
        return new Geometry(x[0], x[1], w[1] * groups, groups, Window2d.From(call, y[2], y[3], x[2], x[3], w[2], w[3]));
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var g = Shape(call);
        var x = call.Input(0).Span; var w = call.Input(1).Span; var y = output.Span;
        int wg = g.Cg * g.ColRows;
        using var col = call.Scratch(g.ColRows * g.InArea);
        for (int n = 0; n < g.N; n++)
            for (int gr = 0; gr < g.Groups; gr++)
            {
                // col = W_gᵀ · x_g, then scatter into the output image.
                Gemm.Multiply(w.Slice(gr * wg, wg), x.Slice((n * g.C + gr * g.Cg) * g.InArea, g.Cg * g.InArea), col.Span, g.ColRows, g.InArea, g.Cg, transA: true);
                Im2Col.Accumulate(col.Span, g.Mg, g.Window, y.Slice((n * g.M + gr * g.Mg) * g.OutPlane, g.Mg * g.OutPlane));
            }
        if (call.HasOperand(2))
        {
            var b = call.Input(2).Span;
            for (int n = 0; n < g.N; n++)
                for (int m = 0; m < g.M; m++)
                {
                    var plane = y.Slice((n * g.M + m) * g.OutPlane, g.OutPlane);
                    for (int i = 0; i < plane.Length; i++) plane[i] += b[m];
                }
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> dy, int operand, Span<float> gradInput)
    {
        var g = Shape(call);
        int wg = g.Cg * g.ColRows;
        if (operand == 2)
        {
            gradInput.Clear();
            for (int n = 0; n < g.N; n++)
                for (int m = 0; m < g.M; m++)
                {
                    float s = 0f;
                    foreach (var v in dy.Slice((n * g.M + m) * g.OutPlane, g.OutPlane)) s += v;
                    gradInput[m] += s;
                }
            return;
        }
        using var col = call.Scratch(g.ColRows * g.InArea);
        if (operand == 0)
        {
            var w = call.Input(1).Span;
            for (int n = 0; n < g.N; n++)
                for (int gr = 0; gr < g.Groups; gr++)
                {
                    // dx_g = W_g · im2col(dY_g): a plain convolution of the output gradient.
                    Im2Col.Expand(dy.Slice((n * g.M + gr * g.Mg) * g.OutPlane, g.Mg * g.OutPlane), g.Mg, g.Window, col.Span);
                    Gemm.Multiply(w.Slice(gr * wg, wg), col.Span, gradInput.Slice((n * g.C + gr * g.Cg) * g.InArea, g.Cg * g.InArea), g.Cg, g.InArea, g.ColRows);
                }
        }
        else
        {
            var x = call.Input(0).Span;
            for (int n = 0; n < g.N; n++)
                for (int gr = 0; gr < g.Groups; gr++)
                {
                    // dW_g += x_g · im2col(dY_g)ᵀ
                    Im2Col.Expand(dy.Slice((n * g.M + gr * g.Mg) * g.OutPlane, g.Mg * g.OutPlane), g.Mg, g.Window, col.Span);
                    Gemm.Multiply(x.Slice((n * g.C + gr * g.Cg) * g.InArea, g.Cg * g.InArea), col.Span, gradInput.Slice(gr * wg, wg),
                        g.Cg, g.ColRows, g.InArea, transB: true, beta: n == 0 ? 0f : 1f);
                }
        }
    }
}
