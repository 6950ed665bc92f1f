using System.Buffers.Binary;
using Google.Protobuf;
using Recompute.Planner.Graph;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Runtime.Data;

namespace Recompute.Runtime.Onnx;

/// <summary>
/// Reads the values of an ONNX model's floating-point initializers (the importer reads only their shapes): inline
/// <c>raw_data</c> or typed fields, or external data in a file beside the model. An external location must name a
/// regular file inside the model's folder: absolute paths, <c>..</c> and links that lead out of the folder are refused.
/// </summary>
internal static class OnnxWeightReader
{
    public static IReadOnlyList<NamedArray>? Read(string path) => Read(path, OnnxModelFile.ReadBytes(path));

    /// <summary>The weights of the model whose file <paramref name="path"/> held <paramref name="bytes"/> (external
    /// data is read beside it).</summary>
    public static IReadOnlyList<NamedArray>? Read(string path, byte[] bytes)
    {
        var model = OnnxModelFile.Parse(path, bytes);
        var arrays = new List<NamedArray>();
        foreach (var t in model.Graph.Initializer)
        {
            if (t.DataType is not ((int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Double or (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16))
                continue;
            string where = $"initializer '{t.Name}'";
            int[] shape;
            try { shape = t.Dims.Select(d => checked((int)d)).ToArray(); }
            catch (OverflowException) { throw new GraphFormatException(path, where, "a dimension does not fit 32 bits"); }
            if (shape.Any(d => d < 0)) throw new GraphFormatException(path, where, "negative dimension");
            // Multiplied with an early stop: dimensions that each fit 32 bits can still overflow 64 bits together.
            long n = 1;
            foreach (var d in shape) n = n > Array.MaxLength ? n : n * d;
            if (n > Array.MaxLength) throw new GraphFormatException(path, where, $"{n} elements are more than one array holds");
            var values = Values(path, t, (int)n, where);
            if (values is null) continue; // no data: the weights were stripped
            arrays.Add(NamedArray.Of(t.Name, values, shape));
        }
        return arrays.Count == 0 ? null : arrays;
    }

    private static int ElementSize(int type) => type switch
    {
        (int)TensorProto.Types.DataType.Float => 4,
        (int)TensorProto.Types.DataType.Double => 8,
        _ => 2,
    };

    private static float[]? Values(string path, TensorProto t, int n, string where)
    {
        int size = ElementSize(t.DataType);
        bool external = t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0;
        if (external) return ReadExternal(path, t, n, size, where);
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
        Decode(type, raw, v);
        return v;
    }

    /// <summary>Decodes little-endian elements of <paramref name="type"/> into <paramref name="v"/> (one per element).</summary>
    private static void Decode(int type, ReadOnlySpan<byte> raw, Span<float> v)
    {
        int n = v.Length;
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
    }

    /// <summary>
    /// Reads external data straight into the values, a chunk at a time: a tensor of more than 2 GB of bytes (the
    /// largest byte array) still reads, and no second copy of it is held.
    /// </summary>
    private static float[] ReadExternal(string path, TensorProto t, int n, int size, string where)
    {
        string? location = null; long offset = 0; long? length = null;
        foreach (var e in t.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset":
                    if (!long.TryParse(e.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
                        out offset))
                        throw new GraphFormatException(path, where,
                            $"external data offset '{Recompute.Planner.Files.TerminalText.Escape(e.Value)}' is not a non-negative integer");
                    break;
                case "length":
                    if (!long.TryParse(e.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
                        out long l))
                        throw new GraphFormatException(path, where,
                            $"external data length '{Recompute.Planner.Files.TerminalText.Escape(e.Value)}' is not a non-negative integer");
                    length = l;
                    break;
            }
        }
        long bytes = (long)n * size;
        if (string.IsNullOrEmpty(location)) throw new GraphFormatException(path, where, "external data without a location");
        if (length is { } len && len != bytes) throw new GraphFormatException(path, where,
            $"external data of length {len}, its shape needs {bytes} bytes");
        string file = Recompute.Planner.Files.ExternalDataFile.Resolve(path, location, where);
        string quoted = Recompute.Planner.Files.TerminalText.Escape(location);
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (!stream.CanSeek) throw new GraphFormatException(path, where, $"external data location '{quoted}' is not a regular file");
            Recompute.Planner.Files.FileScope.Current?.NoteInput(file, Recompute.Planner.Files.FileStatus.Of(file, followLinks: true),
                Recompute.Planner.Files.ExternalDataFile.Kind.What);
            if (offset > stream.Length || bytes > stream.Length - offset)
                throw new GraphFormatException(path, where,
                    $"external data at offset {offset} and {bytes} bytes runs past the end of '{quoted}' ({stream.Length} bytes)");
            stream.Position = offset;
            var values = new float[n];
            const int ChunkElements = 1 << 18;
            var buffer = new byte[(long)Math.Min(n, ChunkElements) * size];
            for (int done = 0; done < n;)
            {
                int count = Math.Min(ChunkElements, n - done);
                stream.ReadExactly(buffer, 0, count * size);
                Decode(t.DataType, buffer.AsSpan(0, count * size), values.AsSpan(done, count));
                done += count;
            }
            return values;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GraphFormatException(path, where, $"cannot read external data '{quoted}': {e.Message.ReplaceLineEndings(" ")}");
        }
    }
}

/// <summary>Reads an ONNX file's protobuf message, with one clear error for unreadable or malformed files.</summary>
internal static class OnnxModelFile
{
    public static ModelProto Read(string path) => Parse(path, ReadBytes(path));

    /// <summary>The file's bytes (inside a command, the bytes it read first: see <see cref="Recompute.Planner.Files.FileScope"/>).</summary>
    public static byte[] ReadBytes(string path) => Recompute.Planner.Files.InputFile.ReadAllBytes(path, Recompute.Planner.Files.InputKind.Onnx);

    /// <summary>The bytes of the ONNX file a graph was imported from; null when it was not, or the file is gone.</summary>
    public static byte[]? SourceOf(ComputationGraph graph) =>
        graph.Source is { } s && s.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && File.Exists(s) ? ReadBytes(s) : null;

    public static ModelProto Parse(string path, byte[] bytes)
    {
        try
        {
            var model = ModelProto.Parser.ParseFrom(bytes);
            if (model.Graph is null) throw new GraphFormatException(path, null, "not an ONNX model: it has no graph");
            return model;
        }
        catch (InvalidProtocolBufferException) { throw new GraphFormatException(path, null, "not a valid ONNX model"); }
    }
}
