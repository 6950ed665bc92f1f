using Recompute.Runtime.Data;

namespace Recompute.Runtime.Models;

/// <summary>
/// The data batches shipped in <c>graphs/</c>, defined in code (a test checks that each file is byte for byte what
/// its definition writes).
/// </summary>
public static class SampleData
{
    /// <summary>
    /// <c>graphs/resnet18-b2.npz</c>: a batch of 2 images for <c>resnet18-b32.onnx</c> at <c>--batch 2</c>
    /// (<c>input</c> float32 [2,3,224,224], <c>target</c> int64 [2] = [3, 7]). Each channel is a smooth pattern
    /// of stripes and rings, quantised to steps of 1/32 in [−1, 1] so that the deflated file stays small. Batch 2,
    /// not 32: a 32-image batch would be 19 MB, and the sample trains 20 steps in seconds on a CPU.
    /// </summary>
    public static IReadOnlyList<NamedArray> ResNetBatch(int batch = 2, int size = 224, int classes = 1000)
    {
        var x = new float[batch * 3 * size * size];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < size; i++)
                    for (int j = 0; j < size; j++)
                    {
                        double u = (i - size / 2.0) / size, v = (j - size / 2.0) / size;
                        double value = b == 0
                            ? Math.Sin(2 * Math.PI * (3 + c) * u + c) * Math.Cos(2 * Math.PI * 2 * v)
                            : Math.Cos(2 * Math.PI * (4 + 2 * c) * Math.Sqrt(u * u + v * v) + c);
                        x[((b * 3 + c) * size + i) * size + j] = (float)(Math.Round(value * 32) / 32);
                    }
        var labels = Enumerable.Range(0, batch).Select(b => (long)((3 + 4 * b) % classes)).ToArray();
        return [NamedArray.Of("input", x, batch, 3, size, size), NamedArray.Of("target", labels, batch)];
    }
}
