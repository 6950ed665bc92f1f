using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recompute.Runtime.Kernels;

/// <summary>Which register-tile kernel <see cref="PackedGemm"/> runs.</summary>
internal enum GemmKernelKind
{
    /// <summary>Portable scalar 4×4 tile (no SIMD hardware).</summary>
    Scalar,
    /// <summary>6×16 tile on Vector256 with FMA (AVX2).</summary>
    Vector256,
    /// <summary>Tile of 32 columns on Vector512 with FMA (AVX-512F).</summary>
    Vector512,
}

/// <summary>Cache blocking of one kernel: register tile MR×NR, A block MC×KC (L2), B panel KC×NC.</summary>
internal readonly record struct GemmBlocking(int MR, int NR, int MC, int KC, int NC);

/// <summary>
/// Packed, blocked GEMM in the Goto/BLIS layout. For each NC-wide column panel and each KC-deep slice of k, B is
/// packed once into NR-wide slivers; then work items (an MC-row block of A times a range of B slivers) run, each
/// packing its A block into MR-tall slivers and sweeping the register-tile kernel over it. A parallel call is cut into
/// one whole sub-GEMM per thread, by rows or by columns (<see cref="Split"/>); only a call with too few of either
/// spreads each slice's work items over the threads instead. When m fits
/// one row block (typical of convolutions), a non-transposed B is read in place instead of packed, since no other
/// work item would reuse the packed copy. Packing of row-major A and transposed B uses AVX 8×8 transposes.
/// Operands are strided (<see cref="MultiplyStrided"/>): A(i, p) = a[i·ars + p·acs], B(p, j) = b[p·brs + j·bcs] and
/// C(i, j) = c[i·ldc + j], so a transposed operand, a matrix of a batch read with other batch axes interleaved
/// ([B, T, H, D] read as [B, H, T, D]) or a weight read as Bᵀ is packed from where it lies, with no copy first. The
/// packed panels are the same whatever the strides, so the bits of C are too.
/// Scratch (packed A per thread, packed B per calling thread) lives in pinned thread-static arrays: about 0.25 MB and
/// 6 MB at most with the AVX-512 blocking, allocated once per thread and reused by every call.
/// </summary>
/// <remarks>
/// Determinism: blocking depends only on the kernel kind, never on the thread count, and each C element is owned by
/// exactly one work item, which adds the KC slices in increasing order. So the bits of C are the same for any
/// number of threads.
/// </remarks>
internal static unsafe class PackedGemm
{
    /// <summary>The fastest kernel the hardware supports.</summary>
    internal static GemmKernelKind BestKernel { get; } =
        Avx512F.IsSupported ? GemmKernelKind.Vector512
        : Avx2.IsSupported && Fma.IsSupported ? GemmKernelKind.Vector256
        : GemmKernelKind.Scalar;

    internal static GemmBlocking BlockingFor(GemmKernelKind kind) => kind switch
    {
        GemmKernelKind.Vector512 => new GemmBlocking(MR: 8, NR: 32, MC: 96, KC: 512, NC: 3072),
        GemmKernelKind.Vector256 => new GemmBlocking(MR: 6, NR: 16, MC: 96, KC: 384, NC: 2048),
        _ => new GemmBlocking(MR: 4, NR: 4, MC: 64, KC: 256, NC: 1024),
    };

    /// <summary>Below this many multiply-adds a call runs on the calling thread only.</summary>
    private const long ParallelThreshold = 96L * 96 * 96;

    /// <summary>Validates the arguments and runs the GEMM with the given kernel and (for tuning and tests) an
    /// optional non-default blocking; for Vector512, MR may be 8 or 12.</summary>
    internal static void Multiply(GemmKernelKind kind, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c,
        int m, int n, int k, bool transA, bool transB, float alpha, float beta, int maxDegreeOfParallelism,
        GemmBlocking? blocking = null)
    {
        var blk = blocking ?? BlockingFor(kind);
        var defaults = BlockingFor(kind);
        if (blk.NR != defaults.NR || (blk.MR != defaults.MR && !(kind == GemmKernelKind.Vector512 && blk.MR == 12)) ||
            blk.MC < blk.MR || blk.MC % blk.MR != 0 || blk.KC < 1 || blk.NC < blk.NR || blk.NC % blk.NR != 0)
            throw new ArgumentException($"Blocking {blk} does not fit the {kind} kernel.", nameof(blocking));
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (a.Length < (long)m * k)
            throw new ArgumentException($"A has {a.Length} elements, needs {(long)m * k} for {m}x{k}.", nameof(a));
        if (b.Length < (long)k * n)
            throw new ArgumentException($"B has {b.Length} elements, needs {(long)k * n} for {k}x{n}.", nameof(b));
        if (c.Length < (long)m * n)
            throw new ArgumentException($"C has {c.Length} elements, needs {(long)m * n} for {m}x{n}.", nameof(c));
        Run(kind, blk, a, transA ? 1 : k, transA ? m : 1, b, transB ? 1 : n, transB ? k : 1, c, n, m, n, k, alpha, beta,
            maxDegreeOfParallelism);
    }

    /// <summary>
    /// C = alpha·A·B + beta·C over strided operands: A(i, p) = a[i·ars + p·acs] (m×k), B(p, j) = b[p·brs + j·bcs]
    /// (k×n), C(i, j) = c[i·ldc + j] (m×n). Any strides pack; when one of an operand's two strides is 1 the packing
    /// moves whole rows or 8×8 blocks, otherwise element by element.
    /// </summary>
    internal static void MultiplyStrided(GemmKernelKind kind, ReadOnlySpan<float> a, int ars, int acs, ReadOnlySpan<float> b,
        int brs, int bcs, Span<float> c, int ldc, int m, int n, int k, float alpha, float beta, int maxDegreeOfParallelism)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (ars < 0 || acs < 0 || brs < 0 || bcs < 0 || ldc < n)
            throw new ArgumentException($"Strides A ({ars}, {acs}), B ({brs}, {bcs}) and ldc {ldc} must be non-negative, ldc at least n = {n}.");
        if (m > 0 && k > 0 && a.Length < (m - 1L) * ars + (k - 1L) * acs + 1)
            throw new ArgumentException($"A has {a.Length} elements, its {m}x{k} strides ({ars}, {acs}) reach {(m - 1L) * ars + (k - 1L) * acs + 1}.", nameof(a));
        if (k > 0 && n > 0 && b.Length < (k - 1L) * brs + (n - 1L) * bcs + 1)
            throw new ArgumentException($"B has {b.Length} elements, its {k}x{n} strides ({brs}, {bcs}) reach {(k - 1L) * brs + (n - 1L) * bcs + 1}.", nameof(b));
        if (m > 0 && n > 0 && c.Length < (m - 1L) * ldc + n)
            throw new ArgumentException($"C has {c.Length} elements, needs {(m - 1L) * ldc + n} for {m}x{n} with row stride {ldc}.", nameof(c));
        Run(kind, BlockingFor(kind), a, ars, acs, b, brs, bcs, c, ldc, m, n, k, alpha, beta, maxDegreeOfParallelism);
    }

    private static void Run(GemmKernelKind kind, GemmBlocking blk, ReadOnlySpan<float> a, int ars, int acs, ReadOnlySpan<float> b,
        int brs, int bcs, Span<float> c, int ldc, int m, int n, int k, float alpha, float beta, int maxDegreeOfParallelism)
    {
        if (m == 0 || n == 0)
            return;
        if (k == 0 || alpha == 0f)
        {
            for (int i = 0; i < m; i++) ScaleC(c.Slice(i * ldc, n), beta);
            return;
        }

        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            int degree = (long)m * n * k < ParallelThreshold ? 1 : maxDegreeOfParallelism;
            var split = degree > 1 ? Split.For(blk, m, n, k, bcs == 1, degree) : default;
            if (split.Parts > 1)
            {
                WorkerPool.For(split.Parts, degree, new Parts(kind, blk, pa, ars, acs, pb, brs, bcs, pc, ldc, m, n, k, alpha, beta, split));
                return;
            }
            RunSerial(kind, blk, pa, ars, acs, pb, brs, bcs, pc, ldc, m, n, k, alpha, beta, degree);
        }
    }

    /// <summary>The whole GEMM on one job: the calling thread's, or split per k slice over <paramref name="degree"/> threads.</summary>
    private static void RunSerial(GemmKernelKind kind, GemmBlocking blk, float* a, int ars, int acs, float* b, int brs, int bcs,
        float* c, int ldc, int m, int n, int k, float alpha, float beta, int degree)
    {
        // One job object per thread, reused by its calls: a GEMM never starts another on the same thread.
        var job = t_job ??= new Job();
        job.Init(kind, blk, a, ars, acs, b, brs, bcs, c, ldc, m, n, k, alpha, beta, degree);
        job.Run();
    }

    /// <summary>
    /// How a parallel GEMM is cut into independent sub-GEMMs, each run whole (every k slice) on one thread: C's rows
    /// in multiples of MR or its columns in multiples of NR. One fork for the call, where splitting each k slice's work
    /// needs two per slice and waits at each for the slowest thread. Tile boundaries stay where the undivided GEMM has
    /// them and each element still adds the same KC slices in the same order, so the bits of C are unchanged.
    /// </summary>
    internal readonly record struct Split(int Parts, bool Rows, int UnitsPerPart)
    {
        /// <summary>Packing one element, counted in multiply-adds of the kernel: a vector copy or 8×8 transpose
        /// moves a few elements per cycle where the kernel issues 32 multiply-adds, and a packed panel larger than
        /// L2 goes through L3. Set from ResNet-18's batched convolutions at 2 threads: 4 split a 256×1568×2304
        /// forward by rows, 8 by columns, 7 % faster.</summary>
        private const long PackCost = 8;

        /// <summary>The cheaper of a row and a column split into <paramref name="degree"/> parts, by the largest
        /// part's multiply-adds plus the packing each part does: all of B for a row part and A for a column part,
        /// their own share of the other, and no B where a part fits one row block and B is read in place. No split
        /// along a dimension of fewer units than parts.</summary>
        public static Split For(GemmBlocking blk, int m, int n, int k, bool bUnitColumns, int degree)
        {
            int rowUnits = (m + blk.MR - 1) / blk.MR, colUnits = (n + blk.NR - 1) / blk.NR;
            long best = long.MaxValue;
            Split choice = default;
            if (rowUnits >= degree)
            {
                int per = (rowUnits + degree - 1) / degree;
                int rows = Math.Min(m, per * blk.MR);
                bool inPlace = bUnitColumns && rows <= blk.MC;
                long cost = (long)rows * n * k + (inPlace ? 0 : PackCost * n * k) + PackCost * rows * k;
                if (cost < best) (best, choice) = (cost, new Split((rowUnits + per - 1) / per, true, per));
            }
            if (colUnits >= degree)
            {
                int per = (colUnits + degree - 1) / degree;
                int cols = Math.Min(n, per * blk.NR);
                bool inPlace = bUnitColumns && m <= blk.MC;
                long cost = (long)m * cols * k + PackCost * m * k + (inPlace ? 0 : PackCost * cols * k);
                if (cost < best) (best, choice) = (cost, new Split((colUnits + per - 1) / per, false, per));
            }
            return choice;
        }
    }

    /// <summary>Part i of a split GEMM: its rows or columns of C, every k slice, on the thread that claims it.</summary>
    private readonly struct Parts(GemmKernelKind kind, GemmBlocking blk, float* a, int ars, int acs, float* b, int brs, int bcs,
        float* c, int ldc, int m, int n, int k, float alpha, float beta, Split split) : IIndexBody
    {
        public void Run(int part)
        {
            if (split.Rows)
            {
                int first = part * split.UnitsPerPart * blk.MR, rows = Math.Min(m - first, split.UnitsPerPart * blk.MR);
                RunSerial(kind, blk, a + (long)first * ars, ars, acs, b, brs, bcs, c + (long)first * ldc, ldc, rows, n, k, alpha, beta, 1);
            }
            else
            {
                int first = part * split.UnitsPerPart * blk.NR, cols = Math.Min(n - first, split.UnitsPerPart * blk.NR);
                RunSerial(kind, blk, a, ars, acs, b + (long)first * bcs, brs, bcs, c + first, ldc, m, cols, k, alpha, beta, 1);
            }
        }
    }

    private static void ScaleC(Span<float> c, float beta)
    {
        if (beta == 0f)
            c.Clear();
        else if (beta != 1f)
            System.Numerics.Tensors.TensorPrimitives.Multiply(c, beta, c);
    }

    [ThreadStatic] private static Job? t_job;
    [ThreadStatic] private static float[]? packedA;
    [ThreadStatic] private static float[]? packedB;

    /// <summary>A 64-byte aligned pointer into a pinned, thread-owned scratch array of at least
    /// <paramref name="length"/> floats (the array lives as long as the thread, so it stays pinned).</summary>
    private static float* Scratch(ref float[]? slot, int length)
    {
        if (slot is null || slot.Length < length + 16)
            slot = GC.AllocateUninitializedArray<float>(length + 16, pinned: true);
        float* p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(slot));
        nint misalignment = (nint)p & 63;
        return misalignment == 0 ? p : (float*)((byte*)p + (64 - misalignment));
    }

    /// <summary>One GEMM call: holds the operands as raw pointers so that work items can run on pool threads.</summary>
    private sealed class Job
    {
        private GemmKernelKind kind;
        private GemmBlocking blk;
        private float* a, b, c;
        private int m, n, k;
        // Element strides: A(i, p) = a[i·ars + p·acs], B(p, j) = b[p·brs + j·bcs], C(i, j) = c[i·ldc + j].
        private int ars, acs, brs, bcs, ldc;
        private float alpha, beta;
        private int degree;

        // State of the current (jc, pc) panel, published before each parallel region.
        private float* bPanel;
        private int jc, nc, pc, kc, mBlocks, nChunks, nSlivers;
        // With a single row block every B sliver is used by one work item only, so packing it buys no reuse: full
        // slivers of a B with unit column stride are then read in place (row stride brs) and only edge slivers are packed.
        private bool bInPlace;

        public void Init(GemmKernelKind kind, GemmBlocking blk, float* a, int ars, int acs, float* b, int brs, int bcs, float* c, int ldc,
            int m, int n, int k, float alpha, float beta, int degree)
        {
            this.kind = kind; this.blk = blk;
            this.a = a; this.b = b; this.c = c;
            this.m = m; this.n = n; this.k = k;
            this.ars = ars; this.acs = acs; this.brs = brs; this.bcs = bcs; this.ldc = ldc;
            this.alpha = alpha; this.beta = beta;
            this.degree = Math.Max(1, degree);
        }

        private readonly struct Tasks(Job job) : IIndexBody
        {
            public void Run(int task) => job.RunTask(task);
        }

        private readonly struct PackChunks(Job job, int chunks) : IIndexBody
        {
            public void Run(int i) => job.PackB(job.nSlivers * i / chunks, job.nSlivers * (i + 1) / chunks);
        }

        public void Run()
        {
            int panelWidth = Math.Min(blk.NC, RoundUp(n, blk.NR));
            int panelDepth = Math.Min(blk.KC, k);
            mBlocks = (m + blk.MC - 1) / blk.MC;
            bInPlace = bcs == 1 && mBlocks == 1;
            if (!bInPlace)
                bPanel = Scratch(ref packedB, panelWidth * panelDepth);
            bool parallel = degree > 1;

            for (jc = 0; jc < n; jc += blk.NC)
            {
                nc = Math.Min(blk.NC, n - jc);
                nSlivers = (nc + blk.NR - 1) / blk.NR;
                // Split columns only as far as needed to give every thread work; the split never changes results.
                nChunks = !parallel ? 1 : Math.Clamp((2 * degree + mBlocks - 1) / mBlocks, 1, nSlivers);
                for (pc = 0; pc < k; pc += blk.KC)
                {
                    kc = Math.Min(blk.KC, k - pc);
                    int tasks = mBlocks * nChunks;
                    if (bInPlace)
                    {
                        if (!parallel || tasks == 1)
                            for (int t = 0; t < tasks; t++) RunTask(t);
                        else
                            WorkerPool.For(tasks, degree, new Tasks(this));
                    }
                    else if (!parallel || tasks == 1)
                    {
                        PackB(0, nSlivers);
                        for (int t = 0; t < tasks; t++)
                            RunTask(t);
                    }
                    else
                    {
                        int packChunks = Math.Min(nSlivers, degree);
                        WorkerPool.For(packChunks, degree, new PackChunks(this, packChunks));
                        WorkerPool.For(tasks, degree, new Tasks(this));
                    }
                }
            }
        }

        /// <summary>Packs B slivers [s0, s1) of the current panel: sliver s holds, for each p, NR consecutive
        /// columns (zero beyond n).</summary>
        private void PackB(int s0, int s1)
        {
            for (int s = s0; s < s1; s++)
                PackBSliver(s, bPanel + (long)s * kc * blk.NR);
        }

        private void PackBSliver(int s, float* dst)
        {
            int nr = blk.NR;
            int col0 = jc + s * nr;
            int cols = Math.Min(nr, n - col0);
            if (bcs == 1)
            {
                // Rows of B are contiguous: NR consecutive elements at row stride brs.
                float* src = b + (long)pc * brs + col0;
                if (cols == nr)
                {
                    for (int p = 0; p < kc; p++, src += brs, dst += nr)
                        Buffer.MemoryCopy(src, dst, nr * sizeof(float), nr * sizeof(float));
                }
                else
                {
                    for (int p = 0; p < kc; p++, src += brs, dst += nr)
                    {
                        int j = 0;
                        for (; j < cols; j++) dst[j] = src[j];
                        for (; j < nr; j++) dst[j] = 0f;
                    }
                }
            }
            else if (brs == 1)
            {
                // Columns of B are contiguous over p (a transposed B, stored n×k with row stride bcs).
                if (cols == nr && nr % 8 == 0 && Avx.IsSupported)
                {
                    int p = 0;
                    for (; p + 8 <= kc; p += 8)
                        for (int j = 0; j < nr; j += 8)
                            Transpose8x8(b + (long)(col0 + j) * bcs + pc + p, bcs, dst + p * nr + j, nr);
                    for (; p < kc; p++)
                        for (int j = 0; j < nr; j++)
                            dst[p * nr + j] = b[(long)(col0 + j) * bcs + pc + p];
                    return;
                }
                for (int j = 0; j < nr; j++)
                {
                    if (j < cols)
                    {
                        float* src = b + (long)(col0 + j) * bcs + pc;
                        for (int p = 0; p < kc; p++) dst[p * nr + j] = src[p];
                    }
                    else
                    {
                        for (int p = 0; p < kc; p++) dst[p * nr + j] = 0f;
                    }
                }
            }
            else
            {
                for (int p = 0; p < kc; p++, dst += nr)
                {
                    float* src = b + (long)(pc + p) * brs + (long)col0 * bcs;
                    int j = 0;
                    for (; j < cols; j++) dst[j] = src[(long)j * bcs];
                    for (; j < nr; j++) dst[j] = 0f;
                }
            }
        }

        /// <summary>Packs rows [ic, ic+mc) of the current k slice into MR-tall slivers (zero beyond m).</summary>
        private void PackA(float* dst, int ic, int mc)
        {
            int mr = blk.MR;
            for (int r0 = 0; r0 < mc; r0 += mr, dst += (long)mr * kc)
            {
                int rows = Math.Min(mr, mc - r0);
                if (acs == 1 && mr == 8 && rows == 8 && Avx.IsSupported)
                {
                    // Rows of A are contiguous (row stride ars).
                    float* src = a + (long)(ic + r0) * ars + pc;
                    int p = 0;
                    for (; p + 8 <= kc; p += 8)
                        Transpose8x8(src + p, ars, dst + p * 8);
                    for (; p < kc; p++)
                        for (int r = 0; r < 8; r++) dst[p * 8 + r] = src[(long)r * ars + p];
                }
                else if (acs == 1)
                {
                    for (int r = 0; r < mr; r++)
                    {
                        if (r < rows)
                        {
                            float* src = a + (long)(ic + r0 + r) * ars + pc;
                            for (int p = 0; p < kc; p++) dst[p * mr + r] = src[p];
                        }
                        else
                        {
                            for (int p = 0; p < kc; p++) dst[p * mr + r] = 0f;
                        }
                    }
                }
                else if (ars == 1)
                {
                    // A is stored k×m (column stride acs): for each p the MR rows are contiguous.
                    float* src = a + (long)pc * acs + ic + r0;
                    if (mr == 8 && rows == 8 && Avx.IsSupported)
                    {
                        for (int p = 0; p < kc; p++, src += acs)
                            Avx.Store(dst + p * 8, Avx.LoadVector256(src));
                        continue;
                    }
                    for (int p = 0; p < kc; p++, src += acs)
                    {
                        float* d = dst + p * mr;
                        int r = 0;
                        for (; r < rows; r++) d[r] = src[r];
                        for (; r < mr; r++) d[r] = 0f;
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* src = a + (long)(pc + p) * acs + (long)(ic + r0) * ars;
                        float* d = dst + p * mr;
                        int r = 0;
                        for (; r < rows; r++) d[r] = src[(long)r * ars];
                        for (; r < mr; r++) d[r] = 0f;
                    }
                }
            }
        }

        /// <summary>Writes the transpose of the 8×8 block at <paramref name="src"/> (row stride
        /// <paramref name="lds"/>) to <paramref name="dst"/>: column j of the block becomes dst[j·ldd .. j·ldd+8).</summary>
        private static void Transpose8x8(float* src, int lds, float* dst, int ldd = 8)
        {
            var r0 = Avx.LoadVector256(src);
            var r1 = Avx.LoadVector256(src + lds);
            var r2 = Avx.LoadVector256(src + 2L * lds);
            var r3 = Avx.LoadVector256(src + 3L * lds);
            var r4 = Avx.LoadVector256(src + 4L * lds);
            var r5 = Avx.LoadVector256(src + 5L * lds);
            var r6 = Avx.LoadVector256(src + 6L * lds);
            var r7 = Avx.LoadVector256(src + 7L * lds);
            // Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves.
            var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
            var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
            var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
            var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
            var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
            var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
            var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
            var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
            Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
            Avx.Store(dst + 1 * ldd, Avx.Permute2x128(u1, u5, 0x20));
            Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
            Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
            Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
            Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
            Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
            Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
        }

        private void RunTask(int task)
        {
            int mr = blk.MR, nr = blk.NR;
            int ib = task / nChunks, chunk = task % nChunks;
            int ic = ib * blk.MC;
            int mc = Math.Min(blk.MC, m - ic);
            int s0 = nSlivers * chunk / nChunks, s1 = nSlivers * (chunk + 1) / nChunks;
            if (s0 == s1)
                return;

            // The A block, followed by room for one B edge sliver (used when B is read in place).
            float* aBlock = Scratch(ref packedA, (RoundUp(blk.MC, mr) + nr) * blk.KC);
            PackA(aBlock, ic, mc);

            bool first = pc == 0;
            float* tile = stackalloc float[mr * nr];
            for (int s = s0; s < s1; s++)
            {
                int col0 = jc + s * nr;
                int cols = Math.Min(nr, n - col0);
                float* bSliver;
                int ldb = nr;
                if (!bInPlace)
                {
                    bSliver = bPanel + (long)s * kc * nr;
                }
                else if (cols == nr)
                {
                    bSliver = b + (long)pc * brs + col0;
                    ldb = brs;
                }
                else
                {
                    bSliver = aBlock + (long)RoundUp(blk.MC, mr) * blk.KC;
                    PackBSliver(s, bSliver);
                }
                for (int r0 = 0; r0 < mc; r0 += mr)
                {
                    float* aSliver = aBlock + (long)r0 * kc;
                    int rows = Math.Min(mr, mc - r0);
                    float* cTile = c + (long)(ic + r0) * ldc + col0;
                    if (rows == mr && cols == nr)
                    {
                        Kernel(aSliver, bSliver, ldb, cTile, ldc, first);
                    }
                    else
                    {
                        // Edge tile: compute the whole padded tile into scratch, then merge the valid part with
                        // the same arithmetic as the full-tile store.
                        KernelOverwrite(aSliver, bSliver, ldb, tile, nr);
                        for (int r = 0; r < rows; r++)
                            for (int j = 0; j < cols; j++)
                            {
                                float* dst = cTile + (long)r * ldc + j;
                                float acc = tile[r * nr + j];
                                if (!first) *dst = *dst + acc * alpha;
                                else if (beta == 0f) *dst = acc * alpha;
                                else *dst = acc * alpha + *dst * beta;
                            }
                    }
                }
            }
        }

        private void Kernel(float* aSliver, float* bSliver, int ldb, float* cTile, int ldc, bool first)
        {
            // Mode 0: C = alpha*acc; 1: C = alpha*acc + beta*C; 2: C = C + alpha*acc.
            int mode = !first ? 2 : beta == 0f ? 0 : 1;
            switch (kind)
            {
                case GemmKernelKind.Vector512 when blk.MR == 12: Tile512.Run12x32(kc, aSliver, bSliver, ldb, cTile, ldc, alpha, beta, mode); break;
                case GemmKernelKind.Vector512: Tile512.Run8x32(kc, aSliver, bSliver, ldb, cTile, ldc, alpha, beta, mode); break;
                case GemmKernelKind.Vector256: Tile256.Run6x16(kc, aSliver, bSliver, ldb, cTile, ldc, alpha, beta, mode); break;
                default: TileScalar.Run4x4(kc, aSliver, bSliver, ldb, cTile, ldc, alpha, beta, mode); break;
            }
        }

        private void KernelOverwrite(float* aSliver, float* bSliver, int ldb, float* tile, int ldt)
        {
            switch (kind)
            {
                case GemmKernelKind.Vector512 when blk.MR == 12: Tile512.Run12x32(kc, aSliver, bSliver, ldb, tile, ldt, 1f, 0f, 0); break;
                case GemmKernelKind.Vector512: Tile512.Run8x32(kc, aSliver, bSliver, ldb, tile, ldt, 1f, 0f, 0); break;
                case GemmKernelKind.Vector256: Tile256.Run6x16(kc, aSliver, bSliver, ldb, tile, ldt, 1f, 0f, 0); break;
                default: TileScalar.Run4x4(kc, aSliver, bSliver, ldb, tile, ldt, 1f, 0f, 0); break;
            }
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;
}
