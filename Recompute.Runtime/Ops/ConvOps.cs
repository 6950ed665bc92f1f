using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// 2-D convolution (NCHW, weights [M, C/group, KH, KW], optional bias) on the optimised <see cref="Conv2d"/> kernels.
/// Attributes: <c>strides</c>, <c>pads</c>, <c>dilations</c>, <c>group</c>, <c>kernel_shape</c>, <c>auto_pad</c>.
/// The backward reads x (for the weight gradient) and the weights.
/// </summary>
internal sealed class ConvOp : Operator
{

    private static Conv2dShape Shape(OpCall call)
    {
        var x = call.InputShape(0); var w = call.InputShape(1); var y = call.OutputShape;
        if (x.Length != 4) throw new InvalidOperationException($"'{call.Node.Name}' (Conv): only 2-D convolutions (rank-4 tensors) are supported, got rank {x.Length}");
        var window = Window2d.From(call, x[2], x[3], y[2], y[3], w[2], w[3]);
        return window.KernelShape(x[0], x[1], w[0], (int)call.Attr("group", 1L))
            ?? throw new InvalidOperationException($"'{call.Node.Name}' (Conv): the output size [{string.Join(",", y)}] does not follow from the attributes");
    }

    public override void Forward(OpCall call, Tensor output) =>
        Conv2d.Forward(Shape(call), call.Input(0).Span, call.Input(1).Span, call.HasOperand(2) ? call.Input(2).Span : default, output.Span);

    public override void Backward(OpCall call, ReadOnlySpan<float> dy, int operand, Span<float> gradInput)
    {
        var s = Shape(call);
        switch (operand)
        {
            case 0: Conv2d.BackwardData(s, dy, call.Input(1).Span, gradInput); break;
            case 1: Conv2d.BackwardWeights(s, call.Input(0).Span, dy, gradInput, default); break;
            default: BiasGradient(dy, s.Batch, s.OutChannels, s.OutHeight * s.OutWidth, gradInput); break;
        }
    }

    /// <summary>Sum of the output gradient over images and positions, per channel: vectorised plane sums, added across
    /// images in double (a bias before BatchNorm has an exactly-zero gradient, so its sum is all cancellation).</summary>
    internal static void BiasGradient(ReadOnlySpan<float> dy, int batch, int channels, int area, Span<float> gradBias)
    {
        for (int m = 0; m < channels; m++)
        {
            double s = 0;
            for (int n = 0; n < batch; n++) s += Reductions.Sum(dy.Slice((n * channels + m) * area, area));
            gradBias[m] = (float)s;
        }
    }
}

/// <summary>
/// 2-D transposed convolution (weights [C, M/group, KH, KW]) on the <see cref="ConvTranspose2d"/> kernels: the
/// adjoint of the convolution from this op's output to its input. Output geometry (including <c>output_padding</c>)
/// comes from the graph's shape.
/// </summary>
internal sealed class ConvTransposeOp : Operator
{

    /// <summary>The equivalent convolution: its image is this op's output, its output this op's input.</summary>
    private static Conv2dShape Shape(OpCall call)
    {
        var x = call.InputShape(0); var w = call.InputShape(1); var y = call.OutputShape;
        if (x.Length != 4) throw new InvalidOperationException($"'{call.Node.Name}' (ConvTranspose): only 2-D (rank-4) tensors are supported, got rank {x.Length}");
        int groups = (int)call.Attr("group", 1L);
        var window = Window2d.From(call, y[2], y[3], x[2], x[3], w[2], w[3]);
        return window.KernelShape(x[0], w[1] * groups, x[1], groups)
            ?? throw new InvalidOperationException($"'{call.Node.Name}' (ConvTranspose): the output size [{string.Join(",", y)}] does not follow from the attributes");
    }

    public override void Forward(OpCall call, Tensor output) =>
        ConvTranspose2d.Forward(Shape(call), call.Input(0).Span, call.Input(1).Span, call.HasOperand(2) ? call.Input(2).Span : default, output.Span);

    public override void Backward(OpCall call, ReadOnlySpan<float> dy, int operand, Span<float> gradInput)
    {
        var s = Shape(call);
        switch (operand)
        {
            case 0: ConvTranspose2d.BackwardData(s, dy, call.Input(1).Span, gradInput); break;
            case 1: ConvTranspose2d.BackwardWeights(s, call.Input(0).Span, dy, gradInput, default); break;
            default: ConvOp.BiasGradient(dy, s.Batch, s.InChannels, s.InHeight * s.InWidth, gradInput); break;
        }
    }
}
