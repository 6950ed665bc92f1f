namespace Recompute.Runtime.Ops;

/// <summary>Geometry of a 2-D sliding window: image size, output (column) size, kernel, stride, padding (top, left), dilation.</summary>
internal readonly record struct Window2d(int H, int W, int OutH, int OutW, int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW)
{
    /// <summary>Reads ONNX <c>strides</c>, <c>pads</c> (top, left, bottom, right), <c>dilations</c> and <c>kernel_shape</c>.</summary>
    public static Window2d From(OpCall call, int h, int w, int outH, int outW, int kh, int kw)
    {
        var strides = call.Attrs("strides"); var pads = call.Attrs("pads"); var dil = call.Attrs("dilations");
        var autoPad = call.Node.Attribute<string>("auto_pad") ?? "NOTSET";
        int sh = strides.Length > 0 ? (int)strides[0] : 1, sw = strides.Length > 1 ? (int)strides[1] : sh;
        int dh = dil.Length > 0 ? (int)dil[0] : 1, dw = dil.Length > 1 ? (int)dil[1] : dh;
        int ph = pads.Length > 0 ? (int)pads[0] : 0, pw = pads.Length > 1 ? (int)pads[1] : 0;
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            // Total padding that makes the (image, output) pair consistent; the odd pixel goes at the end for SAME_UPPER.
            int th = Math.Max(0, (outH - 1) * sh + (kh - 1) * dh + 1 - h), tw = Math.Max(0, (outW - 1) * sw + (kw - 1) * dw + 1 - w);
            ph = autoPad == "SAME_UPPER" ? th / 2 : th - th / 2;
            pw = autoPad == "SAME_UPPER" ? tw / 2 : tw - tw / 2;
        }
        return new Window2d(h, w, outH, outW, kh, kw, sh, sw, ph, pw, dh, dw);
    }

    /// <summary>Rows of the column matrix per channel.</summary>
    public int KernelArea => KH * KW;
    public int OutArea => OutH * OutW;
}

/// <summary>
/// im2col / col2im for convolutions: the column matrix has one row per (channel, ky, kx) and one column per
/// output position; out-of-image taps read zero (im2col) or are dropped (col2im).
/// </summary>
internal static class Im2Col
{
    /// <summary>col[(c·KH + ky)·KW + kx, oy·OutW + ox] = image[c, oy·SH − PH + ky·DH, ox·SW − PW + kx·DW].</summary>
    public static void Expand(ReadOnlySpan<float> image, int channels, in Window2d w, Span<float> col)
    {
        int area = w.OutArea;
        for (int c = 0; c < channels; c++)
            for (int ky = 0; ky < w.KH; ky++)
                for (int kx = 0; kx < w.KW; kx++)
                {
                    var row = col.Slice(((c * w.KH + ky) * w.KW + kx) * area, area);
                    for (int oy = 0; oy < w.OutH; oy++)
                    {
                        int iy = oy * w.SH - w.PH + ky * w.DH;
                        var dst = row.Slice(oy * w.OutW, w.OutW);
                        if (iy < 0 || iy >= w.H) { dst.Clear(); continue; }
                        var src = image.Slice((c * w.H + iy) * w.W, w.W);
                        int x0 = kx * w.DW - w.PW;
                        if (w.SW == 1 && x0 >= 0 && x0 + w.OutW <= w.W) { src.Slice(x0, w.OutW).CopyTo(dst); continue; }
                        for (int ox = 0; ox < w.OutW; ox++)
                        {
                            int ix = x0 + ox * w.SW;
                            dst[ox] = ix >= 0 && ix < w.W ? src[ix] : 0f;
                        }
                    }
                }
    }

    /// <summary>The adjoint of <see cref="Expand"/>: adds every column entry back into its image position.</summary>
    public static void Accumulate(ReadOnlySpan<float> col, int channels, in Window2d w, Span<float> image)
    {
        int area = w.OutArea;
        for (int c = 0; c < channels; c++)
            for (int ky = 0; ky < w.KH; ky++)
                for (int kx = 0; kx < w.KW; kx++)
                {
                    var row = col.Slice(((c * w.KH + ky) * w.KW + kx) * area, area);
                    for (int oy = 0; oy < w.OutH; oy++)
                    {
                        int iy = oy * w.SH - w.PH + ky * w.DH;
                        if (iy < 0 || iy >= w.H) continue;
                        var dst = image.Slice((c * w.H + iy) * w.W, w.W);
                        var src = row.Slice(oy * w.OutW, w.OutW);
                        int x0 = kx * w.DW - w.PW;
                        for (int ox = 0; ox < w.OutW; ox++)
                        {
                            int ix = x0 + ox * w.SW;
                            if (ix >= 0 && ix < w.W) dst[ix] += src[ox];
                        }
                    }
                }
    }
}
