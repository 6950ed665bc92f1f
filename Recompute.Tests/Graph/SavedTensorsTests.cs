using Recompute.Planner.Graph;
using Recompute.Planner.Planning;
using Recompute.Planner.Solvers;

namespace Recompute.Tests.Graph;

/// <summary>
/// The saved-tensor table, one row each (what the gradient of each operand reads), and the memory model built on it:
/// the training DAG's gradient tasks read exactly the rows' values.
/// </summary>
public sealed class SavedTensorsTests
{
    /// <summary>
    /// Each case: op, the operand whose gradient is taken, the operands its gradient reads ("-" for none) and whether
    /// the op's own output is read.
    /// </summary>
    [Theory]
    // Div(a, b): da = g / b reads b; db = −g·a / b² reads a and b. Div by a constant b reads only the constant.
    [InlineData("Div", 0, "1", false)]
    [InlineData("Div", 1, "0,1", false)]
    // Mul: each operand's gradient is g times the other.
    [InlineData("Mul", 0, "1", false)]
    [InlineData("Mul", 1, "0", false)]
    // MatMul: dA = G·Bᵀ reads B, dB = Aᵀ·G reads A.
    [InlineData("MatMul", 0, "1", false)]
    [InlineData("MatMul", 1, "0", false)]
    // Gemm/Conv: the same for the two factors; the bias (operand 2) reads nothing.
    [InlineData("Gemm", 0, "1", false)]
    [InlineData("Gemm", 2, "-", false)]
    [InlineData("Conv", 0, "1", false)]
    [InlineData("Conv", 1, "0", false)]
    [InlineData("Conv", 2, "-", false)]
    // Where(c, x, y): both branches read only the condition.
    [InlineData("Where", 1, "0", false)]
    [InlineData("Where", 2, "0", false)]
    // Functions whose derivative is written from the output.
    [InlineData("Softmax", 0, "-", true)]
    [InlineData("Sqrt", 0, "-", true)]
    [InlineData("Exp", 0, "-", true)]
    [InlineData("Tanh", 0, "-", true)]
    [InlineData("Sigmoid", 0, "-", true)]
    [InlineData("Relu", 0, "-", true)]
    // ... and from the input.
    [InlineData("Erf", 0, "0", false)]
    [InlineData("Gelu", 0, "0", false)]
    [InlineData("Pow", 0, "0,1", false)]
    [InlineData("Pow", 1, "0,1", false)]
    [InlineData("MaxPool", 0, "0", false)]
    // Linear ops and views read nothing.
    [InlineData("Add", 0, "-", false)]
    [InlineData("Sub", 1, "-", false)]
    [InlineData("Reshape", 0, "-", false)]
    [InlineData("Transpose", 0, "-", false)]
    [InlineData("Split", 0, "-", false)]
    [InlineData("ReduceMean", 0, "-", false)]
    [InlineData("GlobalAveragePool", 0, "-", false)]
    // Dropout reads its keep mask, output 1 (1 byte an element).
    [InlineData("Dropout", 0, "-", false, "1")]
    // LayerNormalization: X's gradient reads X, the scale and the statistics (outputs 1 and 2); the scale's reads X and
    // the statistics; the bias's nothing.
    [InlineData("LayerNormalization", 0, "0,1", false, "1,2")]
    [InlineData("LayerNormalization", 1, "0", false, "1,2")]
    [InlineData("LayerNormalization", 2, "-", false)]
    // Gather scatters to its indices; normalisations read input and scale; the loss reads scores and labels.
    [InlineData("Gather", 0, "1", false)]
    [InlineData("BatchNormalization", 0, "0,1", false)]
    [InlineData("SoftmaxCrossEntropyLoss", 0, "0,1,2", false)]
    public void EveryRow_SaysWhatEachOperandsGradientReads(string op, int operand, string operands, bool output, string otherOutputs = "-")
    {
        var saved = SavedTensors.ForGradientOf(op, operand);
        Assert.NotNull(saved);
        static int[] List(string text) => text == "-" ? [] : text.Split(',').Select(int.Parse).ToArray();
        Assert.Equal(List(operands), saved.Value.Operands.ToArray());
        Assert.Equal(output, saved.Value.Output);
        Assert.Equal(List(otherOutputs), saved.Value.OtherOutputs.IsDefault ? [] : saved.Value.OtherOutputs.ToArray());
    }

    [Fact]
    public void AnOpWithoutARow_KeepsEveryOperand()
    {
        Assert.Null(SavedTensors.ForGradientOf("NoSuchOp", 0));
        Assert.False(SavedTensors.Knows("NoSuchOp"));
    }

    private static int Op(GraphBuilder b, string name, string op, int[] inputs, long bytes) =>
        b.Add(new NodeSpec(name, op, NodeKind.Activation)
        {
            Inputs = inputs, Bytes = bytes, Time = 1, SavedByRule = true,
            BackwardNeeds = [.. SavedTensors.Union(op, Enumerable.Range(0, inputs.Length))!.Value.Operands.Where(k => k < inputs.Length)],
            BackwardNeedsOutput = SavedTensors.Union(op, Enumerable.Range(0, inputs.Length))!.Value.Output,
        });

    /// <summary>
    /// Attention scores as GPT-2's export writes them: s = MatMul(q, k); d = Div(s, 8) by a constant; p = Softmax(d);
    /// loss = Sum(p). With the table: grad(q) reads k, grad(k) reads q, grad(s) reads nothing of s (only the resident
    /// constant), grad(d) reads p (Softmax's output), so neither s nor d is kept for the backward.
    /// </summary>
    [Fact]
    public void TrainingGraph_GradientTasksReadOnlyTheTablesValues()
    {
        var b = new GraphBuilder("scores");
        int x = b.Input("x", 400);
        int q = Op(b, "q", "Relu", [x], 400);
        int k = Op(b, "k", "Relu", [x], 400);
        int s = Op(b, "s", "MatMul", [q, k], 1000);
        int c = b.Add(new NodeSpec("c", "Constant", NodeKind.Constant) { Bytes = 4 });
        int d = Op(b, "d", "Div", [s, c], 1000);
        int p = Op(b, "p", "Softmax", [d], 1000);
        b.Add(new NodeSpec("loss", "ReduceSum", NodeKind.Loss) { Inputs = [p], Bytes = 4, Time = 1, SavedByRule = true, BackwardNeeds = [] });
        var g = b.Build();
        var tg = TrainingGraph.Derive(g);
        int[] Reads(string name) => tg.Tasks[tg.GradTaskOf(g.Find(name).Id)].Inputs.ToArray();
        int F(string name) => tg.ForwardTaskOf(g.Find(name).Id);
        int G(string name) => tg.GradTaskOf(g.Find(name).Id);
        Assert.Equal(new[] { F("k"), G("s") }.Order(), Reads("q"));
        Assert.Equal(new[] { F("q"), G("s") }.Order(), Reads("k"));
        Assert.Equal([G("d")], Reads("s"));
        Assert.Equal(new[] { F("p"), G("p") }.Order(), Reads("d"));

        // Store-all by hand (bytes). Forward: q 400, k 400 (800, both kept: each is read by the other's gradient);
        // s 1000 (1800); d 1000 while s is its input (2800), then s dies (1800); p 1000 (2800), d dies (1800: q, k, p);
        // loss 4, read by nobody, dies at once. Backward: grad(loss) 4 (1804); grad(p) 1000 (2804), grad(loss) dies
        // (2800: q, k, p, grad(p)); grad(d) 1000 while p and grad(p) are its inputs: 3800, the peak; then p and
        // grad(p) die (1800); grad(s) 1000 (2800), grad(d) dies; grad(k) 400 (2200), grad(q) 400 (at most 1800).
        // Keeping s and d for the backward, as a per-node list of every operand would, makes the peak 5800.
        long peak = RecomputePlanner.StoreAllPeak(new PlanningProblem(g));
        Assert.Equal(3800, peak);
    }
}
