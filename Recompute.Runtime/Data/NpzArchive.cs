using System.IO.Compression;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;

namespace Recompute.Runtime.Data;

/// <summary>
/// An open <c>.npz</c> archive whose arrays are known by their headers and read one at a time, so that a caller can
/// check names, types and shapes against what it expects before any data is read (a few megabytes of deflated zeros
/// can declare gigabytes). What the arrays take once loaded is bounded by <see cref="Npz.Kind"/>'s limit, checked from
/// the headers before <see cref="ReadAll"/> reads anything; every array read has its entry's CRC-32 verified.
/// </summary>
internal sealed class NpzArchive : IDisposable
{
    private readonly Stream? _owned;
    private readonly ZipArchive _zip;
    private readonly string _name;
    private readonly Dictionary<string, ZipArchiveEntry> _entries = new(StringComparer.Ordinal);

    private NpzArchive(Stream? owned, ZipArchive zip, string name, IReadOnlyList<NpyHeader> arrays, Dictionary<string, ZipArchiveEntry> entries)
    {
        _owned = owned; _zip = zip; _name = name; Arrays = arrays; _entries = entries;
    }

    /// <summary>The arrays' headers, in the archive's order.</summary>
    public IReadOnlyList<NpyHeader> Arrays { get; }

    /// <summary>Opens an .npz file and reads its arrays' headers (not their data).</summary>
    /// <exception cref="GraphFormatException">Not a regular readable file, not a zip archive, or an entry that is not a .npy array.</exception>
    public static NpzArchive Open(string path)
    {
        InputFile.Check(path, Npz.Kind);
        FileStream? stream = null;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (!stream.CanSeek) throw new GraphFormatException(path, null, "is not a regular file: inputs are read only from regular files");
            FileScope.Current?.NoteInput(path, FileStatus.Of(path, followLinks: true), Npz.Kind.What);
            return Open(stream, path, owned: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream?.Dispose();
            throw new GraphFormatException(path, null, $"cannot read the file: {e.Message.ReplaceLineEndings(" ")}");
        }
        catch
        {
            stream?.Dispose();
            throw;
        }
    }

    /// <summary>Opens an .npz archive held by a stream (left open); <paramref name="name"/> is used in messages.</summary>
    public static NpzArchive Open(Stream stream, string name) => Open(stream, name, owned: false);

    private static NpzArchive Open(Stream stream, string name, bool owned)
    {
        ZipArchive zip;
        try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: !owned); }
        catch (InvalidDataException) { throw new GraphFormatException(name, null, "not a NumPy .npz file (not a zip archive)"); }
        try
        {
            var arrays = new List<NpyHeader>();
            var entries = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
            foreach (var entry in zip.Entries)
            {
                if (entry.FullName.EndsWith('/')) continue;
                string arrayName = entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName;
                string where = Where(arrayName);
                if (arrayName.Length == 0) throw new GraphFormatException(name, $"entry '{Npz.Shorten(entry.FullName)}'", "an array without a name");
                if (entries.ContainsKey(arrayName)) throw new GraphFormatException(name, where, "appears twice in the archive");
                NpyHeader header;
                try
                {
                    using var s = entry.Open();
                    header = Npz.ReadHeader(s, entry.Length, arrayName, name, where);
                }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw new GraphFormatException(name, where,
                    $"the compressed data is corrupt: {e.Message.ReplaceLineEndings(" ")}"); }
                arrays.Add(header);
                entries[arrayName] = entry;
            }
            if (arrays.Count == 0) throw new GraphFormatException(name, null, "the archive holds no array");
            return new NpzArchive(owned ? stream : null, zip, name, arrays, entries);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
        {
            // The central directory is read as the entries are listed: its faults surface here, not at open.
            zip.Dispose();
            throw new GraphFormatException(name, null, $"the zip archive is corrupt: {e.Message.ReplaceLineEndings(" ")}");
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    private static string Where(string arrayName) => $"array '{Npz.Shorten(arrayName)}'";

    /// <summary>Reads one array (header and data again, the whole entry through its CRC-32, which must match).</summary>
    /// <exception cref="GraphFormatException">Truncated or corrupt data, or a CRC-32 that does not match.</exception>
    public NamedArray Read(NpyHeader header)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (!_entries.TryGetValue(header.Name, out var entry)) throw new ArgumentException($"array '{header.Name}' is not in {_name}",
            nameof(header));
        string where = Where(header.Name);
        try
        {
            using var s = entry.Open();
            var crc = new Crc32();
            var again = Npz.ReadHeader(s, entry.Length, header.Name, _name, where, crc);
            if (again != header) throw new GraphFormatException(_name, where, "the header changed while the archive was read");
            var array = Npz.ReadData(s, header, _name, where, crc);
            // Bytes past the data would be an entry longer than its header says: the length was checked, so this is corruption.
            Span<byte> extra = stackalloc byte[1];
            if (Npz.ReadFully(s, extra) != 0) throw new GraphFormatException(_name, where, "holds more data than its length says");
            if (crc.Value != entry.Crc32)
                throw new GraphFormatException(_name, where,
                    $"the data does not match its CRC-32 (0x{crc.Value:x8}, the archive says 0x{entry.Crc32:x8}): the file is corrupt");
            return array;
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw new GraphFormatException(_name, where,
            $"the compressed data is corrupt: {e.Message.ReplaceLineEndings(" ")}"); }
        catch (IOException e) { throw new GraphFormatException(_name, where, $"cannot read the data: {e.Message.ReplaceLineEndings(" ")}"); }
    }

    /// <summary>Reads every array, in the archive's order, once their headers say they fit <see cref="Npz.Kind"/>'s limit together.</summary>
    public IReadOnlyList<NamedArray> ReadAll()
    {
        long loaded = 0;
        foreach (var h in Arrays)
        {
            loaded += h.LoadedBytes;
            if (loaded > Npz.Kind.MaxBytes)
                throw new GraphFormatException(_name, Where(h.Name),
                    $"the arrays take more than the {Npz.Kind.MaxBytes} bytes an .npz may expand to once loaded ({Planner.Units.ByteSize.Format(Npz.Kind.MaxBytes)})");
        }
        return Arrays.Select(Read).ToList();
    }

    public void Dispose()
    {
        _zip.Dispose();
        _owned?.Dispose();
    }
}

/// <summary>What an .npy header declares: the element type, order and shape of an array, before its data is read.</summary>
/// <param name="Name">The array's name (its entry's, without <c>.npy</c>).</param>
/// <param name="Descr">NumPy's type string, e.g. <c>&lt;f4</c>.</param>
/// <param name="Fortran">Whether the data is in column-major order.</param>
/// <param name="ShapeArray">The dimensions.</param>
/// <param name="ElementSize">Bytes per stored element.</param>
/// <param name="Elements">Number of elements.</param>
internal sealed record NpyHeader(string Name, string Descr, bool Fortran, int[] ShapeArray, int ElementSize, long Elements)
{
    /// <summary>The dimensions.</summary>
    public IReadOnlyList<int> Shape => ShapeArray;

    /// <summary>The type the array has once read: <c>float32</c> for floats, <c>int64</c> for integers and bool.</summary>
    public string DType => Descr.Length > 1 && Descr[1] == 'f' ? "float32" : "int64";

    /// <summary>Bytes the array takes once read (4 per float32, 8 per int64).</summary>
    public long LoadedBytes => Elements * (DType == "float32" ? 4 : 8);

    /// <summary>The shape as the runtime prints it: <c>[2,3,224,224]</c>.</summary>
    public string ShapeText => $"[{string.Join(",", ShapeArray)}]";

    public bool Equals(NpyHeader? other) =>
        other is not null && Name == other.Name && Descr == other.Descr && Fortran == other.Fortran && ShapeArray.AsSpan().SequenceEqual(other.ShapeArray) && ElementSize == other.ElementSize;

    public override int GetHashCode() => HashCode.Combine(Name, Descr, Fortran, ShapeArray.Length, ElementSize);
}

/// <summary>CRC-32 as zip computes it (IEEE 802.3, reflected, polynomial 0xEDB88320), fed in pieces.</summary>
internal sealed class Crc32
{
    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private uint _state = 0xFFFFFFFFu;

    public void Append(ReadOnlySpan<byte> data)
    {
        uint c = _state;
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        _state = c;
    }

    /// <summary>The checksum of everything appended so far.</summary>
    public uint Value => ~_state;
}
