namespace Recompute.Planner.Costs;

/// <summary>
/// Element types of tensors: the ONNX <c>TensorProto.DataType</c> codes, the names used in the graph IR
/// ("float32", "int64", ...) and their sizes in bits (4-bit types pack two elements per byte).
/// </summary>
public static class ElementTypes
{
    private static readonly Dictionary<int, (string Name, int Bits)> ByCode = new()
    {
        [1] = ("float32", 32), [2] = ("uint8", 8), [3] = ("int8", 8), [4] = ("uint16", 16), [5] = ("int16", 16),
        [6] = ("int32", 32), [7] = ("int64", 64), [8] = ("string", 0), [9] = ("bool", 8), [10] = ("float16", 16),
        [11] = ("float64", 64), [12] = ("uint32", 32), [13] = ("uint64", 64), [14] = ("complex64", 64),
        [15] = ("complex128", 128), [16] = ("bfloat16", 16), [17] = ("float8e4m3fn", 8), [18] = ("float8e4m3fnuz", 8),
        [19] = ("float8e5m2", 8), [20] = ("float8e5m2fnuz", 8), [21] = ("uint4", 4), [22] = ("int4", 4), [23] = ("float4e2m1", 4),
    };

    private static readonly Dictionary<string, int> ByName = ByCode.ToDictionary(kv => kv.Value.Name, kv => kv.Key, StringComparer.Ordinal);

    /// <summary>The IR name of an ONNX element type code, or null when the code is unknown.</summary>
    public static string? NameOf(int onnxCode) => ByCode.TryGetValue(onnxCode, out var t) ? t.Name : null;

    /// <summary>The ONNX code of an IR element type name, or 0 when unknown.</summary>
    public static int CodeOf(string name) => ByName.TryGetValue(name, out var c) ? c : 0;

    /// <summary>Size of one element in bits (0 for strings, whose size is not static).</summary>
    public static int BitsOf(string name) => ByName.TryGetValue(name, out var c) ? ByCode[c].Bits : 0;

    /// <summary>
    /// Size of one element in bytes; refuses, with an <see cref="ArgumentException"/> that says which, a name that
    /// is no element type and a type without a whole-byte size (strings, 4-bit types).
    /// </summary>
    public static int BytesOf(string name)
    {
        if (!ByName.TryGetValue(name, out var code))
            throw new ArgumentException($"unknown element type '{name}' (one of {string.Join(", ", ByName.Keys)})");
        int bits = ByCode[code].Bits;
        return bits > 0 && bits % 8 == 0 ? bits / 8 : throw new ArgumentException($"element type '{name}' has no whole-byte size");
    }

    /// <summary>True for floating-point types (the ones that carry gradients).</summary>
    public static bool IsFloat(string name) => name.StartsWith("float", StringComparison.Ordinal) || name == "bfloat16";

    /// <summary>True for integer and boolean types.</summary>
    public static bool IsIntegral(string name) => name is "int8" or "int16" or "int32" or "int64" or "uint8" or "uint16" or "uint32" or "uint64" or "bool" or "int4" or "uint4";
}
