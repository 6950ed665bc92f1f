using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Recompute.Planner.Graph;
using Recompute.Runtime.Kernels;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>MaxPool and AveragePool over 2-D windows (NCHW). The output size (including <c>ceil_mode</c>) comes from the graph's shape.</summary>
internal sealed class PoolOp : Operator
{
    private readonly bool _max;

    public PoolOp(bool max) { _max = max; }


    private static (int Planes, Window2d W) Geometry(OpCall call)
    {
        var x = call.InputShape(0); var y = call.OutputShape;
        if (x.Length != 4) throw new InvalidOperationException($"'{call.Node.Name}' ({call.Node.Op}): only 2-D pooling (rank-4 tensors) is supported");
        var k = call.Attrs("kernel_shape");
        if (k.Length < 2) throw new InvalidOperationException($"'{call.Node.Name}' ({call.Node.Op}): attribute kernel_shape is missing");
        return (x[0] * x[1], Window2d.From(call, x[2], x[3], y[2], y[3], (int)k[0], (int)k[1]));
    }

    /// <summary>Taps of window (oy, ox) that fall inside the image, and the divisor of an average.</summary>
    private static (int Y0, int Y1, int X0, int X1) Clip(in Window2d w, int oy, int ox)
    {
        int y0 = oy * w.SH - w.PH, x0 = ox * w.SW - w.PW;
        return (y0, y0 + (w.KH - 1) * w.DH, x0, x0 + (w.KW - 1) * w.DW);
    }

    private int Divisor(OpCall call, in Window2d w, int y0, int x0)
    {
        if (call.Attr("count_include_pad", 0L) != 0)
        {
            // Taps inside the padded image count; taps beyond the padding (ceil mode) do not.
            int cy = 0, cx = 0;
            for (int ky = 0; ky < w.KH; ky++) { int iy = y0 + ky * w.DH; if (iy >= -w.PH && iy < w.H + w.PH) cy++; }
            for (int kx = 0; kx < w.KW; kx++) { int ix = x0 + kx * w.DW; if (ix >= -w.PW && ix < w.W + w.PW) cx++; }
            return cy * cx;
        }
        int ny = 0, nx = 0;
        for (int ky = 0; ky < w.KH; ky++) { int iy = y0 + ky * w.DH; if (iy >= 0 && iy < w.H) ny++; }
        for (int kx = 0; kx < w.KW; kx++) { int ix = x0 + kx * w.DW; if (ix >= 0 && ix < w.W) nx++; }
        return ny * nx;
    }

    public override void Forward(OpCall call, Tensor output)
    {
        var (planes, w) = Geometry(call);
        var input = call.Input(0);
        bool indices = _max && call.Node.OutputIndex == 1;
        // Planes are independent: each thread takes a range of them, with the serial arithmetic.
        ParallelRanges.For(planes, input.Length, (from, to) => ForwardPlanes(call, w, input.Span, output.Span, indices, from, to));
    }

    private void ForwardPlanes(OpCall call, in Window2d w, ReadOnlySpan<float> x, Span<float> y, bool indices, int from, int to)
    {
        int hw = w.H * w.W;
        for (int p = from; p < to; p++)
        {
            var img = x.Slice(p * hw, hw);
            for (int oy = 0; oy < w.OutH; oy++)
                for (int ox = 0; ox < w.OutW; ox++)
                {
                    var (y0, _, x0, _) = Clip(w, oy, ox);
                    int at = (p * w.OutH + oy) * w.OutW + ox;
                    if (_max)
                    {
                        int arg = ArgMax(img, w, y0, x0);
                        y[at] = indices ? p * hw + arg : arg >= 0 ? img[arg] : float.NegativeInfinity;
                    }
                    else
                    {
                        float s = 0f;
                        for (int ky = 0; ky < w.KH; ky++)
                        {
                            int iy = y0 + ky * w.DH;
                            if (iy < 0 || iy >= w.H) continue;
                            for (int kx = 0; kx < w.KW; kx++)
                            {
                                int ix = x0 + kx * w.DW;
                                if (ix >= 0 && ix < w.W) s += img[iy * w.W + ix];
                            }
                        }
                        y[at] = s / Math.Max(1, Divisor(call, w, y0, x0));
                    }
                }
        }
    }

    /// <summary>Position of the first largest tap inside the image, or -1 when the window is all padding. The first tap
    /// is taken, then a later one only when strictly larger: the compare feeds selects rather than a branch, which
    /// random data would mispredict at about every other tap.</summary>
    private static int ArgMax(ReadOnlySpan<float> img, in Window2d w, int y0, int x0)
    {
        int ky0 = FirstInside(y0, w.DH), ky1 = EndInside(y0, w.DH, w.KH, w.H);
        int kx0 = FirstInside(x0, w.DW), kx1 = EndInside(x0, w.DW, w.KW, w.W);
        if (ky0 >= ky1 || kx0 >= kx1) return -1;
        ref float origin = ref MemoryMarshal.GetReference(img);
        int arg = (y0 + ky0 * w.DH) * w.W + x0 + kx0 * w.DW;
        float best = Unsafe.Add(ref origin, arg);
        for (int ky = ky0; ky < ky1; ky++)
        {
            int row = (y0 + ky * w.DH) * w.W + x0;
            for (int kx = kx0; kx < kx1; kx++)
            {
                int at = row + kx * w.DW;
                float v = Unsafe.Add(ref origin, at);
                bool larger = v > best;
                best = larger ? v : best;
                arg = larger ? at : arg;
            }
        }
        return arg;
    }

    /// <summary>The first tap k with start + k·step ≥ 0.</summary>
    private static int FirstInside(int start, int step) => start >= 0 ? 0 : (-start + step - 1) / step;

    /// <summary>One past the last tap k &lt; taps with start + k·step &lt; size (at most the first inside when none is).</summary>
    private static int EndInside(int start, int step, int taps, int size) =>
        start >= size ? 0 : Math.Min(taps, (size - 1 - start) / step + 1);

    public override unsafe void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (planes, w) = Geometry(call);
        var input = _max ? call.Input(0) : null;
        fixed (float* pg = g)
        fixed (float* pd = gradInput)
        {
            nint gp = (nint)pg, dp = (nint)pd;
            int gLength = g.Length, dLength = gradInput.Length;
            ParallelRanges.For(planes, dLength, (from, to) => BackwardPlanes(call, w, new ReadOnlySpan<float>((float*)gp, gLength),
                input is null ? default : input.Span, new Span<float>((float*)dp, dLength), from, to));
        }
    }

    private void BackwardPlanes(OpCall call, in Window2d w, ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> gradInput, int from, int to)
    {
        int hw = w.H * w.W;
        gradInput[(from * hw)..(to * hw)].Clear();
        for (int p = from; p < to; p++)
        {
            var dimg = gradInput.Slice(p * hw, hw);
            for (int oy = 0; oy < w.OutH; oy++)
                for (int ox = 0; ox < w.OutW; ox++)
                {
                    var (y0, _, x0, _) = Clip(w, oy, ox);
                    float gv = g[(p * w.OutH + oy) * w.OutW + ox];
                    if (_max)
                    {
                        int arg = ArgMax(x.Slice(p * hw, hw), w, y0, x0);
                        if (arg >= 0) dimg[arg] += gv;
                        continue;
                    }
                    float share = gv / Math.Max(1, Divisor(call, w, y0, x0));
                    for (int ky = 0; ky < w.KH; ky++)
                    {
                        int iy = y0 + ky * w.DH;
                        if (iy < 0 || iy >= w.H) continue;
                        for (int kx = 0; kx < w.KW; kx++)
                        {
                            int ix = x0 + kx * w.DW;
                            if (ix >= 0 && ix < w.W) dimg[iy * w.W + ix] += share;
                        }
                    }
                }
        }
    }
}

/// <summary>GlobalAveragePool: the mean of each (n, c) plane.</summary>
internal sealed class GlobalAveragePoolOp : Operator
{

    public override void Forward(OpCall call, Tensor output)
    {
        var x = call.Input(0).Span; var y = output.Span;
        int area = x.Length / y.Length;
        for (int p = 0; p < y.Length; p++)
        {
            float s = 0f;
            foreach (var v in x.Slice(p * area, area)) s += v;
            y[p] = s / area;
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        int area = gradInput.Length / g.Length;
        for (int p = 0; p < g.Length; p++) gradInput.Slice(p * area, area).Fill(g[p] / area);
    }
}
