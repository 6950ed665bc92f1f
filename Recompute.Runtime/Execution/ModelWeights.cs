using Recompute.Planner.Graph;
using Recompute.Runtime.Data;
using Recompute.Runtime.Onnx;

namespace Recompute.Runtime.Execution;

/// <summary>
/// Parameter values by parameter name: the initial weights of a <see cref="TrainingSession"/> (from an ONNX file's
/// initializers, a checkpoint, or code) or the trained weights of a <see cref="ModelState"/>.
/// </summary>
public sealed class ModelWeights
{
    private readonly Dictionary<string, NamedArray> _arrays;

    /// <summary>Weights from float32 arrays (names must be distinct).</summary>
    public ModelWeights(IEnumerable<NamedArray> arrays)
    {
        _arrays = new Dictionary<string, NamedArray>(StringComparer.Ordinal);
        foreach (var a in arrays)
        {
            if (a.Floats is null) throw new ArgumentException($"weight '{a.Name}' is {a.DType}; weights are float32", nameof(arrays));
            if (!_arrays.TryAdd(a.Name, a)) throw new ArgumentException($"weight '{a.Name}' is given twice", nameof(arrays));
        }
    }

    /// <summary>Number of weight tensors.</summary>
    public int Count => _arrays.Count;

    /// <summary>The weight tensors, by name in ordinal order.</summary>
    public IEnumerable<NamedArray> Arrays => _arrays.Values.OrderBy(a => a.Name, StringComparer.Ordinal);

    /// <summary>The weight of a parameter, if given.</summary>
    public bool TryGet(string name, out NamedArray array) => _arrays.TryGetValue(name, out array!);

    /// <summary>
    /// The initializers of an ONNX file (inline data, or external data in files beside the model and never outside
    /// its folder), converted to float32; null when the file has no floating-point initializer with values (weights
    /// stripped, as the sample graphs are).
    /// </summary>
    /// <exception cref="GraphFormatException">The file or an external data file is unreadable or inconsistent.</exception>
    public static ModelWeights? FromOnnx(string path) => Of(OnnxWeightReader.Read(path));

    /// <summary>The weights of the ONNX model whose file <paramref name="path"/> held <paramref name="bytes"/> (see
    /// <see cref="FromOnnx(string)"/>).</summary>
    internal static ModelWeights? FromOnnx(string path, byte[] bytes) => Of(OnnxWeightReader.Read(path, bytes));

    private static ModelWeights? Of(IReadOnlyList<NamedArray>? arrays) => arrays is null ? null : new ModelWeights(arrays);

    /// <summary>
    /// Writes the ONNX model <paramref name="sourcePath"/> (the file <paramref name="graph"/> was imported from) with
    /// these weights as its initializers to <paramref name="outputPath"/>, atomically: a valid ONNX file that other
    /// runtimes (ONNX Runtime) load. Weights the source kept as graph inputs become initializers.
    /// </summary>
    /// <exception cref="GraphFormatException">The source file is unreadable.</exception>
    /// <exception cref="IOException">The output cannot be written (the message names it).</exception>
    public void SaveOnnx(string sourcePath, ComputationGraph graph, string outputPath) => OnnxWeightWriter.Write(sourcePath, graph, Arrays,
        outputPath);

    /// <summary>
    /// The weights stored in the file a graph was imported from, when it is an ONNX file that has them (see
    /// <see cref="FromOnnx(string)"/>); null otherwise, and the session then initialises parameters from its seed.
    /// </summary>
    public static ModelWeights? FromGraphSource(ComputationGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        return OnnxModelFile.SourceOf(graph) is { } bytes ? FromOnnx(graph.Source!, bytes) : null;
    }
}
