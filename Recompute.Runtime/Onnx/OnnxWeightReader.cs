using System.Buffers.Binary;
using Google.Protobuf;
using Recompute.Planner.Graph;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Runtime.Data;
using Recompute.Runtime.Execution;

namespace Recompute.Runtime.Onnx;

/// <summary>
/// Reads the values of an ONNX model's floating-point initializers (the importer reads only their shapes): inline
/// <c>raw_data</c> or typed fields, or external data in a file beside the model. An external location must name a
/// regular file inside the model's folder: absolute paths, <c>..</c> and links that lead out of the folder are refused.
/// </summary>
internal static class OnnxWeightReader
{
    public static ModelWeights? Read(string path)
    {
        var model = OnnxModelFile.Read(path);
        var arrays = new List<NamedArray>();
        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        foreach (var t in model.Graph.Initializer)
        {
            if (t.DataType is not ((int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Double or (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16))
                continue;
            string where = $"initializer '{t.Name}'";
            int[] shape;
            try { shape = t.Dims.Select(d => checked((int)d)).ToArray(); }
            catch (OverflowException) { throw new GraphFormatException(path, where, "a dimension does not fit 32 bits"); }
            if (shape.Any(d => d < 0)) throw new GraphFormatException(path, where, "negative dimension");
            long n = shape.Aggregate(1L, (a, d) => a * d);
            if (n > Array.MaxLength) throw new GraphFormatException(path, where, $"{n} elements are more than one array holds");
            var values = Values(path, folder, t, (int)n, where);
            if (values is null) continue; // no data: the weights were stripped
            arrays.Add(NamedArray.Of(t.Name, values, shape));
        }
        return arrays.Count == 0 ? null : new ModelWeights(arrays);
    }

    private static int ElementSize(int type) => type switch
    {
        (int)TensorProto.Types.DataType.Float => 4,
        (int)TensorProto.Types.DataType.Double => 8,
        _ => 2,
    };

    private static float[]? Values(string path, string folder, TensorProto t, int n, string where)
    {
        int size = ElementSize(t.DataType);
        bool external = t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0;
        if (external) return Decode(t.DataType, ReadExternal(path, folder, t, (long)n * size, where), n);
        if (t.HasRawData)
        {
            if (t.RawData.Length != (long)n * size)
                throw new GraphFormatException(path, where, $"has {t.RawData.Length} bytes of data, its {n} elements need {(long)n * size}");
            return Decode(t.DataType, t.RawData.Span, n);
        }
        if (t.DataType == (int)TensorProto.Types.DataType.Float && t.FloatData.Count > 0)
            return t.FloatData.Count == n ? t.FloatData.ToArray() : throw Mismatch(path, where, t.FloatData.Count, n);
        if (t.DataType == (int)TensorProto.Types.DataType.Double && t.DoubleData.Count > 0)
            return t.DoubleData.Count == n ? t.DoubleData.Select(d => (float)d).ToArray() : throw Mismatch(path, where, t.DoubleData.Count, n);
        if (t.DataType is (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16 && t.Int32Data.Count > 0)
        {
            if (t.Int32Data.Count != n) throw Mismatch(path, where, t.Int32Data.Count, n);
            var bytes = new byte[2 * n];
            for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), (ushort)t.Int32Data[i]);
            return Decode(t.DataType, bytes, n);
        }
        return n == 0 ? [] : null;
    }

    private static GraphFormatException Mismatch(string path, string where, int count, int n) =>
        new(path, where, $"holds {count} values, its shape has {n} elements");

    private static float[] Decode(int type, ReadOnlySpan<byte> raw, int n)
    {
        var v = new float[n];
        switch (type)
        {
            case (int)TensorProto.Types.DataType.Float:
                for (int i = 0; i < n; i++) v[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
                break;
            case (int)TensorProto.Types.DataType.Double:
                for (int i = 0; i < n; i++) v[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(8 * i)..]);
                break;
            case (int)TensorProto.Types.DataType.Float16:
                for (int i = 0; i < n; i++) v[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]));
                break;
            default: // bfloat16: the high half of a float32
                for (int i = 0; i < n; i++) v[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]) << 16);
                break;
        }
        return v;
    }

    private static byte[] ReadExternal(string path, string folder, TensorProto t, long bytes, string where)
    {
        string? location = null; long offset = 0; long? length = null;
        foreach (var e in t.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset":
                    if (!long.TryParse(e.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out offset))
                        throw new GraphFormatException(path, where, $"external data offset '{e.Value}' is not a non-negative integer");
                    break;
                case "length":
                    if (!long.TryParse(e.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long l))
                        throw new GraphFormatException(path, where, $"external data length '{e.Value}' is not a non-negative integer");
                    length = l;
                    break;
            }
        }
        if (string.IsNullOrEmpty(location)) throw new GraphFormatException(path, where, "external data without a location");
        if (length is { } len && len != bytes) throw new GraphFormatException(path, where, $"external data of length {len}, its shape needs {bytes} bytes");
        string file = ResolveInside(path, folder, location, where);
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (offset > stream.Length || bytes > stream.Length - offset)
                throw new GraphFormatException(path, where, $"external data at offset {offset} and {bytes} bytes runs past the end of '{location}' ({stream.Length} bytes)");
            stream.Position = offset;
            var buffer = new byte[bytes];
            stream.ReadExactly(buffer);
            return buffer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GraphFormatException(path, where, $"cannot read external data '{location}': {e.Message}");
        }
    }

    /// <summary>
    /// The full path of an external data file, which must be a regular file inside the model's folder (or below it)
    /// reached without links: a model must not make the reader open files elsewhere on the machine.
    /// </summary>
    private static string ResolveInside(string path, string folder, string location, string where)
    {
        var parts = location.Split('/', '\\');
        if (Path.IsPathRooted(location) || parts.Contains("..") || parts.Any(string.IsNullOrEmpty))
            throw new GraphFormatException(path, where, $"external data location '{location}' is outside the model's folder");
        string current = folder;
        foreach (var part in parts)
        {
            if (part == ".") continue;
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (!info.Exists) throw new GraphFormatException(path, where, $"external data file '{location}' not found beside the model");
            if (info.LinkTarget is not null)
                throw new GraphFormatException(path, where, $"external data location '{location}' goes through a link; only files inside the model's folder are read");
        }
        if (Recompute.Planner.Files.FileStatus.Of(current, followLinks: false).Kind != Recompute.Planner.Files.FileKind.Regular)
            throw new GraphFormatException(path, where, $"external data location '{location}' is not a regular file");
        return current;
    }
}

/// <summary>Reads an ONNX file's protobuf message, with one clear error for unreadable or malformed files.</summary>
internal static class OnnxModelFile
{
    public static ModelProto Read(string path)
    {
        byte[] bytes = Recompute.Planner.Files.InputFile.ReadAllBytes(path, Recompute.Planner.Files.InputKind.Onnx);
        try
        {
            var model = ModelProto.Parser.ParseFrom(bytes);
            if (model.Graph is null) throw new GraphFormatException(path, null, "not an ONNX model: it has no graph");
            return model;
        }
        catch (InvalidProtocolBufferException) { throw new GraphFormatException(path, null, "not a valid ONNX model"); }
    }
}
