using System.IO.Compression;
using System.Text;
using Recompute.Planner.Graph;
using Recompute.Runtime.Data;
using Recompute.Tests.Import;

namespace Recompute.Tests.Runtime.Data;

public class NpzTests
{
    /// <summary>An .npy entry byte for byte as NumPy 1.x/2.x writes it (version 1.0, header padded to 64 bytes).</summary>
    private static byte[] Npy(string descr, bool fortran, string shape, byte[] data, int major = 1)
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': {(fortran ? "True" : "False")}, 'shape': {shape}, }}";
        int pre = major == 1 ? 10 : 12;
        int total = (pre + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - pre - 1) + "\n";
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)header.Length));
        else ms.Write(BitConverter.GetBytes((uint)header.Length));
        ms.Write(Encoding.Latin1.GetBytes(header));
        ms.Write(data);
        return ms.ToArray();
    }

    private static string Zip(TempFolder folder, string file, params (string Name, byte[] Bytes)[] entries)
    {
        string path = folder.File(file);
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        foreach (var (name, bytes) in entries)
        {
            using var s = zip.CreateEntry(name, name.Contains("deflate") ? CompressionLevel.Optimal : CompressionLevel.NoCompression).Open();
            s.Write(bytes);
        }
        return path;
    }

    private static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void ReadsWhatNumPyWrites_StoredAndDeflated_COrderFortranOrderAndBigEndian()
    {
        using var folder = new TempFolder();
        // A 2×3 array [[1,2,3],[4,5,6]] stored in Fortran order is 1,4,2,5,3,6 in the file.
        var bigEndian = new byte[] { 0, 0, 0, 0, 0, 0, 0, 7 }; // int64 7, big-endian
        string path = Zip(folder, "batch.npz",
            ("x.npy", Npy("<f4", false, "(2, 3)", Floats(1, 2, 3, 4, 5, 6))),
            ("f_deflate.npy", Npy("<f4", true, "(2, 3)", Floats(1, 4, 2, 5, 3, 6))),
            ("labels.npy", Npy("<i8", false, "(2,)", [.. BitConverter.GetBytes(3L), .. BitConverter.GetBytes(-1L)])),
            ("big.npy", Npy(">i8", false, "()", bigEndian)),
            ("v2.npy", Npy("<f8", false, "(1,)", BitConverter.GetBytes(0.5), major: 2)),
            ("mask.npy", Npy("|b1", false, "(3,)", [1, 0, 1])));
        var arrays = Npz.Read(path).ToDictionary(a => a.Name);
        Assert.Equal([1f, 2, 3, 4, 5, 6], arrays["x"].Floats!);
        Assert.Equal([2, 3], arrays["x"].Shape);
        Assert.Equal([1f, 2, 3, 4, 5, 6], arrays["f_deflate"].Floats!);
        Assert.Equal([3L, -1], arrays["labels"].Longs!);
        Assert.Equal([7L], arrays["big"].Longs!);
        Assert.Empty(arrays["big"].Shape);
        Assert.Equal([0.5f], arrays["v2"].Floats!);
        Assert.Equal([1L, 0, 1], arrays["mask"].Longs!);
    }

    [Fact]
    public void WriteThenRead_RoundTrips_AndWritesTheSameBytesTwice()
    {
        using var folder = new TempFolder();
        var arrays = new[] { NamedArray.Of("input", [1.5f, -2f, float.MaxValue, 0f], 2, 2), NamedArray.Of("target", [0L, 1L << 40], 2) };
        string a = folder.File("a.npz"), b = folder.File("b.npz");
        Npz.Write(a, arrays);
        Npz.Write(b, arrays);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        var back = Npz.Read(a);
        Assert.Equal(arrays[0].Floats, back[0].Floats);
        Assert.Equal(arrays[0].Shape, back[0].Shape);
        Assert.Equal(arrays[1].Longs, back[1].Longs);
        // The entry is what NumPy reads: magic, version 1.0, a header ending in '\n' at a multiple of 64 bytes.
        using var zip = ZipFile.OpenRead(a);
        using var s = zip.GetEntry("input.npy")!.Open();
        var head = new byte[128];
        s.ReadExactly(head);
        Assert.Equal(0x93, head[0]);
        Assert.Equal("NUMPY", Encoding.ASCII.GetString(head, 1, 5));
        int len = BitConverter.ToUInt16(head, 8);
        Assert.Equal(0, (10 + len) % 64);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", Encoding.Latin1.GetString(head, 10, len));
    }

    [Theory]
    [InlineData("notzip", "not a zip archive")]
    [InlineData("badmagic", "no \\x93NUMPY magic")]
    [InlineData("short", "needs 24")]
    [InlineData("complex", "'<c8' is not supported")]
    [InlineData("header", "header is not understood")]
    public void ABadFile_IsOneLineNamingTheFileTheArrayAndTheProblem(string kind, string expected)
    {
        using var folder = new TempFolder();
        string path = kind switch
        {
            "notzip" => WriteRaw(folder.File("x.npz"), "hello"),
            "badmagic" => Zip(folder, "x.npz", ("a.npy", Encoding.ASCII.GetBytes("not numpy at all"))),
            "short" => Zip(folder, "x.npz", ("a.npy", Npy("<f4", false, "(2, 3)", Floats(1, 2)))),
            "complex" => Zip(folder, "x.npz", ("a.npy", Npy("<c8", false, "(1,)", new byte[8]))),
            _ => Zip(folder, "x.npz", ("a.npy", Npy("<f4", false, "[1]", new byte[4]))),
        };
        var e = Assert.Throws<GraphFormatException>(() => Npz.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        if (kind != "notzip") Assert.Contains("array 'a'", e.Message);
    }

    private static string WriteRaw(string path, string text) { File.WriteAllText(path, text); return path; }
}
