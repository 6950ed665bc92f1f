using Recompute.Runtime.Data;
using Recompute.Runtime.Models;
using Recompute.Tests.Support;

namespace Recompute.Tests.Runtime.Data;

public class SampleDataTests
{
    [Fact]
    public void TheShippedResNetBatch_IsWhatItsDefinitionWrites()
    {
        // Regenerate with RECOMPUTE_WRITE_SAMPLES=1 dotnet test --filter SampleDataTests.
        string path = Path.Combine(Paths.Graphs, "resnet18-b2.npz");
        var bytes = Npz.ToBytes(SampleData.ResNetBatch());
        if (Environment.GetEnvironmentVariable("RECOMPUTE_WRITE_SAMPLES") == "1") File.WriteAllBytes(path, bytes);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.True(bytes.Length < 200_000, $"{bytes.Length} bytes");
        var arrays = Npz.Read(path);
        Assert.Equal([2, 3, 224, 224], arrays[0].Shape);
        Assert.Equal([3L, 7], arrays[1].Longs!);
    }
}
