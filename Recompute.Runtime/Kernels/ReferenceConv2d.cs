namespace Recompute.Runtime.Kernels;

/// <summary>Naive direct convolution loops (double accumulation) that <see cref="Conv2d"/> is tested against.</summary>
internal static class ReferenceConv2d
{
    public static void Forward(in Conv2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias, Span<float> output)
    {
        int cg = s.GroupInChannels, mg = s.GroupOutChannels;
        for (int n = 0; n < s.Batch; n++)
            for (int m = 0; m < s.OutChannels; m++)
                for (int y = 0; y < s.OutHeight; y++)
                    for (int x = 0; x < s.OutWidth; x++)
                    {
                        double sum = bias.IsEmpty ? 0 : bias[m];
                        int g = m / mg;
                        for (int c = 0; c < cg; c++)
                            for (int kh = 0; kh < s.KernelHeight; kh++)
                                for (int kw = 0; kw < s.KernelWidth; kw++)
                                {
                                    int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
                                    int iw = x * s.StrideW - s.PadLeft + kw * s.DilationW;
                                    if (ih < 0 || ih >= s.InHeight || iw < 0 || iw >= s.InWidth) continue;
                                    sum += (double)input[InputIndex(s, n, g * cg + c, ih, iw)] *
                                           weight[WeightIndex(s, m, c, kh, kw)];
                                }
                        output[((n * s.OutChannels + m) * s.OutHeight + y) * s.OutWidth + x] = (float)sum;
                    }
    }

    public static void BackwardData(in Conv2dShape s, ReadOnlySpan<float> gradOutput, ReadOnlySpan<float> weight,
        Span<float> gradInput)
    {
        var acc = new double[s.InputLength];
        int cg = s.GroupInChannels, mg = s.GroupOutChannels;
        float[] gy = gradOutput.ToArray(), w = weight.ToArray();
        var shape = s;
        ForEachTap(s, (n, m, y, x, c, kh, kw, ih, iw) =>
        {
            int g = m / mg;
            acc[InputIndex(shape, n, g * cg + c, ih, iw)] +=
                (double)gy[((n * shape.OutChannels + m) * shape.OutHeight + y) * shape.OutWidth + x] *
                w[WeightIndex(shape, m, c, kh, kw)];
        });
        for (int i = 0; i < acc.Length; i++) gradInput[i] = (float)acc[i];
    }

    public static void BackwardWeights(in Conv2dShape s, ReadOnlySpan<float> input, ReadOnlySpan<float> gradOutput,
        Span<float> gradWeight, Span<float> gradBias)
    {
        var acc = new double[s.WeightLength];
        var accBias = new double[s.OutChannels];
        int cg = s.GroupInChannels, mg = s.GroupOutChannels;
        float[] x0 = input.ToArray(), gy = gradOutput.ToArray();
        var shape = s;
        ForEachTap(s, (n, m, y, x, c, kh, kw, ih, iw) =>
        {
            int g = m / mg;
            acc[WeightIndex(shape, m, c, kh, kw)] +=
                (double)gy[((n * shape.OutChannels + m) * shape.OutHeight + y) * shape.OutWidth + x] *
                x0[InputIndex(shape, n, g * cg + c, ih, iw)];
        });
        for (int n = 0; n < s.Batch; n++)
            for (int m = 0; m < s.OutChannels; m++)
                for (int i = 0; i < s.OutHeight * s.OutWidth; i++)
                    accBias[m] += gy[(n * s.OutChannels + m) * s.OutHeight * s.OutWidth + i];
        for (int i = 0; i < acc.Length; i++) gradWeight[i] = (float)acc[i];
        if (!gradBias.IsEmpty)
            for (int m = 0; m < s.OutChannels; m++) gradBias[m] = (float)accBias[m];
    }

    private delegate void TapAction(int n, int m, int y, int x, int c, int kh, int kw, int ih, int iw);

    private static void ForEachTap(in Conv2dShape s, TapAction action)
    {
        for (int n = 0; n < s.Batch; n++)
            for (int m = 0; m < s.OutChannels; m++)
                for (int y = 0; y < s.OutHeight; y++)
                    for (int x = 0; x < s.OutWidth; x++)
                        for (int c = 0; c < s.GroupInChannels; c++)
                            for (int kh = 0; kh < s.KernelHeight; kh++)
                                for (int kw = 0; kw < s.KernelWidth; kw++)
                                {
                                    int ih = y * s.StrideH - s.PadTop + kh * s.DilationH;
                                    int iw = x * s.StrideW - s.PadLeft + kw * s.DilationW;
                                    if (ih >= 0 && ih < s.InHeight && iw >= 0 && iw < s.InWidth)
                                        action(n, m, y, x, c, kh, kw, ih, iw);
                                }
    }

    private static int InputIndex(in Conv2dShape s, int n, int c, int h, int w) =>
        ((n * s.InChannels + c) * s.InHeight + h) * s.InWidth + w;

    private static int WeightIndex(in Conv2dShape s, int m, int c, int kh, int kw) =>
        ((m * s.GroupInChannels + c) * s.KernelHeight + kh) * s.KernelWidth + kw;
}
