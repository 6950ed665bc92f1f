namespace Recompute.Planner.Costs;

/// <summary>Checked arithmetic on static shapes.</summary>
public static class ShapeMath
{
    /// <summary>
    /// Largest dimension accepted (2^32). Real models stay far below it; a larger value in a file is a corrupt
    /// or hostile shape, and refusing it early keeps byte totals far from 64-bit overflow.
    /// </summary>
    public const long MaxDimension = 1L << 32;

    /// <summary>Product of the dimensions; throws <see cref="ShapeInferenceException"/> on overflow.</summary>
    public static long Elements(IReadOnlyList<long> shape)
    {
        long n = 1;
        try { foreach (var d in shape) n = checked(n * d); }
        catch (OverflowException) { throw new ShapeInferenceException($"the element count of shape [{string.Join(",", shape)}] overflows 64 bits"); }
        return n;
    }

    /// <summary>Bytes of a tensor: elements × element bits / 8, rounded up; checked.</summary>
    public static long Bytes(IReadOnlyList<long> shape, string dtype)
    {
        long elements = Elements(shape);
        int bits = ElementTypes.BitsOf(dtype);
        if (bits == 0) throw new ShapeInferenceException($"tensors of element type '{dtype}' have no static size");
        try { return bits % 8 == 0 ? checked(elements * (bits / 8)) : checked((elements * bits + 7) / 8); }
        catch (OverflowException) { throw new ShapeInferenceException($"the size of a {dtype} tensor of shape [{string.Join(",", shape)}] overflows 64 bits"); }
    }

    /// <summary>Checks that every dimension is in [0, <see cref="MaxDimension"/>].</summary>
    public static void Validate(IReadOnlyList<long> shape, string what)
    {
        foreach (var d in shape)
        {
            if (d < 0) throw new ShapeInferenceException($"{what} has a negative dimension {d} in shape [{string.Join(",", shape)}]");
            if (d > MaxDimension) throw new ShapeInferenceException($"{what} has dimension {d}, more than the limit 2^32, in shape [{string.Join(",", shape)}]");
        }
    }

    /// <summary>Numpy-style (multidirectional) broadcast of two shapes.</summary>
    public static long[] Broadcast(IReadOnlyList<long> a, IReadOnlyList<long> b)
    {
        int rank = Math.Max(a.Count, b.Count);
        var r = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long x = i - (rank - a.Count) >= 0 ? a[i - (rank - a.Count)] : 1;
            long y = i - (rank - b.Count) >= 0 ? b[i - (rank - b.Count)] : 1;
            if (x == y || y == 1) r[i] = x;
            else if (x == 1) r[i] = y;
            else throw new ShapeInferenceException($"shapes [{string.Join(",", a)}] and [{string.Join(",", b)}] do not broadcast");
        }
        return r;
    }

    /// <summary>Normalizes a possibly negative axis for a tensor of the given rank.</summary>
    public static int Axis(long axis, int rank, string what = "axis")
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ShapeInferenceException($"{what} {axis} is out of range for rank {rank}");
        return (int)a;
    }

    public static string Format(IReadOnlyList<long> shape) => "[" + string.Join(",", shape) + "]";
}

/// <summary>A tensor shape that cannot be inferred or is invalid; the importer adds file and node.</summary>
public sealed class ShapeInferenceException(string problem) : Exception(problem);
