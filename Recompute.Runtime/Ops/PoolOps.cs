using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    public override unsafe void Forward(OpCall call, Tensor output)
    {
        var (planes, w) = Geometry(call);
        var x = call.Input(0).Span; var y = output.Span;
        bool indices = _max && call.Node.OutputIndex == 1;
        // Planes are independent: each thread takes a range of them, with the serial arithmetic.
        fixed (float* px = x)
        fixed (float* py = y)
            ParallelRanges.For(planes, x.Length, new Planes(this, call, w, px, x.Length, py, y.Length, null, 0, indices, backward: false));
    }

    /// <summary>Planes [from, to) of the forward or of the backward (y then the input gradient), on pinned buffers.</summary>
    private readonly unsafe struct Planes(PoolOp op, OpCall call, Window2d w, float* x, int xLength, float* y, int yLength, float* g,
        int gLength, bool indices, bool backward) : IRangeBody
    {
        public void Run(int from, int to)
        {
            if (!backward)
                op.ForwardPlanes(call, w, new ReadOnlySpan<float>(x, xLength), new Span<float>(y, yLength), indices, from, to);
            else
                op.BackwardPlanes(call, w, new ReadOnlySpan<float>(g, gLength), new ReadOnlySpan<float>(x, xLength),
                    new Span<float>(y, yLength), from, to);
        }
    }

    /// <summary>What to do with one plane's window maxima and their positions in the plane (-1: only padding).</summary>
    private interface IPlaneMaxima
    {
        void Plane(int p, ReadOnlySpan<float> best, ReadOnlySpan<int> arg);
    }

    /// <summary>Finds the window maxima of planes [from, to) of <paramref name="x"/> with <see cref="PlaneArgMax"/> in
    /// buffers rented once for the range, and hands each plane's to <paramref name="use"/>: the forward and the
    /// backward of MaxPool differ only in that.</summary>
    private static void ForEachPlaneMaxima<T>(ReadOnlySpan<float> x, in Window2d w, int from, int to, T use) where T : struct, IPlaneMaxima
    {
        int hw = w.H * w.W, ohw = w.OutH * w.OutW;
        float[] best = ArrayPool<float>.Shared.Rent(ohw + Lanes);
        int[] arg = ArrayPool<int>.Shared.Rent(ohw + Lanes);
        float[] line = ArrayPool<float>.Shared.Rent(w.OutW + Lanes);
        try
        {
            for (int p = from; p < to; p++)
            {
                PlaneArgMax(x.Slice(p * hw, hw), w, best, arg, line);
                use.Plane(p, best.AsSpan(0, ohw), arg.AsSpan(0, ohw));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(best);
            ArrayPool<int>.Shared.Return(arg);
            ArrayPool<float>.Shared.Return(line);
        }
    }

    /// <summary>The forward's use of a plane's maxima: the values, or their flat positions in the input tensor.</summary>
    private readonly unsafe struct WriteMaxima(float* y, int hw, bool indices) : IPlaneMaxima
    {
        public void Plane(int p, ReadOnlySpan<float> best, ReadOnlySpan<int> arg)
        {
            var dst = new Span<float>(y + (long)p * best.Length, best.Length);
            if (!indices)
            {
                best.CopyTo(dst);
                return;
            }
            for (int i = 0; i < dst.Length; i++) dst[i] = arg[i] < 0 ? arg[i] : p * hw + arg[i];
        }
    }

    /// <summary>The backward's use: each window's gradient added at its maximum's position. Windows overlap, so several
    /// may pick one pixel: their gradients add in output order.</summary>
    private readonly unsafe struct ScatterGradient(float* g, float* dx, int hw) : IPlaneMaxima
    {
        public void Plane(int p, ReadOnlySpan<float> best, ReadOnlySpan<int> arg)
        {
            int ohw = arg.Length;
            var dimg = new Span<float>(dx + (long)p * hw, hw);
            var gp = new ReadOnlySpan<float>(g + (long)p * ohw, ohw);
            for (int i = 0; i < ohw; i++)
                if (arg[i] >= 0) dimg[arg[i]] += gp[i];
        }
    }

    /// <summary>Planes [from, to): max pooling through <see cref="PlaneArgMax"/>, average pooling window by window.
    /// Indices are flat positions in the input tensor, -1 for a window that covers only padding.</summary>
    private unsafe void ForwardPlanes(OpCall call, in Window2d w, ReadOnlySpan<float> x, Span<float> y, bool indices, int from, int to)
    {
        int hw = w.H * w.W, ohw = w.OutH * w.OutW;
        if (_max)
        {
            fixed (float* py = y)
                ForEachPlaneMaxima(x, w, from, to, new WriteMaxima(py, hw, indices));
            return;
        }
        for (int p = from; p < to; p++)
        {
            var img = x.Slice(p * hw, hw);
            for (int oy = 0; oy < w.OutH; oy++)
                for (int ox = 0; ox < w.OutW; ox++)
                {
                    var (y0, _, x0, _) = Clip(w, oy, ox);
                    int at = (p * w.OutH + oy) * w.OutW + ox;
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

    private static readonly int Lanes = Vector256<float>.Count;

    /// <summary>
    /// Every window's maximum and its position in one plane (-∞ and -1 for a window that covers only padding), with
    /// the taps in the outer loop: a tap's valid windows form a rectangle, whose rows are contiguous output runs that
    /// read evenly spaced input pixels, so each run is compared eight windows at a time with selects. A window takes
    /// its first valid tap, then a later one only when strictly larger: with taps in row-major order, the first
    /// largest tap (as <see cref="MaxPool2d"/> picks it).
    /// </summary>
    private static void PlaneArgMax(ReadOnlySpan<float> img, in Window2d w, float[] best, int[] arg, float[] line)
    {
        if (Avx512F.IsSupported && (w.SW == 1 || w.SW == 2) && w.OutW >= Wide)
        {
            PlaneArgMaxByRows(img, w, best, arg);
            return;
        }
        int ohw = w.OutH * w.OutW;
        best.AsSpan(0, ohw).Fill(float.NegativeInfinity);
        arg.AsSpan(0, ohw).Fill(-1);
        {
            var ramp = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * w.SW;
            for (int ky = 0; ky < w.KH; ky++)
            {
                int offH = ky * w.DH - w.PH;
                var (yFirst, yEnd) = Valid(offH, w.SH, w.H, w.OutH);
                for (int kx = 0; kx < w.KW; kx++)
                {
                    int offW = kx * w.DW - w.PW;
                    var (xFirst, xEnd) = Valid(offW, w.SW, w.W, w.OutW);
                    if (xFirst >= xEnd) continue;
                    for (int oy = yFirst; oy < yEnd; oy++)
                    {
                        int rowStart = (oy * w.SH + offH) * w.W;
                        var src = img.Slice(rowStart, w.W);
                        // The run's input pixels side by side: a copy for stride 1, a gather otherwise.
                        var values = line.AsSpan(0, w.OutW);
                        if (w.SW == 1) src.Slice(xFirst + offW, xEnd - xFirst).CopyTo(values[xFirst..]);
                        else if (w.SW == 2) Kernels.Conv2d.GatherStride2(src, offW, values, xFirst, xEnd);
                        else for (int ox = xFirst; ox < xEnd; ox++) values[ox] = src[ox * w.SW + offW];
                        int o = oy * w.OutW, ox0 = xFirst;
                        ref float pv = ref MemoryMarshal.GetReference(values);
                        ref float pb = ref best[0];
                        ref int pa = ref arg[0];
                        if (Vector256.IsHardwareAccelerated)
                            for (; ox0 + Lanes <= xEnd; ox0 += Lanes)
                            {
                                var v = Vector256.LoadUnsafe(ref pv, (nuint)ox0);
                                var b = Vector256.LoadUnsafe(ref pb, (nuint)(o + ox0));
                                var a = Vector256.LoadUnsafe(ref pa, (nuint)(o + ox0));
                                var take = Vector256.GreaterThan(v, b).AsInt32() | Vector256.LessThan(a, Vector256<int>.Zero);
                                var at = Vector256.Create(rowStart + ox0 * w.SW + offW) + ramp;
                                Vector256.ConditionalSelect(take.AsSingle(), v, b).StoreUnsafe(ref pb, (nuint)(o + ox0));
                                Vector256.ConditionalSelect(take, at, a).StoreUnsafe(ref pa, (nuint)(o + ox0));
                            }
                        for (; ox0 < xEnd; ox0++)
                        {
                            float v = values[ox0];
                            if (arg[o + ox0] < 0 || v > best[o + ox0])
                            {
                                best[o + ox0] = v;
                                arg[o + ox0] = rowStart + ox0 * w.SW + offW;
                            }
                        }
                    }
                }
            }
        }
    }

    private const int Wide = 16;

    /// <summary>
    /// <see cref="PlaneArgMax"/> for unit and stride-2 columns on AVX-512, one output row at a time: sixteen windows
    /// whose every column tap lies inside the image keep their maximum and its position in registers across all the
    /// taps (a stride-2 tap is one permute of two loads), and are stored once; the other windows are taken one by one.
    /// Taps go in row-major order and a later one wins only when strictly larger, so every window gets the value and
    /// position <see cref="PlaneArgMax"/>'s general loop gives it.
    /// </summary>
    private static void PlaneArgMaxByRows(ReadOnlySpan<float> img, in Window2d w, float[] best, int[] arg)
    {
        int inside = 0, insideEnd = w.OutW;
        for (int kx = 0; kx < w.KW; kx++)
        {
            var (first, end) = Valid(kx * w.DW - w.PW, w.SW, w.W, w.OutW);
            inside = Math.Max(inside, first);
            insideEnd = Math.Min(insideEnd, end);
        }
        insideEnd = Math.Max(inside, insideEnd);
        var ramp = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) * w.SW;
        var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        ref float pimg = ref MemoryMarshal.GetReference(img);
        ref float pb = ref best[0];
        ref int pa = ref arg[0];
        for (int oy = 0; oy < w.OutH; oy++)
        {
            int o = oy * w.OutW, ky0 = -1, kyLast = -1;
            for (int ky = 0; ky < w.KH; ky++)
            {
                int iy = oy * w.SH - w.PH + ky * w.DH;
                if ((uint)iy >= (uint)w.H) continue;
                if (ky0 < 0) ky0 = ky;
                kyLast = ky;
            }
            for (int ox = 0; ox < inside; ox++) WindowArgMax(img, w, oy, ox, best, arg, o);
            // A vector's farthest read: 16 (unit stride) or 32 (stride 2) floats from its last tap's first column.
            int reach = w.SW == 1 ? Wide : 2 * Wide;
            int lastRow = (oy * w.SH - w.PH + kyLast * w.DH) * w.W + (w.KW - 1) * w.DW - w.PW;
            int done = inside;
            if (ky0 >= 0 && insideEnd - inside >= Wide)
            {
                // Vectors from the first inside window; the last one ends at the last inside window and may overlap
                // the one before it (a window computed twice gets the same value and position).
                for (int ox = inside; ; ox += Wide)
                {
                    ox = Math.Min(ox, insideEnd - Wide);
                    if (lastRow + ox * w.SW + reach > img.Length) break;
                    Vector512<float> b = default;
                    Vector512<int> a = default;
                    bool first = true;
                    for (int ky = ky0; ky <= kyLast; ky++)
                    {
                        int iy = oy * w.SH - w.PH + ky * w.DH;
                        if ((uint)iy >= (uint)w.H) continue;
                        for (int kx = 0; kx < w.KW; kx++)
                        {
                            int at = iy * w.W + ox * w.SW + kx * w.DW - w.PW;
                            var v = w.SW == 1
                                ? Vector512.LoadUnsafe(ref pimg, (nuint)at)
                                : Avx512F.PermuteVar16x32x2(Vector512.LoadUnsafe(ref pimg, (nuint)at), evens,
                                    Vector512.LoadUnsafe(ref pimg, (nuint)(at + Wide)));
                            var position = Vector512.Create(at) + ramp;
                            if (first)
                            {
                                (b, a, first) = (v, position, false);
                                continue;
                            }
                            var take = Vector512.GreaterThan(v, b);
                            b = Vector512.ConditionalSelect(take, v, b);
                            a = Vector512.ConditionalSelect(take.AsInt32(), position, a);
                        }
                    }
                    b.StoreUnsafe(ref pb, (nuint)(o + ox));
                    a.StoreUnsafe(ref pa, (nuint)(o + ox));
                    done = ox + Wide;
                    if (done >= insideEnd) break;
                }
            }
            for (int ox = done; ox < w.OutW; ox++) WindowArgMax(img, w, oy, ox, best, arg, o);
        }
    }

    /// <summary>One window's first largest tap (−∞ and −1 when it covers only padding), into best and arg at o + ox.</summary>
    private static void WindowArgMax(ReadOnlySpan<float> img, in Window2d w, int oy, int ox, float[] best, int[] arg, int o)
    {
        float bestValue = float.NegativeInfinity;
        int at = -1;
        for (int ky = 0; ky < w.KH; ky++)
        {
            int iy = oy * w.SH - w.PH + ky * w.DH;
            if ((uint)iy >= (uint)w.H) continue;
            for (int kx = 0; kx < w.KW; kx++)
            {
                int ix = ox * w.SW - w.PW + kx * w.DW;
                if ((uint)ix >= (uint)w.W) continue;
                float v = img[iy * w.W + ix];
                if (at < 0 || v > bestValue)
                {
                    bestValue = v;
                    at = iy * w.W + ix;
                }
            }
        }
        best[o + ox] = bestValue;
        arg[o + ox] = at;
    }

    /// <summary>Output positions [first, end) whose tap at offset <paramref name="offset"/> falls inside 0..size-1.</summary>
    private static (int First, int End) Valid(int offset, int stride, int size, int outSize)
    {
        int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        int last = size - 1 - offset;
        int end = last < 0 ? 0 : Math.Min(outSize, last / stride + 1);
        first = Math.Min(first, outSize);
        return (first, Math.Max(first, end));
    }

    public override unsafe void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (planes, w) = Geometry(call);
        var x = _max ? call.Input(0).Span : default;
        fixed (float* px = x)
        fixed (float* pg = g)
        fixed (float* pd = gradInput)
            ParallelRanges.For(planes, gradInput.Length, new Planes(this, call, w, px, x.Length, pd, gradInput.Length, pg, g.Length, false, backward: true));
    }

    private unsafe void BackwardPlanes(OpCall call, in Window2d w, ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> gradInput, int from, int to)
    {
        int hw = w.H * w.W, ohw = w.OutH * w.OutW;
        gradInput[(from * hw)..(to * hw)].Clear();
        if (_max)
        {
            fixed (float* pg = g)
            fixed (float* pd = gradInput)
                ForEachPlaneMaxima(x, w, from, to, new ScatterGradient(pg, pd, hw));
            return;
        }
        for (int p = from; p < to; p++)
        {
            var dimg = gradInput.Slice(p * hw, hw);
            for (int oy = 0; oy < w.OutH; oy++)
                for (int ox = 0; ox < w.OutW; ox++)
                {
                    var (y0, _, x0, _) = Clip(w, oy, ox);
                    float gv = g[(p * w.OutH + oy) * w.OutW + ox];
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
