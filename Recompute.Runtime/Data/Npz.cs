using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;

namespace Recompute.Runtime.Data;

/// <summary>
/// NumPy's <c>.npz</c> format, read and written here: a zip archive of <c>.npy</c> files, one array per entry, the
/// entry <c>name.npy</c> holding array <c>name</c> (what <c>numpy.savez</c> and <c>numpy.savez_compressed</c> write).
/// Reading accepts format versions 1 to 3, little- and big-endian, C and Fortran order, and the element types
/// float16/32/64 (as float32), signed and unsigned integers and bool (as int64); every entry's CRC-32 is verified.
/// Reading streams (<see cref="NpzArchive"/>): headers first, so that names, types and shapes can be checked against
/// what is expected before any data is read, then each array converted as it is read. Writing produces version 1.0,
/// float32 (<c>&lt;f4</c>) and int64 (<c>&lt;i8</c>) arrays in C order, deflated, with fixed entry times so the same
/// arrays give the same bytes.
/// </summary>
public static class Npz
{
    /// <summary>
    /// Largest .npz file read (4 GiB), and the most bytes its arrays may take once loaded (float32 and int64 values,
    /// after conversion): both are checked from the headers, before any array is read.
    /// </summary>
    public static readonly InputKind Kind = new("NumPy .npz", 4L << 30);

    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads every array of an .npz file, in the archive's order.</summary>
    /// <exception cref="GraphFormatException">Not a regular readable file, not a zip archive, or an entry that is not a
    /// valid .npy array; the message names the file, the entry and the problem.</exception>
    public static IReadOnlyList<NamedArray> Read(string path)
    {
        using var archive = NpzArchive.Open(path);
        return archive.ReadAll();
    }

    /// <summary>Reads every array of an .npz archive from a stream; <paramref name="name"/> is used in messages.</summary>
    public static IReadOnlyList<NamedArray> Read(Stream stream, string name)
    {
        using var archive = NpzArchive.Open(stream, name);
        return archive.ReadAll();
    }

    internal static string Shorten(string s) => s.Length <= 80 && !s.Any(char.IsControl) ? s : new string(s.Take(77).Select(c => char.IsControl(c) ? '?' : c).ToArray()) + "...";

    /// <summary>
    /// Reads the header of the .npy array that <paramref name="s"/> starts with: its element type, order and shape,
    /// checked against the entry's length (<paramref name="length"/>), without reading any data.
    /// </summary>
    internal static NpyHeader ReadHeader(Stream s, long length, string arrayName, string file, string where, Crc32? crc = null)
    {
        // Magic (6 bytes), version (major, minor), then the header's length: 2 bytes in version 1, 4 in versions 2 and 3.
        var prefix = new byte[10];
        if (ReadFully(s, prefix) < 10 || !prefix.AsSpan(0, 6).SequenceEqual(Magic))
            throw new GraphFormatException(file, where, "not a .npy array (no \\x93NUMPY magic)");
        crc?.Append(prefix);
        int major = prefix[6];
        int headerLength;
        if (major == 1) headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(8));
        else if (major is 2 or 3)
        {
            var more = new byte[2];
            if (ReadFully(s, more) < 2) throw new GraphFormatException(file, where, "the .npy header is truncated");
            crc?.Append(more);
            headerLength = (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian([prefix[8], prefix[9], more[0], more[1]]));
        }
        else throw new GraphFormatException(file, where, $".npy format version {major}.{prefix[7]} is not supported (1 to 3 are)");
        int offset = major == 1 ? 10 : 12;
        if (headerLength > 1 << 20 || headerLength > length - offset) throw new GraphFormatException(file, where,
            "the .npy header is truncated or too long");
        var headerBytes = new byte[headerLength];
        if (ReadFully(s, headerBytes) < headerLength) throw new GraphFormatException(file, where, "the .npy header is truncated");
        crc?.Append(headerBytes);
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        var (descr, fortran, shape) = ParseHeader(header, file, where);
        char endian = descr[0];
        string type = descr[1..];
        int size = type switch
        {
            "f2" or "i2" or "u2" => 2,
            "f4" or "i4" or "u4" => 4,
            "f8" or "i8" or "u8" => 8,
            "i1" or "u1" or "b1" => 1,
            _ => throw new GraphFormatException(file, where, $"element type '{Shorten(descr)}' is not supported (floats, integers and bool are)"),
        };
        if (endian is not ('<' or '>' or '|' or '=')) throw new GraphFormatException(file, where,
            $"element type '{Shorten(descr)}' has an unknown byte order");
        long n = 1;
        foreach (var d in shape)
        {
            n *= d;
            if (n > Array.MaxLength) throw new GraphFormatException(file, where,
                $"shape [{string.Join(",", shape)}] has more elements than an array holds");
        }
        long bytes = n * size;
        if (bytes != length - offset - headerLength)
            throw new GraphFormatException(file, where,
                $"holds {length - offset - headerLength} bytes of data, its shape [{string.Join(",", shape)}] of '{descr}' needs {bytes}");
        return new NpyHeader(arrayName, descr, fortran, shape, size, n);
    }

    /// <summary>
    /// Reads the data that follows a header, a chunk at a time, converting each element as it comes (no copy of the
    /// raw bytes is held); <paramref name="crc"/> sees every byte.
    /// </summary>
    internal static NamedArray ReadData(Stream s, NpyHeader h, string file, string where, Crc32 crc)
    {
        int count = (int)h.Elements;
        int size = h.ElementSize;
        string type = h.Descr[1..];
        bool big = h.Descr[0] == '>';
        var order = h.Fortran && h.ShapeArray.Length > 1 ? FortranToC(h.ShapeArray) : null;
        float[]? floats = type[0] == 'f' ? new float[count] : null;
        long[]? longs = floats is null ? new long[count] : null;
        var chunk = new byte[Math.Max(size, Math.Min(1 << 20, count * (long)size))];
        int perChunk = chunk.Length / size;
        for (int done = 0; done < count;)
        {
            int k = Math.Min(perChunk, count - done);
            var data = chunk.AsSpan(0, k * size);
            if (ReadFully(s, data) < data.Length) throw new GraphFormatException(file, where, "the data is truncated");
            crc.Append(data);
            for (int i = 0; i < k; i++)
            {
                var b = data.Slice(i * size, size);
                int at = order is null ? done + i : order[done + i];
                if (floats is not null)
                    floats[at] = type switch
                    {
                        "f4" => big ? BinaryPrimitives.ReadSingleBigEndian(b) : BinaryPrimitives.ReadSingleLittleEndian(b),
                        "f8" => (float)(big ? BinaryPrimitives.ReadDoubleBigEndian(b) : BinaryPrimitives.ReadDoubleLittleEndian(b)),
                        _ => (float)(big ? BinaryPrimitives.ReadHalfBigEndian(b) : BinaryPrimitives.ReadHalfLittleEndian(b)),
                    };
                else
                {
                    if (type == "u8" && (big ? BinaryPrimitives.ReadUInt64BigEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b)) > long.MaxValue)
                        throw new GraphFormatException(file, where, $"element {done + i} does not fit int64");
                    longs![at] = type switch
                    {
                        "i8" or "u8" => big ? BinaryPrimitives.ReadInt64BigEndian(b) : BinaryPrimitives.ReadInt64LittleEndian(b),
                        "i4" => big ? BinaryPrimitives.ReadInt32BigEndian(b) : BinaryPrimitives.ReadInt32LittleEndian(b),
                        "u4" => big ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b),
                        "i2" => big ? BinaryPrimitives.ReadInt16BigEndian(b) : BinaryPrimitives.ReadInt16LittleEndian(b),
                        "u2" => big ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b),
                        "i1" => (sbyte)b[0],
                        _ => b[0],
                    };
                }
            }
            done += k;
        }
        return floats is not null ? NamedArray.Of(h.Name, floats, h.ShapeArray) : NamedArray.Of(h.Name, longs!, h.ShapeArray);
    }

    /// <summary>For each element in Fortran (column-major) storage order, its index in C (row-major) order.</summary>
    private static int[] FortranToC(int[] shape)
    {
        int n = shape.Aggregate(1, (a, d) => a * d);
        var map = new int[n];
        var index = new int[shape.Length];
        for (int f = 0; f < n; f++)
        {
            int c = 0;
            for (int k = 0; k < shape.Length; k++) c = c * shape[k] + index[k];
            map[f] = c;
            for (int k = 0; k < shape.Length; k++) { if (++index[k] < shape[k]) break; index[k] = 0; }
        }
        return map;
    }

    internal static int ReadFully(Stream s, Span<byte> buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int r = s.Read(buffer[read..]);
            if (r == 0) break;
            read += r;
        }
        return read;
    }

    /// <summary>Parses the header dictionary <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }</c>.</summary>
    private static (string Descr, bool Fortran, int[] Shape) ParseHeader(string h, string file, string where)
    {
        string? descr = null; bool? fortran = null; int[]? shape = null;
        int i = 0;
        void Skip() { while (i < h.Length && char.IsWhiteSpace(h[i])) i++; }
        GraphFormatException Bad(string what) => new(file, where, $"the .npy header is not understood ({what}): {Shorten(h.Trim())}");
        string Quoted()
        {
            Skip();
            if (i >= h.Length || h[i] is not ('\'' or '"')) throw Bad("a quoted string expected");
            char q = h[i++];
            int start = i;
            while (i < h.Length && h[i] != q) i++;
            if (i >= h.Length) throw Bad("an unterminated string");
            return h[start..i++];
        }
        Skip();
        if (i >= h.Length || h[i++] != '{') throw Bad("no dictionary");
        while (true)
        {
            Skip();
            if (i < h.Length && h[i] == '}') break;
            string key = Quoted();
            Skip();
            if (i >= h.Length || h[i++] != ':') throw Bad("':' expected");
            Skip();
            switch (key)
            {
                case "descr": descr = Quoted(); break;
                case "fortran_order":
                    if (string.CompareOrdinal(h, i, "True", 0, 4) == 0) { fortran = true; i += 4; }
                    else if (string.CompareOrdinal(h, i, "False", 0, 5) == 0) { fortran = false; i += 5; }
                    else throw Bad("fortran_order is neither True nor False");
                    break;
                case "shape":
                {
                    if (i >= h.Length || h[i++] != '(') throw Bad("the shape is not a tuple");
                    var dims = new List<int>();
                    while (true)
                    {
                        Skip();
                        if (i < h.Length && h[i] == ')') { i++; break; }
                        int start = i;
                        while (i < h.Length && char.IsAsciiDigit(h[i])) i++;
                        if (!int.TryParse(h.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out int d))
                            throw Bad("a dimension is not a non-negative 32-bit integer");
                        dims.Add(d);
                        Skip();
                        if (i < h.Length && h[i] == ',') i++;
                    }
                    shape = dims.ToArray();
                    break;
                }
                default: throw Bad($"unknown key '{Shorten(key)}'");
            }
            Skip();
            if (i < h.Length && h[i] == ',') i++;
        }
        if (descr is null || descr.Length < 2 || fortran is null || shape is null) throw Bad("descr, fortran_order and shape are required");
        return (descr, fortran.Value, shape);
    }

    /// <summary>Writes arrays as an .npz file, atomically (complete or absent).</summary>
    /// <exception cref="IOException">The file cannot be written; the message names it.</exception>
    public static void Write(string path, IEnumerable<NamedArray> arrays) => AtomicFile.WriteAllBytes(path, ToBytes(arrays));

    /// <summary>The bytes of an .npz archive of the arrays (deterministic).</summary>
    public static byte[] ToBytes(IEnumerable<NamedArray> arrays)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var a in arrays)
            {
                if (!names.Add(a.Name)) throw new ArgumentException($"array '{a.Name}' is given twice", nameof(arrays));
                var entry = zip.CreateEntry(a.Name + ".npy", CompressionLevel.SmallestSize);
                entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
                using var s = entry.Open();
                WriteNpy(s, a);
            }
        }
        return ms.ToArray();
    }

    private static void WriteNpy(Stream s, NamedArray a)
    {
        string shape = a.Shape.Count == 1 ? $"({a.Shape[0]},)" : $"({string.Join(", ", a.Shape)})";
        string dict = $"{{'descr': '{(a.Floats is not null ? "<f4" : "<i8")}', 'fortran_order': False, 'shape': {shape}, }}";
        // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64 and ended by '\n'.
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - 10 - 1) + "\n";
        s.Write(Magic);
        s.Write([1, 0]);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        s.Write(len);
        s.Write(Encoding.Latin1.GetBytes(header));
        var data = new byte[(long)a.Length * (a.Floats is not null ? 4 : 8)];
        if (a.Floats is { } f) for (int i = 0; i < f.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * i), f[i]);
        else { var l = a.Longs!; for (int i = 0; i < l.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8 * i), l[i]); }
        s.Write(data);
    }
}
