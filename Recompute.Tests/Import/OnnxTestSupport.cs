using Google.Protobuf;
using Recompute.Planner.Import.Onnx.Proto;

namespace Recompute.Tests.Import;

/// <summary>Paths of the repository's sample graphs and a temporary folder for files built by tests.</summary>
internal static class OnnxTestFiles
{
    public static string RepoRoot => Recompute.Tests.Support.Paths.RepoRoot;

    public static string Graph(string file) => Path.Combine(RepoRoot, "graphs", file);

    public static readonly string[] Models =
        ["resnet18-b32", "resnet50-b64", "vgg16-b32", "mobilenetv2-b64", "unet-b8-256", "gpt2-124m-b8-t1024"];
}

/// <summary>A temporary folder removed at dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() { Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(),
        "recompute-onnx-" + Guid.NewGuid().ToString("N")); Directory.CreateDirectory(Path); }
    public string Path { get; }
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

/// <summary>Builds small ONNX models in code (through the same compiled schema the importer uses).</summary>
internal sealed class OnnxModelBuilder
{
    public const int Float = 1, Long = 7, Bool = 9;

    public OnnxModelBuilder(long opset = 17, long irVersion = 8)
    {
        Model = new ModelProto { IrVersion = irVersion, ProducerName = "recompute-tests", Graph = new GraphProto { Name = "test" } };
        Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
    }

    public ModelProto Model { get; }
    public GraphProto Graph => Model.Graph;

    public static ValueInfoProto Value(string name, int elemType, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType,
            Shape = shape } } };
    }

    public OnnxModelBuilder Input(string name, int elemType, params long[] dims) { Graph.Input.Add(Value(name, elemType, dims)); return this; }

    public OnnxModelBuilder SymbolicInput(string name, int elemType, string param, params long[] rest)
    {
        var v = Value(name, elemType, rest);
        v.Type.TensorType.Shape.Dim.Insert(0, new TensorShapeProto.Types.Dimension { DimParam = param });
        Graph.Input.Add(v);
        return this;
    }

    public OnnxModelBuilder Output(string name, int elemType, params long[] dims) { Graph.Output.Add(Value(name, elemType, dims)); return this; }

    public OnnxModelBuilder ValueInfo(string name, int elemType, params long[] dims) { Graph.ValueInfo.Add(Value(name, elemType,
        dims)); return this; }

    public static TensorProto Tensor(string name, long[] dims, long[]? ints = null, float[]? floats = null)
    {
        var t = new TensorProto { Name = name, DataType = ints is not null ? Long : Float };
        t.Dims.AddRange(dims);
        if (ints is not null) t.Int64Data.AddRange(ints);
        if (floats is not null) t.FloatData.AddRange(floats);
        return t;
    }

    public OnnxModelBuilder Initializer(TensorProto t) { Graph.Initializer.Add(t); return this; }

    public OnnxModelBuilder Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = "/" + op + "_" + Graph.Node.Count };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        Graph.Node.Add(n);
        return this;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    public static AttributeProto Real(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };
    public static AttributeProto Str(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String,
        S = ByteString.CopyFromUtf8(v) };
    public static AttributeProto TensorAttr(string name, TensorProto t) => new() { Name = name,
        Type = AttributeProto.Types.AttributeType.Tensor, T = t };

    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public string Write(string path) { File.WriteAllBytes(path, Model.ToByteArray()); return path; }

    /// <summary>A small MLP training graph: x[4,8] · W[8,16] → Relu → Gemm(W2[16,5], b[5]) → loss with labels y[4].</summary>
    public static OnnxModelBuilder Mlp(long batch = 4) => new OnnxModelBuilder()
        .Input("x", Float, batch, 8).Input("y", Long, batch).Input("w1", Float, 8, 16).Input("w2", Float, 16, 5).Input("b2", Float, 5)
        .Node("MatMul", ["x", "w1"], ["h"])
        .Node("Relu", ["h"], ["r"])
        .Node("Gemm", ["r", "w2", "b2"], ["logits"])
        .Node("SoftmaxCrossEntropyLoss", ["logits", "y"], ["loss"], Str("reduction", "mean"))
        .Output("loss", Float);
}
