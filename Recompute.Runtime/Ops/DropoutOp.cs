using Recompute.Planner.Graph;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Ops;

/// <summary>
/// Dropout with replayable randomness: element i is kept when a counter-based hash of (step seed, op, i) is at or
/// above <c>ratio</c>, so a recomputation sees exactly the mask of the first computation. Output 0 is the data,
/// output 1 the mask (1 byte an element in the memory model); the backward reads the mask output when the graph has
/// one (every ONNX import in training mode does) and regenerates it otherwise.
/// The ratio comes from operand 1 (opset 12+) or attribute <c>ratio</c> (default 0.5). As the ONNX specification says,
/// the op runs in training mode only when operand 2 (training_mode) is present and true; otherwise it is the identity.
/// </summary>
internal sealed class DropoutOp : Operator
{
    public override bool IsDifferentiable(Node node, int operand) => operand == 0 && node.OutputIndex == 0;

    private static (float Ratio, bool Training, ulong Seed) Settings(OpCall call)
    {
        float ratio = call.HasOperand(1) ? call.InputScalar(1) : (float)call.Attr("ratio", 0.5);
        bool training = call.HasOperand(2) && call.InputScalar(2) != 0f;
        // Both outputs of one Dropout (and its backward) must agree: the seed depends on the op's operands and
        // its own seed attribute, not on which output node asks.
        ulong seed = call.RandomSeed ^ (ulong)call.Attr("seed", 0L) * 0x9E3779B97F4A7C15UL;
        foreach (var p in call.Node.Inputs) seed = Mix(seed + (ulong)p + 1);
        return (ratio, training && ratio > 0f, seed);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static bool Keep(ulong seed, int i,
        float ratio) => (Mix(seed + 0x9E3779B97F4A7C15UL * (ulong)(i + 1)) >> 40) * (1.0 / (1UL << 24)) >= ratio;

    public override void Forward(OpCall call, Tensor output)
    {
        var (ratio, training, seed) = Settings(call);
        var x = call.Input(0).Span; var y = output.Span;
        bool mask = call.Node.OutputIndex == 1;
        float scale = training ? 1f / (1f - ratio) : 1f;
        for (int i = 0; i < y.Length; i++)
        {
            bool keep = !training || Keep(seed, i, ratio);
            y[i] = mask ? (keep ? 1f : 0f) : keep ? x[i] * scale : 0f;
        }
    }

    public override void Backward(OpCall call, ReadOnlySpan<float> g, int operand, Span<float> gradInput)
    {
        var (ratio, training, seed) = Settings(call);
        float scale = training ? 1f / (1f - ratio) : 1f;
        if (training && call.OtherOutput(1) is { } mask)
        {
            var m = mask.Span;
            for (int i = 0; i < gradInput.Length; i++) gradInput[i] = m[i] != 0f ? g[i] * scale : 0f;
            return;
        }
        for (int i = 0; i < gradInput.Length; i++) gradInput[i] = !training || Keep(seed, i, ratio) ? g[i] * scale : 0f;
    }
}
