using System.Buffers.Binary;
using Google.Protobuf;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Runtime.Data;

namespace Recompute.Runtime.Onnx;

/// <summary>
/// Writes an ONNX model with given weights: the source file's graph, every parameter an initializer holding its
/// value (inline <c>raw_data</c>, in the initializer's own element type). Weights the source kept as graph inputs
/// (weights stripped, as the sample graphs) become initializers and leave the input list. When the graph was
/// imported at another batch size than the file's, the data inputs are declared at the graph's shapes and the
/// intermediate <c>value_info</c>, now stale, is dropped. The file is written atomically (complete or absent).
/// </summary>
internal static class OnnxWeightWriter
{
    /// <summary>The largest protobuf message; larger models would need external data.</summary>
    private const long MaxModelBytes = int.MaxValue;

    public static void Write(string sourcePath, ComputationGraph graph, IEnumerable<NamedArray> weights, string outputPath) =>
        Write(sourcePath, OnnxModelFile.ReadBytes(sourcePath), graph, weights, outputPath);

    /// <summary>Writes the model whose file <paramref name="sourcePath"/> held <paramref name="source"/> (the bytes
    /// read when it was loaded).</summary>
    public static void Write(string sourcePath, byte[] source, ComputationGraph graph, IEnumerable<NamedArray> weights, string outputPath)
    {
        var model = OnnxModelFile.Parse(sourcePath, source);
        var g = model.Graph;
        var initializers = g.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var inputs = g.Input.ToDictionary(v => v.Name, StringComparer.Ordinal);
        foreach (var w in weights)
        {
            if (initializers.TryGetValue(w.Name, out var t))
            {
                SetValues(t, w);
                continue;
            }
            if (!inputs.TryGetValue(w.Name, out var input))
                throw new ArgumentException($"weight '{w.Name}' is neither an initializer nor a graph input of '{sourcePath}'", nameof(weights));
            var added = new TensorProto { Name = w.Name, DataType = input.Type?.TensorType?.ElemType is int e
                && e != 0 ? e : (int)TensorProto.Types.DataType.Float };
            SetValues(added, w);
            g.Initializer.Add(added);
            g.Input.Remove(input);
        }
        bool rebatched = false;
        foreach (var input in g.Input)
        {
            if (!graph.TryFind(input.Name, out int id) || graph[id].Kind != NodeKind.Input
                || input.Type?.TensorType?.Shape is not { } shape) continue;
            var want = graph[id].Shape;
            if (shape.Dim.Count != want.Length) continue;
            for (int k = 0; k < want.Length; k++)
            {
                var d = shape.Dim[k];
                if (d.HasDimValue && d.DimValue == want[k]) continue;
                shape.Dim[k] = new TensorShapeProto.Types.Dimension { DimValue = want[k] };
                rebatched = true;
            }
        }
        if (rebatched)
        {
            g.ValueInfo.Clear();
            // Output shapes follow the batch too: keep only their element types.
            foreach (var o in g.Output)
                if (o.Type?.TensorType is { } tt) tt.Shape = null;
        }
        long size = model.CalculateSize();
        if (size > MaxModelBytes)
            throw new IOException($"{outputPath}: the model with its weights takes {size} bytes, more than the 2 GiB an ONNX file holds inline");
        AtomicFile.WriteAllBytes(outputPath, model.ToByteArray());
    }

    private static void SetValues(TensorProto t, NamedArray w)
    {
        var dims = t.Dims.ToArray();
        if (dims.Length != w.Shape.Count || dims.Where((d, k) => d != w.Shape[k]).Any())
        {
            t.Dims.Clear();
            t.Dims.AddRange(w.Shape.Select(d => (long)d));
        }
        var values = w.Floats!;
        byte[] raw;
        switch (t.DataType)
        {
            case (int)TensorProto.Types.DataType.Double:
                raw = new byte[8 * values.Length];
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(raw.AsSpan(8 * i), values[i]);
                break;
            case (int)TensorProto.Types.DataType.Float16:
                raw = new byte[2 * values.Length];
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(2 * i),
                    BitConverter.HalfToUInt16Bits((Half)values[i]));
                break;
            case (int)TensorProto.Types.DataType.Bfloat16:
                raw = new byte[2 * values.Length];
                // Round to nearest even on the dropped half.
                for (int i = 0; i < values.Length; i++)
                {
                    uint bits = BitConverter.SingleToUInt32Bits(values[i]);
                    uint rounded = float.IsNaN(values[i]) ? bits | 0x00400000u : bits + 0x7FFFu + ((bits >> 16) & 1u);
                    BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(2 * i), (ushort)(rounded >> 16));
                }
                break;
            default:
                t.DataType = (int)TensorProto.Types.DataType.Float;
                raw = new byte[4 * values.Length];
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * i), values[i]);
                break;
        }
        t.FloatData.Clear(); t.DoubleData.Clear(); t.Int32Data.Clear(); t.Int64Data.Clear(); t.Uint64Data.Clear();
        t.ExternalData.Clear();
        t.ClearDataLocation();
        t.RawData = ByteString.CopyFrom(raw);
    }
}
