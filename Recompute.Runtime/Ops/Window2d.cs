using Recompute.Planner.Costs;

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
        if (WindowGeometry.IsSame(autoPad))
        {
            ph = (int)WindowGeometry.SamePadBegin(WindowGeometry.PaddingFor(h, outH, kh, sh, dh), autoPad);
            pw = (int)WindowGeometry.SamePadBegin(WindowGeometry.PaddingFor(w, outW, kw, sw, dw), autoPad);
        }
        return new Window2d(h, w, outH, outW, kh, kw, sh, sw, ph, pw, dh, dw);
    }

    /// <summary>
    /// The optimised kernels' geometry for a convolution with this window over <paramref name="channels"/> image
    /// channels producing <paramref name="outChannels"/>, or null when its output size would differ from the graph's.
    /// End padding is the least that yields the graph's output size.
    /// </summary>
    public Kernels.Conv2dShape? KernelShape(int batch, int channels, int outChannels, int groups)
    {
        int pb = (int)Math.Max(0, WindowGeometry.PaddingFor(H, OutH, KH, SH, DH) - PH);
        int pr = (int)Math.Max(0, WindowGeometry.PaddingFor(W, OutW, KW, SW, DW) - PW);
        try
        {
            var s = new Kernels.Conv2dShape(batch, channels, H, W, outChannels, KH, KW, SH, SW, PH, PW, pb, pr, DH, DW, groups);
            return s.OutHeight == OutH && s.OutWidth == OutW ? s : null;
        }
        catch (ArgumentException) { return null; }
    }

}
