using Google.Protobuf;
using Recompute.Planner.Graph;
using Recompute.Planner.Import.Onnx.Proto;
using Recompute.Runtime.Ops;
using Recompute.Runtime.Tensors;

namespace Recompute.Runtime.Models;

/// <summary>
/// Writes a sample graph built in code (<see cref="SampleModels"/>) as the ONNX model an exporter would write for it:
/// opset 17, one NodeProto per operation (the outputs of a multi-output op such as Split on one node), the weights as
/// typed graph inputs without data (PyTorch's <c>export_params=False</c>, as the other files of <c>graphs/</c>), the
/// data inputs and the loss output typed, no intermediate value_info (the importer infers every shape). Constants become
/// Constant nodes with their full values; an operation on constants alone (the causal mask's Trilu and Cast) is
/// evaluated here with the runtime's operators and written as the Constant an exporter folds it into.
/// </summary>
internal static class SampleOnnx
{
    /// <summary>The ONNX operator set the files declare.</summary>
    public const int Opset = 17;

    /// <summary>The model proto of a graph (deterministic: the same graph gives the same bytes).</summary>
    public static ModelProto ToModel(ComputationGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var model = new ModelProto { IrVersion = 8, ProducerName = "recompute", ProducerVersion = "sample-models",
            Graph = new GraphProto { Name = graph.Name } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        var g = model.Graph;
        var values = FoldConstants(graph);
        foreach (var n in graph.Nodes)
        {
            if (n.Kind is NodeKind.Input or NodeKind.Parameter) g.Input.Add(ValueInfo(n));
            if (n.Kind == NodeKind.Loss) g.Output.Add(ValueInfo(n));
        }
        foreach (var n in graph.Nodes)
        {
            if (values.TryGetValue(n.Id, out var value))
            {
                var constant = new NodeProto { OpType = "Constant", Name = n.Name };
                constant.Output.Add(n.Name);
                constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Tensor(n, value) });
                g.Node.Add(constant);
                continue;
            }
            if (!n.IsPlanned || n.OutputIndex > 0) continue;
            var node = new NodeProto { OpType = n.Op, Name = n.Name };
            foreach (int p in n.Inputs) node.Input.Add(graph[p].Name);
            // The other outputs of the same operation: nodes of the same op reading the same operands.
            var outputs = graph.Nodes.Where(o => o.Id == n.Id || (o.OutputIndex > 0 && o.Op == n.Op && o.IsPlanned
                && o.Inputs.SequenceEqual(n.Inputs)))
                .OrderBy(o => o.OutputIndex).ToList();
            for (int i = 0; i < outputs.Count; i++)
            {
                if (outputs[i].OutputIndex != i) throw new ArgumentException($"'{n.Name}' ({n.Op}): output #{i} is missing", nameof(graph));
                node.Output.Add(outputs[i].Name);
            }
            foreach (var (key, v) in n.Attributes) node.Attribute.Add(Attribute(key, v));
            g.Node.Add(node);
        }
        return model;
    }

    /// <summary>The bytes of <see cref="ToModel"/>.</summary>
    public static byte[] ToBytes(ComputationGraph graph) => ToModel(graph).ToByteArray();

    /// <summary>Values of the constants and of every operation whose operands are all constants, evaluated in graph order.</summary>
    private static Dictionary<int, float[]> FoldConstants(ComputationGraph graph)
    {
        var values = new Dictionary<int, float[]>();
        var arena = new Arena();
        foreach (var n in graph.Nodes)
        {
            var shape = DTypes.Shape(n);
            if (n.Kind == NodeKind.Constant)
            {
                var v = new float[Tensors.Tensor.SizeOf(shape)];
                if (!ConstantValues.Fill(n, v)) throw new ArgumentException($"constant '{n.Name}' has no value", nameof(graph));
                values[n.Id] = v;
                continue;
            }
            if (!n.IsPlanned || n.Inputs.Length == 0 || !n.Inputs.All(values.ContainsKey)) continue;
            var inputs = n.Inputs.Select(p =>
            {
                var t = arena.Allocate(MemoryCategory.Scratch, DTypes.Shape(graph[p]));
                values[p].CopyTo(t.Span);
                return (Tensors.Tensor?)t;
            }).ToArray();
            var output = arena.Allocate(MemoryCategory.Scratch, shape);
            var call = new OpCall(n, inputs, n.Inputs.Select(p => (int[]?)DTypes.Shape(graph[p])).ToArray(), shape, arena, 0);
            OperatorRegistry.For(graph, n).Forward(call, output);
            values[n.Id] = output.Span.ToArray();
            output.Dispose();
            foreach (var t in inputs) t!.Dispose();
        }
        return values;
    }

    private static int ElementType(string dtype) => dtype switch
    {
        "float32" => (int)TensorProto.Types.DataType.Float,
        "int64" => (int)TensorProto.Types.DataType.Int64,
        "bool" => (int)TensorProto.Types.DataType.Bool,
        _ => throw new ArgumentException($"dtype '{dtype}' is not written by the sample exporter"),
    };

    private static ValueInfoProto ValueInfo(Node n)
    {
        var shape = new TensorShapeProto();
        foreach (var d in n.Shape) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = n.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = ElementType(n.DType), Shape = shape } },
        };
    }

    private static TensorProto Tensor(Node n, float[] value)
    {
        var t = new TensorProto { Name = n.Name, DataType = ElementType(n.DType) };
        t.Dims.AddRange(n.Shape);
        switch (n.DType)
        {
            case "float32": t.FloatData.AddRange(value); break;
            case "int64": t.Int64Data.AddRange(value.Select(v => (long)v)); break;
            default: t.Int32Data.AddRange(value.Select(v => v != 0f ? 1 : 0)); break; // bool: int32_data, one per element
        }
        return t;
    }

    private static AttributeProto Attribute(string key, object value) => value switch
    {
        long l => new AttributeProto { Name = key, Type = AttributeProto.Types.AttributeType.Int, I = l },
        int i => new AttributeProto { Name = key, Type = AttributeProto.Types.AttributeType.Int, I = i },
        double d => new AttributeProto { Name = key, Type = AttributeProto.Types.AttributeType.Float, F = (float)d },
        float f => new AttributeProto { Name = key, Type = AttributeProto.Types.AttributeType.Float, F = f },
        string s => new AttributeProto { Name = key, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
        long[] ls => WithInts(key, ls),
        double[] ds => WithFloats(key, ds.Select(x => (float)x)),
        float[] fs => WithFloats(key, fs),
        _ => throw new ArgumentException($"attribute '{key}' of type {value.GetType().Name} is not written by the sample exporter"),
    };

    private static AttributeProto WithInts(string key, long[] values)
    {
        var a = new AttributeProto { Name = key, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static AttributeProto WithFloats(string key, IEnumerable<float> values)
    {
        var a = new AttributeProto { Name = key, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(values);
        return a;
    }
}
