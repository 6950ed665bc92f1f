using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Recompute.Planner.Costs;
using Recompute.Planner.Graph;
using Recompute.Planner.Scheduling;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Execution;

/// <summary>What the executor puts in the memory it rents for an op to write (planned tensors, and the scratch it sums
/// gradients in).</summary>
internal enum RentedMemory
{
    /// <summary>Zeroes only what is added into: the output of an op whose forward accumulates (<see
    /// cref="Operator.ForwardAccumulates"/>), and a gradient no reader contributes to. Everything else is overwritten.</summary>
    ZeroedWhereAccumulated,
    /// <summary>Zeroes everything it rents (the reference for <see cref="Poisoned"/>).</summary>
    Zeroed,
    /// <summary>Fills with NaN whatever <see cref="ZeroedWhereAccumulated"/> leaves unzeroed (and every parameter gradient
    /// before the step): a step whose results equal <see cref="Zeroed"/>'s bit for bit shows that its ops overwrite
    /// what they are declared to.</summary>
    Poisoned,
}

/// <summary>Tensors for the steps: planned buffers rented, gradients summed, op calls built, and values, views and
/// gradients looked up by node.</summary>
internal sealed partial class ScheduleExecutor
{
    /// <summary>What rented memory holds before an op writes it (default: zeroed only where an op adds into it).</summary>
    public RentedMemory RentedMemory { get; init; } = RentedMemory.ZeroedWhereAccumulated;

    /// <summary>
    /// A planned tensor for node <paramref name="node"/>. An activation is zeroed only when its op's forward adds into
    /// it; a gradient is left as the arena hands it back, since its first contribution overwrites it (<see
    /// cref="Backward"/> zeroes one that nothing contributes to). Zeroing runs across the kernel threads.
    /// </summary>
    private Tensor Rent(MemoryCategory category, int node)
    {
        var t = _arena.Allocate(category, _shapes[node], _elementBytes[node], shareShape: true, zeroed: false);
        Prepare(t.Buffer, t.Length, category == MemoryCategory.Activation && _ops[node]!.ForwardAccumulates(_graph[node]));
        return t;
    }

    /// <summary>Scratch that a backward overwrites (a partial gradient, a parameter's further contribution).</summary>
    private Tensor RentScratch(int length)
    {
        var t = _arena.Allocate(MemoryCategory.Scratch, [length], 4, shareShape: true, zeroed: false);
        Prepare(t.Buffer, length, zero: false);
        return t;
    }

    /// <summary>Readies a rented buffer's first <paramref name="length"/> elements by <see cref="RentedMemory"/>:
    /// <paramref name="zero"/> says whether its writer adds into it.</summary>
    private void Prepare(float[] data, int length, bool zero)
    {
        if (zero || RentedMemory == RentedMemory.Zeroed) Zero(data, length);
        else if (RentedMemory == RentedMemory.Poisoned) data.AsSpan(0, length).Fill(float.NaN);
    }

    private static void Zero(float[] data, int length) => Kernels.ParallelRanges.Clear(data, length);

    /// <summary>dst += src, split across the kernel threads (each element added by one thread, so the same bits).</summary>
    private static unsafe void Accumulate(Span<float> dst, ReadOnlySpan<float> src)
    {
        fixed (float* pd = dst)
        fixed (float* ps = src)
            Kernels.ParallelRanges.For(dst.Length, 3L * dst.Length, new AddRange(pd, ps));
    }

    private readonly unsafe struct AddRange(float* dst, float* src) : Kernels.IRangeBody
    {
        public void Run(int from, int to)
        {
            var d = new Span<float>(dst + from, to - from);
            System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(src + from, to - from), d);
        }
    }

    /// <summary>
    /// An op call for the vector-Jacobian product of input <paramref name="k"/>: resident operands and what the memory
    /// model keeps for that operand's gradient (<see cref="Node.SavedFor"/>), nothing else.
    /// </summary>
    private OpCall BackwardCall(Node node, int k, TrainingBatch batch, ulong seed)
    {
        var (saved, output, others) = _savedFor[node.Id][k] ??= node.SavedFor(k);
        var inputs = _callInputs[node.Id];
        for (int j = 0; j < inputs.Length; j++)
        {
            int p = node.Inputs[j];
            inputs[j] = !_graph[p].IsPlanned || saved.Contains(j) ? Value(p, batch, required: true) : null;
        }
        var call = Call(node, inputs, seed, output ? Value(node.Id, batch, required: true) : null);
        foreach (int index in others)
            if (_graph.OutputOf(node.Id, index) is >= 0 and var o && _graph[o].IsPlanned) call.SetOtherOutput(index, Value(o, batch,
                required: true)!);
        return call;
    }

    /// <summary>An op call with operands placed at their ONNX positions (absent optional operands stay null).</summary>
    private OpCall Call(Node node, Tensor?[] inputs, ulong seed, Tensor? output = null)
    {
        var positions = _positions[node.Id];
        var values = _callValues[node.Id];
        for (int k = 0; k < positions.Length; k++) values[positions[k]] = inputs[k];
        var call = _calls[node.Id] ??= new OpCall(node, values, _callShapes[node.Id], _shapes[node.Id], _arena, seed, output, _callStrides[node.Id]);
        return call.Rebind(seed, output);
    }

    private Tensor? Value(int node, TrainingBatch batch, bool required)
    {
        var n = _graph[node];
        if (n.Kind == NodeKind.Input) return batch[node];
        if (!n.IsPlanned) return _model.Value(node);
        var t = _buffers[_training.ForwardTaskOf(node)];
        if (t is null && required) throw new InvalidOperationException($"'{n.Name}' is read but not live");
        // A view is read from its root's live buffer (the memory model keeps the root alive with every read of it).
        return t is not null && t.IsView ? ViewValue(node, batch) : t;
    }

    /// <summary>
    /// A view's value: its range of its root's current buffer, under its own shape; a transposed view is its base's value
    /// read through strides (the base being a planned tensor, itself perhaps a range view, or a resident parameter).
    /// </summary>
    private Tensor ViewValue(int node, TrainingBatch batch)
    {
        if (_strides[node] is { } strides)
        {
            int b = _training.ViewOf(node)!.Value.Base;
            var baseValue = _graph[b].IsPlanned ? ViewOrBuffer(b, batch, node) : Value(b, batch, required: true)!;
            return baseValue.Strided(_shapes[node], strides);
        }
        long offset = 0;
        int root = node;
        while (_training.ViewOf(root) is { } w) { offset += w.Offset; root = w.Base; }
        var owner = _buffers[_training.ForwardTaskOf(root)] ?? throw new InvalidOperationException($"view '{_graph[node].Name}' is read while its base '{_graph[root].Name}' is not live");
        return owner.View(_shapes[node], checked((int)offset), Tensor.SizeOf(_shapes[node]));
    }

    /// <summary>A planned tensor's current value: a range view of its root, or its own buffer.</summary>
    private Tensor ViewOrBuffer(int node, TrainingBatch batch, int reader)
    {
        if (_training.ViewOf(node) is not null) return ViewValue(node, batch);
        return _buffers[_training.ForwardTaskOf(node)] ?? throw new InvalidOperationException($"view '{_graph[reader].Name}' is read while its base '{_graph[node].Name}' is not live");
    }

    /// <summary>The live gradient of a node: its own buffer, or the buffer of the view gradient it aliases, under its shape.</summary>
    private Tensor GradientValue(int node)
    {
        int root = node;
        while (_training.GradientAliasOf(root) is >= 0 and var s) root = s;
        var owner = _buffers[_training.GradTaskOf(root)] ?? throw new InvalidOperationException($"grad({_graph[root].Name}) is read but not live");
        return root == node ? owner : owner.View(_shapes[node], 0, Tensor.SizeOf(_shapes[node]));
    }

    /// <summary>A 64-bit hash of the exact bit patterns of a buffer.</summary>
    /// <summary>
    /// A hash of the bits of a tensor, to tell a recomputation from its first computation: four interleaved vectors of
    /// 32-bit FNV-1a lanes (independent multiplies, so it streams near memory speed) and a lane-wise sum, folded with
    /// the tail by 64-bit FNV-1a.
    /// </summary>
    internal static ulong Checksum(ReadOnlySpan<float> values)
    {
        var bits = MemoryMarshal.Cast<float, uint>(values);
        int width = System.Numerics.Vector<uint>.Count;
        var prime = new System.Numerics.Vector<uint>(16777619u);
        var h0 = new System.Numerics.Vector<uint>(2166136261u);
        var (h1, h2, h3) = (h0 ^ new System.Numerics.Vector<uint>(1u), h0 ^ new System.Numerics.Vector<uint>(2u),
            h0 ^ new System.Numerics.Vector<uint>(3u));
        var sum = System.Numerics.Vector<uint>.Zero;
        int i = 0;
        for (; i <= bits.Length - 4 * width; i += 4 * width)
        {
            var a = new System.Numerics.Vector<uint>(bits.Slice(i));
            var b = new System.Numerics.Vector<uint>(bits.Slice(i + width));
            var c = new System.Numerics.Vector<uint>(bits.Slice(i + 2 * width));
            var d = new System.Numerics.Vector<uint>(bits.Slice(i + 3 * width));
            h0 = (h0 ^ a) * prime; h1 = (h1 ^ b) * prime; h2 = (h2 ^ c) * prime; h3 = (h3 ^ d) * prime;
            sum += a + b + c + d;
        }
        ulong h = 0xCBF29CE484222325UL;
        for (; i < bits.Length; i++) h = (h ^ bits[i]) * 0x100000001B3UL;
        for (int k = 0; k < width; k++)
            foreach (uint lane in (ReadOnlySpan<uint>)[h0[k], h1[k], h2[k], h3[k], sum[k]]) h = (h ^ lane) * 0x100000001B3UL;
        return h;
    }
}
