using System.Buffers.Binary;
using Recompute.Planner.Costs;
using Recompute.Planner.Import.Onnx.Proto;

namespace Recompute.Planner.Import.Onnx;

/// <summary>Reads ONNX <c>TensorProto</c> and <c>AttributeProto</c> messages into shape-inference terms.</summary>
internal static class OnnxTensors
{
    /// <summary>
    /// The type, shape and (for small tensors stored inline) the value of a tensor. External data is never read:
    /// its size comes from the dims. Throws <see cref="ShapeInferenceException"/> on invalid dims or data.
    /// </summary>
    public static TensorInfo Read(TensorProto t, string what)
    {
        string dtype = ElementTypes.NameOf(t.DataType) ?? throw new ShapeInferenceException($"{what} has unknown element type {t.DataType}");
        if (dtype == "string") throw new ShapeInferenceException($"{what} is a string tensor, which has no static size");
        var shape = t.Dims.ToArray();
        ShapeMath.Validate(shape, what);
        long elements = ShapeMath.Elements(shape);
        long bytes = ShapeMath.Bytes(shape, dtype);
        bool external = t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0;
        if (external)
        {
            if (!t.ExternalData.Any(e => e.Key == "location")) throw new ShapeInferenceException($"{what} has external data without a location");
            var length = t.ExternalData.FirstOrDefault(e => e.Key == "length")?.Value;
            if (length is not null && (!long.TryParse(length, System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out long len) || len != bytes))
                throw new ShapeInferenceException($"{what} has external data of length {length}, its shape {ShapeMath.Format(shape)} of {dtype} needs {bytes} bytes");
            return new TensorInfo(dtype, shape);
        }
        if (t.HasRawData && t.RawData.Length != bytes)
            throw new ShapeInferenceException($"{what} has {t.RawData.Length} bytes of data, its shape {ShapeMath.Format(shape)} of {dtype} needs {bytes} bytes");
        if (elements > ShapeInference.MaxFoldElements) return new TensorInfo(dtype, shape);
        return new TensorInfo(dtype, shape, ReadValue(t, dtype, (int)elements, what));
    }

    private static ConstantValue? ReadValue(TensorProto t, string dtype, int n, string what)
    {
        if (t.HasRawData)
        {
            var raw = t.RawData.ToByteArray();
            switch (dtype)
            {
                case "float32": return ConstantValue.FromReals(Enumerable.Range(0,
                    n).Select(i => (double)BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * i))).ToArray());
                case "float64": return ConstantValue.FromReals(Enumerable.Range(0,
                    n).Select(i => BinaryPrimitives.ReadDoubleLittleEndian(raw.AsSpan(8 * i))).ToArray());
                case "float16": return ConstantValue.FromReals(Enumerable.Range(0,
                    n).Select(i => (double)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * i)))).ToArray());
                case "int64": return ConstantValue.FromInts(Enumerable.Range(0,
                    n).Select(i => BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(8 * i))).ToArray());
                case "int32": return ConstantValue.FromInts(Enumerable.Range(0,
                    n).Select(i => (long)BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(4 * i))).ToArray());
                case "uint32": return ConstantValue.FromInts(Enumerable.Range(0,
                    n).Select(i => (long)BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(4 * i))).ToArray());
                case "int16": return ConstantValue.FromInts(Enumerable.Range(0,
                    n).Select(i => (long)BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(2 * i))).ToArray());
                case "uint16": return ConstantValue.FromInts(Enumerable.Range(0,
                    n).Select(i => (long)BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * i))).ToArray());
                case "int8": return ConstantValue.FromInts(Enumerable.Range(0, n).Select(i => (long)(sbyte)raw[i]).ToArray());
                case "uint8" or "bool": return ConstantValue.FromInts(Enumerable.Range(0, n).Select(i => (long)raw[i]).ToArray());
                default: return null;
            }
        }
        ConstantValue? value = dtype switch
        {
            "float32" when t.FloatData.Count == n => ConstantValue.FromReals(t.FloatData.Select(f => (double)f).ToArray()),
            "float64" when t.DoubleData.Count == n => ConstantValue.FromReals(t.DoubleData.ToArray()),
            "int64" when t.Int64Data.Count == n => ConstantValue.FromInts(t.Int64Data.ToArray()),
            "int32" or "int16" or "int8" or "uint16" or "uint8" or "bool" when t.Int32Data.Count == n => ConstantValue.FromInts(t.Int32Data.Select(v => (long)v).ToArray()),
            "float16" when t.Int32Data.Count == n => ConstantValue.FromReals(t.Int32Data.Select(v => (double)BitConverter.UInt16BitsToHalf((ushort)v)).ToArray()),
            "uint32" when t.Uint64Data.Count == n => ConstantValue.FromInts(t.Uint64Data.Select(v => (long)v).ToArray()),
            _ => null,
        };
        if (value is null && n > 0 && (t.FloatData.Count + t.DoubleData.Count + t.Int64Data.Count + t.Int32Data.Count + t.Uint64Data.Count) > 0)
            throw new ShapeInferenceException($"{what} holds a number of values that does not match its shape of {n} elements");
        return value;
    }

    /// <summary>
    /// An attribute as shape inference takes it: long, double, string, long[], double[], string[] or
    /// <see cref="TensorInfo"/>. Graph attributes (control flow) are refused by the caller as unsupported ops.
    /// </summary>
    public static object? Convert(AttributeProto a, string what)
    {
        var type = a.Type;
        if (type == AttributeProto.Types.AttributeType.Undefined)
        {
            // IR version 1 files have no type discriminator: infer it from the field that is set.
            type = a.HasF ? AttributeProto.Types.AttributeType.Float : a.HasI ? AttributeProto.Types.AttributeType.Int
                : a.HasS ? AttributeProto.Types.AttributeType.String : a.T is not null ? AttributeProto.Types.AttributeType.Tensor
                : a.Ints.Count > 0 ? AttributeProto.Types.AttributeType.Ints : a.Floats.Count > 0 ? AttributeProto.Types.AttributeType.Floats
                : a.Strings.Count > 0 ? AttributeProto.Types.AttributeType.Strings : AttributeProto.Types.AttributeType.Undefined;
        }
        return type switch
        {
            AttributeProto.Types.AttributeType.Float => (double)a.F,
            AttributeProto.Types.AttributeType.Int => a.I,
            AttributeProto.Types.AttributeType.String => a.S.ToStringUtf8(),
            AttributeProto.Types.AttributeType.Floats => a.Floats.Select(f => (double)f).ToArray(),
            AttributeProto.Types.AttributeType.Ints => a.Ints.ToArray(),
            AttributeProto.Types.AttributeType.Strings => a.Strings.Select(s => s.ToStringUtf8()).ToArray(),
            AttributeProto.Types.AttributeType.Tensor => Read(a.T ?? throw new ShapeInferenceException($"{what} has no tensor"), what),
            _ => null,
        };
    }

    /// <summary>A constant value as a node attribute of the graph IR: float[] for floating-point types, long[] otherwise.</summary>
    public static object ToAttribute(ConstantValue v, string dtype) =>
        ElementTypes.IsFloat(dtype) ? Enumerable.Range(0, v.Length).Select(i => (float)v.Real(i)).ToArray() : v.AsInts();
}
