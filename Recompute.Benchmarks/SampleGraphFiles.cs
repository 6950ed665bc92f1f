using Recompute.Planner.Import;
using Recompute.Runtime.Models;

namespace Recompute.Benchmarks;

/// <summary>
/// <c>sample-graphs</c>: writes the executable sample graphs of <c>graphs/</c> from their definitions in code
/// (<see cref="SampleModels"/>; <c>gpt2-2l-t128.onnx</c> through <see cref="SampleOnnx"/>), so that the shipped files
/// can be regenerated after a change to the memory model; the
/// test <c>ShippedSampleGraphs_AreTheirDefinitions</c> fails until they are.
/// </summary>
internal static class SampleGraphFiles
{
    public static void Write(QuickTableOptions options)
    {
        _ = options;
        Save("gpt2-2l-t128.json", NativeGraphFormat.ToJson(SampleModels.Gpt2(new SampleModels.Gpt2Size())));
        Save("mlp50.json", NativeGraphFormat.ToJson(SampleModels.Mlp(50)));
        Save("unet-b1-64.json", NativeGraphFormat.ToJson(SampleModels.UNet()));
        var onnx = SampleOnnx.ToBytes(SampleModels.Gpt2(new SampleModels.Gpt2Size()));
        File.WriteAllBytes(RepositoryPaths.Graph("gpt2-2l-t128.onnx"), onnx);
        Console.WriteLine($"{RepositoryPaths.Graph("gpt2-2l-t128.onnx")}: {onnx.Length:N0} bytes");
    }

    private static void Save(string file, string text)
    {
        var path = RepositoryPaths.Graph(file);
        File.WriteAllText(path, text);
        Console.WriteLine($"{path}: {text.Length:N0} characters");
    }
}
