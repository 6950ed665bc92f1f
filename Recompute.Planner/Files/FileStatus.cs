using System.Runtime.InteropServices;

namespace Recompute.Planner.Files;

/// <summary>What a path names, as the file system says (the type bits of <c>st_mode</c>).</summary>
public enum FileKind
{
    /// <summary>Nothing exists at the path.</summary>
    Missing,
    Regular,
    Directory,
    SymbolicLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
    /// <summary>A type this code does not know, or one it could not determine.</summary>
    Unknown,
}

/// <summary>The type and identity of a file, without opening it (opening a FIFO blocks until a writer comes).</summary>
/// <param name="Kind">What the path names.</param>
/// <param name="Device">The device of the file system holding it (0 when unknown).</param>
/// <param name="Inode">Its inode on that device (0 when unknown): with <paramref name="Device"/>, the file's identity.</param>
public readonly record struct FileStatus(FileKind Kind, ulong Device, ulong Inode)
{
    /// <summary>Whether both describe the same existing file (same device and inode).</summary>
    public bool SameFileAs(FileStatus other) =>
        Kind != FileKind.Missing && other.Kind != FileKind.Missing && Inode != 0 && Device == other.Device && Inode == other.Inode;

    /// <summary>The kind in words, for messages ("a FIFO", "a character device").</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Missing => "missing",
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.SymbolicLink => "a symbolic link",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.Socket => "a socket",
        _ => "not a regular file",
    };

    /// <summary>
    /// The status of <paramref name="path"/>: of the link itself when <paramref name="followLinks"/> is false, of
    /// what it finally points to otherwise (a dangling link is then <see cref="FileKind.Missing"/>).
    /// </summary>
    public static FileStatus Of(string path, bool followLinks)
    {
        if (OperatingSystem.IsLinux()) return Linux(path, followLinks);
        // Elsewhere .NET tells directories, links and files apart, which is what Windows has.
        var info = new FileInfo(path);
        if (!followLinks && info.LinkTarget is not null) return new FileStatus(FileKind.SymbolicLink, 0, 0);
        if (Directory.Exists(path)) return new FileStatus(FileKind.Directory, 0, 0);
        return new FileStatus(File.Exists(path) ? FileKind.Regular : FileKind.Missing, 0, 0);
    }

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1, StatxIno = 0x100;
    private const int Enoent = 2, Enotdir = 20;

    // struct statx has the same layout on every Linux architecture (unlike struct stat): stx_mode is the u16 at
    // byte 28, stx_ino the u64 at 32, stx_dev_major/minor the u32s at 136 and 140; the struct is 256 bytes.
    private static unsafe FileStatus Linux(string path, bool followLinks)
    {
        byte* buffer = stackalloc byte[256];
        int rc = Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType | StatxIno, buffer);
        if (rc != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return new FileStatus(errno is Enoent or Enotdir ? FileKind.Missing : FileKind.Unknown, 0, 0);
        }
        ushort mode = *(ushort*)(buffer + 28);
        ulong inode = *(ulong*)(buffer + 32);
        ulong device = (ulong)*(uint*)(buffer + 136) << 32 | *(uint*)(buffer + 140);
        var kind = (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0xA000 => FileKind.SymbolicLink,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            _ => FileKind.Unknown,
        };
        return new FileStatus(kind, device, inode);
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern unsafe int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);
}
