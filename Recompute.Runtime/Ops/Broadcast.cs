namespace Recompute.Runtime.Ops;

/// <summary>
/// NumPy-style broadcasting of operands to an output shape, walked row by row (the last output dimension is
/// the inner loop). For each operand: its offset at the start of a row and its stride along the row (0 when the
/// operand is broadcast along the last dimension).
/// </summary>
internal sealed class Broadcast
{
    private readonly int[] _outShape;
    private readonly int[][] _strides;

    public Broadcast(int[] outShape, params int[][] operandShapes)
    {
        _outShape = outShape;
        int rank = outShape.Length;
        Inner = rank == 0 ? 1 : outShape[^1];
        Rows = Inner == 0 ? 0 : Math.Max(1, checked((int)(Tensors.Tensor.SizeOf(outShape) / Inner)));
        _strides = new int[operandShapes.Length][];
        for (int o = 0; o < operandShapes.Length; o++)
        {
            var s = operandShapes[o];
            if (s.Length > rank) throw new InvalidOperationException($"operand of rank {s.Length} does not broadcast to rank {rank}");
            var st = new int[rank];
            int stride = 1;
            for (int d = s.Length - 1; d >= 0; d--)
            {
                int od = d + rank - s.Length;
                if (s[d] == outShape[od]) st[od] = s[d] == 1 ? 0 : stride;
                else if (s[d] == 1) st[od] = 0;
                else throw new InvalidOperationException($"shape [{string.Join(",", s)}] does not broadcast to [{string.Join(",", outShape)}]");
                stride *= s[d];
            }
            _strides[o] = st;
        }
        InnerStrides = _strides.Select(st => rank == 0 ? 0 : st[^1]).ToArray();
        Identity = operandShapes.Select(s => s.SequenceEqual(outShape)).ToArray();
    }

    /// <summary>Length of a row (last output dimension).</summary>
    public int Inner { get; }
    public int Rows { get; }
    /// <summary>Per operand: stride along a row (1 or 0).</summary>
    public int[] InnerStrides { get; }
    /// <summary>Per operand: true when it has exactly the output shape.</summary>
    public bool[] Identity { get; }

    /// <summary>Offset of operand <paramref name="operand"/> at the start of row <paramref name="row"/>.</summary>
    public int Offset(int operand, int row)
    {
        var st = _strides[operand];
        int off = 0;
        for (int d = _outShape.Length - 2; d >= 0; d--)
        {
            int dim = _outShape[d];
            off += row % dim * st[d];
            row /= dim;
        }
        return off;
    }

    /// <summary>Sums <paramref name="full"/> (output shaped) into <paramref name="dst"/> (operand shaped), overwriting it.</summary>
    public void ReduceTo(int operand, ReadOnlySpan<float> full, Span<float> dst)
    {
        if (Identity[operand]) { full.CopyTo(dst); return; }
        dst.Clear();
        int inner = Inner, s = InnerStrides[operand];
        for (int r = 0; r < Rows; r++)
        {
            int o = Offset(operand, r);
            var row = full.Slice(r * inner, inner);
            if (s == 0)
            {
                float acc = dst[o];
                for (int j = 0; j < inner; j++) acc += row[j];
                dst[o] = acc;
            }
            else
                for (int j = 0; j < inner; j++) dst[o + j] += row[j];
        }
    }

    /// <summary>Output shape of broadcasting several shapes together.</summary>
    public static int[] Shape(params int[][] shapes)
    {
        int rank = shapes.Max(s => s.Length);
        var r = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            int v = 1;
            foreach (var s in shapes)
            {
                int sd = d - (rank - s.Length);
                if (sd < 0) continue;
                if (s[sd] != 1) v = s[sd];
            }
            r[d] = v;
        }
        return r;
    }
}
