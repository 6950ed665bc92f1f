using Recompute.Runtime.Ops;

namespace Recompute.Tests.Runtime.Ops;

/// <summary>The tiled permutation against the definition, on shapes that cross tile edges and with every kind of permutation.</summary>
public class TransposeTests
{
    [Theory]
    [InlineData(new[] { 70, 45 }, new[] { 1, 0 })]
    [InlineData(new[] { 3, 70, 45 }, new[] { 2, 0, 1 })]
    [InlineData(new[] { 3, 70, 45 }, new[] { 0, 2, 1 })]
    [InlineData(new[] { 3, 70, 45 }, new[] { 1, 0, 2 })]
    [InlineData(new[] { 2, 33, 5, 40 }, new[] { 0, 2, 3, 1 })]
    [InlineData(new[] { 2, 33, 5, 40 }, new[] { 0, 2, 1, 3 })]
    [InlineData(new[] { 2, 33, 5, 40 }, new[] { 3, 1, 0, 2 })]
    [InlineData(new[] { 4, 1, 37 }, new[] { 2, 1, 0 })]
    [InlineData(new[] { 37, 1 }, new[] { 1, 0 })]
    public void Permute_EqualsTheDefinition(int[] shape, int[] perm)
    {
        int n = shape.Aggregate(1, (a, d) => a * d);
        var src = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
        var dst = new float[n];
        TransposeOp.Permute(src, shape, perm, dst);

        int rank = shape.Length;
        var dstShape = perm.Select(p => shape[p]).ToArray();
        var index = new int[rank];
        for (int flat = 0; flat < n; flat++)
        {
            // dst[i_0..i_r] = src at the index whose dimension perm[d] is i_d.
            int rest = flat;
            for (int d = rank - 1; d >= 0; d--) { index[d] = rest % dstShape[d]; rest /= dstShape[d]; }
            var srcIndex = new int[rank];
            for (int d = 0; d < rank; d++) srcIndex[perm[d]] = index[d];
            int at = 0;
            for (int d = 0; d < rank; d++) at = at * shape[d] + srcIndex[d];
            Assert.Equal(src[at], dst[flat]);
        }
    }
}
