using System.Text.Json;
using Recompute.Planner.Graph;
using Recompute.Planner.Import;
using Recompute.Planner.Import.Onnx;

namespace Recompute.Tests.Import;

/// <summary>The six sample exports in graphs/: shaped and -noshapes forms agree, and agree with reference.json.</summary>
public class OnnxSampleGraphTests
{
    public static TheoryData<string> Models() => new(OnnxTestFiles.Models);

    private static JsonElement Reference(string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(OnnxTestFiles.Graph("reference.json")));
        return doc.RootElement.GetProperty(model + ".onnx").Clone();
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void NoShapesForm_GivesTheSameFiguresAsTheShapedForm_AndTheReference(string model)
    {
        // The file as written, node by node (the reference counts the file's own nodes and tensors) ...
        var asWritten = new OnnxImportOptions { FusePatterns = false };
        var shaped = OnnxImporter.Import(OnnxTestFiles.Graph(model + ".onnx"), asWritten);
        var bare = OnnxImporter.Import(OnnxTestFiles.Graph(model + "-noshapes.onnx"), asWritten);
        var s = shaped.Graph; var b = bare.Graph;
        // ... and with the fused patterns, which both forms give alike.
        var fused = (OnnxImporter.Load(OnnxTestFiles.Graph(model + ".onnx")), OnnxImporter.Load(OnnxTestFiles.Graph(model + "-noshapes.onnx")));
        Assert.Equal(fused.Item1.Nodes.Select(n => (n.Name, n.Op, n.Bytes, n.Kind, n.Time)), fused.Item2.Nodes.Select(n => (n.Name, n.Op,
            n.Bytes, n.Kind, n.Time)));

        Assert.Equal(s.ActivationBytes, b.ActivationBytes);
        Assert.Equal(s.ParameterBytes, b.ParameterBytes);
        Assert.Equal(s.InputBytes, b.InputBytes);
        Assert.Equal(s.Nodes.Count(n => n.IsPlanned), b.Nodes.Count(n => n.IsPlanned));
        Assert.Equal(s.Count, b.Count);
        Assert.Equal(s.Nodes.Select(n => (n.Name, n.Bytes, n.Kind, n.Time)), b.Nodes.Select(n => (n.Name, n.Bytes, n.Kind, n.Time)));

        // The shaped file's value_info covers every ONNX node output, and every one was checked against inference.
        int outputs = s.Nodes.Count(n => n.Kind is NodeKind.Activation or NodeKind.Loss || (n.Kind == NodeKind.Constant
            && n.Op != OnnxImporter.InitializerOp));
        Assert.Equal(outputs, shaped.CheckedValueInfos);

        // reference.json: "nodes" counts ONNX nodes; "activationBytes" every tensor an ONNX node produces;
        // "inputBytes" every graph input (data and stripped weights).
        var r = Reference(model);
        Assert.Equal(r.GetProperty("nodes").GetInt32(), shaped.OnnxNodeCount);
        Assert.Equal(r.GetProperty("nodes").GetInt32(), bare.OnnxNodeCount);
        Assert.Equal(r.GetProperty("activationBytes").GetInt64(), shaped.OperationOutputBytes);
        Assert.Equal(r.GetProperty("activationBytes").GetInt64(), bare.OperationOutputBytes);
        Assert.Equal(r.GetProperty("inputBytes").GetInt64(), b.InputBytes + b.ParameterBytes);
        var ops = r.GetProperty("ops").EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal);
        Assert.Equal(ops, b.Nodes.Where(n => n.Kind is not (NodeKind.Input or NodeKind.Parameter) && n.Op != OnnxImporter.InitializerOp)
            .Select(n => n.Op).Distinct().Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Graph_HasOneLossReachableFromTheDataInput_AndFlopTimes(string model)
    {
        var g = OnnxImporter.Load(OnnxTestFiles.Graph(model + "-noshapes.onnx"));
        var loss = Assert.Single(g.Nodes, n => n.Kind == NodeKind.Loss);
        Assert.Equal("loss", loss.Name);
        Assert.Equal(4, loss.Bytes);
        Assert.Equal("flop", g.TimeUnit);
        Assert.All(g.Nodes.Where(n => n.IsPlanned), n => Assert.True(n.Time > 0, n.Name));
        Assert.All(g.Nodes.Where(n => n.IsResident), n => Assert.Equal(0, n.Time));
        // Every planned tensor's bytes equal its shape's elements × element size.
        Assert.All(g.Nodes, n => Assert.Equal(n.Bytes, n.Shape.Aggregate(1L, (p, d) => p * d) * (n.DType switch { "float32" => 4,
            "int64" => 8, "bool" => 1, _ => -1 })));
        // The loss depends on the first data input.
        var reach = new bool[g.Count];
        reach[g.Nodes.First(n => n.Kind == NodeKind.Input).Id] = true;
        foreach (var n in g.Nodes) if (n.Inputs.Any(i => reach[i])) reach[n.Id] = true;
        Assert.True(reach[loss.Id]);
    }

    [Fact]
    public void Gpt2_HasTwelveAttentionScoreTensorsOf8x12x1024x1024()
    {
        var g = OnnxImporter.Load(OnnxTestFiles.Graph("gpt2-124m-b8-t1024-noshapes.onnx"));
        var scores = g.Nodes.Where(n => n.Op == "MatMul" && n.Shape.SequenceEqual([8L, 12, 1024, 1024])).ToList();
        Assert.Equal(12, scores.Count);
        Assert.All(scores, n => Assert.Equal(8L * 12 * 1024 * 1024 * 4, n.Bytes)); // 402,653,184 bytes each
        Assert.All(scores, n => Assert.Equal("float32", n.DType));
        // Each is followed by the scaling, the causal mask and the softmax at the same size.
        Assert.Equal(12, g.Nodes.Count(n => n.Op == "Softmax" && n.Shape.SequenceEqual([8L, 12, 1024, 1024])));
        Assert.Equal(12, g.Nodes.Count(n => n.Op == "Where" && n.Shape.SequenceEqual([8L, 12, 1024, 1024])));
        // The score MatMul costs 2·8·12·1024·1024·64 FLOPs.
        Assert.All(scores, n => Assert.Equal(2.0 * 8 * 12 * 1024 * 1024 * 64, n.Time));
    }

    [Theory]
    [InlineData("resnet18-b32", 32)]
    [InlineData("resnet50-b64", 64)]
    [InlineData("vgg16-b32", 32)]
    [InlineData("mobilenetv2-b64", 64)]
    [InlineData("unet-b8-256", 8)]
    public void Batch_ScalesActivationBytesOfCnnsProportionally(string model, int fileBatch)
    {
        string path = OnnxTestFiles.Graph(model + "-noshapes.onnx");
        var atFile = OnnxImporter.Import(path);
        var half = OnnxImporter.Import(path, new OnnxImportOptions { Batch = fileBatch / 2 });
        var twice = OnnxImporter.Import(path, new OnnxImportOptions { Batch = fileBatch * 2 });
        Assert.Equal(fileBatch, atFile.FileBatch);
        Assert.Equal(fileBatch * 2, twice.Batch);
        // Every batch-dependent tensor scales with the batch; the rest (running statistics, the scalar loss) does not:
        // bytes(b) = fixed + b·perSample, so the increments from B/2 to B and from B to 2B are in ratio 1:2.
        long a0 = half.Graph.ActivationBytes, a1 = atFile.Graph.ActivationBytes, a2 = twice.Graph.ActivationBytes;
        Assert.Equal(2 * (a1 - a0), a2 - a1);
        // Per tensor: a batch-dependent tensor doubles, anything else (BN running statistics, the loss) keeps its size.
        long fixedBytes = 0;
        foreach (var n in atFile.Graph.Nodes.Where(n => n.IsPlanned))
        {
            long doubled = twice.Graph.Find(n.Name).Bytes;
            if (doubled == n.Bytes) fixedBytes += n.Bytes;
            else Assert.Equal(2 * n.Bytes, doubled);
        }
        Assert.Equal(2 * (a1 - fixedBytes), a2 - fixedBytes);
        Assert.True(fixedBytes < a1 / 1000, $"only small tensors keep their size ({fixedBytes} of {a1} bytes)");
        Assert.Equal(atFile.Graph.ParameterBytes, twice.Graph.ParameterBytes);
        Assert.Equal(2 * atFile.Graph.InputBytes, twice.Graph.InputBytes);
        // The same batch as the file's changes nothing (and value_info is still checked).
        var same = OnnxImporter.Import(OnnxTestFiles.Graph(model + ".onnx"), new OnnxImportOptions { Batch = fileBatch });
        Assert.Equal(a1, same.Graph.ActivationBytes);
        Assert.True(same.CheckedValueInfos > 0);
    }

    [Fact]
    public void Batch_RescalesGpt2LiteralReshapeTargets()
    {
        var g = OnnxImporter.Load(OnnxTestFiles.Graph("gpt2-124m-b8-t1024.onnx"), new OnnxImportOptions { Batch = 2 });
        Assert.Equal(12, g.Nodes.Count(n => n.Op == "MatMul" && n.Shape.SequenceEqual([2L, 12, 1024, 1024])));
        Assert.DoesNotContain(g.Nodes, n => n.IsPlanned && n.Shape.Length > 0 && n.Shape[0] == 8);
        Assert.Equal([2L, 1024, 12, 64], g.Nodes.First(n => n.Op == "Reshape").Shape.ToArray());
        var loss = g.Find("loss");
        Assert.Equal(NodeKind.Loss, loss.Kind);
    }

    [Fact]
    public void GraphLoader_DispatchesOnnxByExtension_WithBatch()
    {
        var g = GraphLoader.Load(OnnxTestFiles.Graph("resnet18-b32.onnx"), new GraphLoadOptions { Batch = 4 });
        Assert.Equal([4L, 3, 224, 224], g.Find("input").Shape.ToArray());
        Assert.Equal(OnnxTestFiles.Graph("resnet18-b32.onnx"), g.Source);
        Assert.Equal("resnet18-b32", g.Name);
    }

    [Fact]
    public void Import_IsDeterministic()
    {
        string path = OnnxTestFiles.Graph("mobilenetv2-b64-noshapes.onnx");
        var a = OnnxImporter.Load(path); var b = OnnxImporter.Load(path);
        Assert.Equal(a.Nodes.Select(n => (n.Name, n.Op, n.Bytes, n.Time, string.Join(",", n.Inputs))),
            b.Nodes.Select(n => (n.Name, n.Op, n.Bytes, n.Time, string.Join(",", n.Inputs))));
    }

    [Fact]
    public void Resnet18_KindsAttributesAndBackwardNeeds()
    {
        var g = OnnxImporter.Load(OnnxTestFiles.Graph("resnet18-b32-noshapes.onnx"));
        Assert.Equal(NodeKind.Input, g.Find("input").Kind);
        Assert.Equal(NodeKind.Input, g.Find("target").Kind);
        Assert.Equal("int64", g.Find("target").DType);
        Assert.Equal(NodeKind.Parameter, g.Find("net.conv1.weight").Kind);

        var conv = g.Find("/net/conv1/Conv_output_0");
        Assert.Equal([32L, 64, 112, 112], conv.Shape.ToArray());
        Assert.Equal([7L, 7], conv.AttributeLongs("kernel_shape"));
        Assert.Equal(2, conv.AttributeLongs("strides")[0]);
        Assert.Equal([0, 1], conv.BackwardNeeds.ToArray());
        // 2 · (32·64·112·112 outputs) · (3·7·7 multiply-adds each), no bias.
        Assert.Equal(2.0 * 32 * 64 * 112 * 112 * 3 * 7 * 7, conv.Time);

        var bn = g.Find("/net/bn1/BatchNormalization_output_0");
        Assert.Equal(1, bn.AttributeLong("training_mode", 0));
        Assert.Equal(1e-5, bn.AttributeDouble("epsilon", 0), 9);
        Assert.Equal([0, 1], bn.BackwardNeeds.ToArray()); // the input and the scale (a resident parameter)
        var runningMean = g.Find("/net/bn1/BatchNormalization_output_1");
        Assert.Equal(1, runningMean.OutputIndex);
        Assert.Equal([64L], runningMean.Shape.ToArray());
        Assert.Equal(NodeKind.Activation, runningMean.Kind);

        var add = g.Nodes.First(n => n.Op == "Add");
        Assert.Empty(add.BackwardNeeds);
        var relu = g.Find("/net/relu/Relu_output_0");
        // ReLU backward reads its output (same mask as its input), so its input can be freed as soon as it is made.
        Assert.Empty(relu.BackwardNeeds);
        Assert.True(relu.BackwardNeedsOutput);
        Assert.Equal([32L, 64, 56, 56], g.Find("/net/maxpool/MaxPool_output_0").Shape.ToArray());
        Assert.Equal([32L, 1000], g.Nodes.Single(n => n.Op == "Gemm").Shape.ToArray());
    }

    [Fact]
    public void Gpt2_ConstantsAreFoldedAndCarryTheirValues()
    {
        var g = OnnxImporter.Load(OnnxTestFiles.Graph("gpt2-124m-b8-t1024-noshapes.onnx"));
        var constants = g.Nodes.Where(n => n.Op == "Constant").ToList();
        Assert.NotEmpty(constants);
        Assert.All(constants, n => Assert.Equal(NodeKind.Constant, n.Kind));
        Assert.All(constants, n => Assert.True(n.Attributes.ContainsKey("value"), n.Name));
        // The causal mask (ConstantOfShape then Cast to bool) depends on constants only: folded, not planned.
        Assert.All(g.Nodes.Where(n => n.Op is "ConstantOfShape" or "Cast"), n => Assert.Equal(NodeKind.Constant, n.Kind));
        // The first reshape target is the literal [8, 1024, 12, 64].
        var reshape = g.Nodes.First(n => n.Op == "Reshape");
        Assert.Equal([8L, 1024, 12, 64], g[reshape.Inputs[1]].Attribute<long[]>("value")!);
        // The embedding Gather's backward needs its indices (tokens), Split none, MatMul both operands.
        Assert.Equal([1], g.Nodes.First(n => n.Op == "Gather").BackwardNeeds.ToArray());
        Assert.Empty(g.Nodes.First(n => n.Op == "Split").BackwardNeeds);
        Assert.Equal(3, g.Nodes.Count(n => n.Op == "Split" && n.Name.StartsWith("/net/blocks.0/", StringComparison.Ordinal)));
        Assert.Equal([0, 1], g.Nodes.First(n => n.Op == "MatMul").BackwardNeeds.ToArray());
        Assert.Equal([0], g.Nodes.First(n => n.Op == "SoftmaxCrossEntropyLoss").BackwardNeeds.ToArray().Take(1));
    }
}
