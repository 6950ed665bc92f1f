using Recompute.Runtime.Execution;

namespace Recompute.Tests.Runtime.Execution;

/// <summary>The checksum that tells a recomputed tensor from its first computation.</summary>
public class RecomputationChecksumTests
{
    [Theory]
    [InlineData(1)] [InlineData(7)] [InlineData(64)] [InlineData(1000)] [InlineData(4099)]
    public void OneFlippedBitAnywhere_ChangesTheChecksum_AndEqualValuesGiveEqualOnes(int length)
    {
        var rng = new Random(length);
        var values = Enumerable.Range(0, length).Select(_ => (float)rng.NextDouble()).ToArray();
        ulong reference = ScheduleExecutor.Checksum(values);
        Assert.Equal(reference, ScheduleExecutor.Checksum(values.ToArray()));
        for (int i = 0; i < length; i += Math.Max(1, length / 97))
            foreach (int bit in new[] { 0, 13, 31 })
            {
                var flipped = values.ToArray();
                flipped[i] = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(flipped[i]) ^ (1 << bit));
                Assert.NotEqual(reference, ScheduleExecutor.Checksum(flipped));
            }
        // Two elements swapped (the same values in another order) are another tensor too.
        if (length > 1 && values[0] != values[^1])
        {
            var swapped = values.ToArray();
            (swapped[0], swapped[^1]) = (swapped[^1], swapped[0]);
            Assert.NotEqual(reference, ScheduleExecutor.Checksum(swapped));
        }
    }
}
