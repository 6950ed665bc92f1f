using Google.Protobuf;
using Recompute.Planner.Costs;
using Recompute.Planner.Files;
using Recompute.Planner.Graph;
using Recompute.Planner.Import.Onnx.Proto;

namespace Recompute.Planner.Import.Onnx;

/// <summary>
/// Imports an ONNX model (IR version 3 and later, opsets 9 to 21) as a <see cref="ComputationGraph"/>: one node
/// per tensor, shapes from this project's own <see cref="ShapeInference"/>, bytes and FLOPs from
/// <see cref="CostModel"/> (or a measured time file).
/// </summary>
/// <remarks>
/// <para>Tensor kinds:</para>
/// <list type="bullet">
/// <item>Floating-point initializers are <see cref="NodeKind.Parameter"/>s; other initializers (int64 shape
/// constants, masks) are <see cref="NodeKind.Constant"/>s. External data is never read: sizes come from the dims.</item>
/// <item>Graph inputs without an initializer are data <see cref="NodeKind.Input"/>s, except in files whose weights were
/// stripped to graph inputs (no floating-point initializer at all, as PyTorch writes with
/// <c>export_params=False</c>): there the data inputs are the first graph input, the inputs of non-float type (tokens,
/// labels) and the inputs with a symbolic dimension; the other floating-point inputs are the weights (Parameters).</item>
/// <item>Outputs of Constant, Shape and Size, and of any operation whose operands are all constants, are folded
/// constants (<see cref="NodeKind.Constant"/>, time 0; small values kept in the <c>value</c> attribute).</item>
/// <item>Output 0 of SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss is the <see cref="NodeKind.Loss"/>; without
/// one, the single scalar floating-point graph output is. Every other operation output is an
/// <see cref="NodeKind.Activation"/>, including secondary outputs (BatchNormalization's running statistics,
/// Dropout's mask) with their <see cref="Node.OutputIndex"/>.</item>
/// </list>
/// <para>Batch override: the leading dimension of every data input equal to the file's batch B becomes N. Shapes
/// computed in the graph (Shape → Gather → Concat → Reshape) follow by themselves. Reshape targets that are literal
/// constants bake B in (PyTorch writes <c>[8, 1024, 12, 64]</c>); for a Reshape of a batch-dependent tensor whose
/// literal target no longer fits, the first target dimension that is a multiple of B is scaled by N / B (with a -1
/// in the target, a leading dimension equal to B becomes N). Expand, Tile or ConstantOfShape targets that bake the
/// batch in are not rewritten and fail shape inference with a clear message. value_info is only checked at the
/// file's own batch size.</para>
/// </remarks>
public static class OnnxImporter
{
    /// <summary>Op name of constant initializers (to tell them from constants computed by operations).</summary>
    public const string InitializerOp = "Initializer";

    /// <summary>Loads a graph (see <see cref="Import"/>).</summary>
    public static ComputationGraph Load(string path, OnnxImportOptions? options = null) => Import(path, options).Graph;

    /// <summary>Imports an ONNX file. Every problem is a <see cref="GraphFormatException"/> naming the file and the node.</summary>
    public static OnnxImportResult Import(string path, OnnxImportOptions? options = null)
    {
        options ??= new OnnxImportOptions();
        if (options.Batch is { } b && b <= 0) throw new GraphFormatException(path, null, $"batch size must be positive, got {b}");
        try
        {
            var model = ReadModel(path);
            var times = options.TimeFile is null ? null : MeasuredTimes.Load(options.TimeFile);
            return new Importer(path, model, options, times).Run();
        }
        catch (GraphFormatException e) when (!IsPrintable(e.Location, 120) || !IsPrintable(e.Problem, 240))
        {
            // Names quoted from the file may hold control characters or be huge: the message stays one short line.
            throw new GraphFormatException(e.File, e.Location is null ? null : QuotedText.Printable(e.Location, 120),
                QuotedText.Printable(e.Problem, 240), e);
        }
    }

    private static bool IsPrintable(string? s, int max) => s is null || (s.Length <= max && !s.Any(c => c < ' ' || c == '\u007f'));

    private static ModelProto ReadModel(string path)
    {
        byte[] bytes = Files.InputFile.ReadAllBytes(path, Files.InputKind.Onnx);
        if (bytes.Length == 0) throw new GraphFormatException(path, null, "the file is empty");
        var model = new ModelProto();
        var input = new CodedInputStream(bytes);
        try { model.MergeFrom(input); }
        catch (InvalidProtocolBufferException e)
        {
            // Protobuf's own text advises the programmer (SetRecursionLimit, ...): say what is wrong with the file.
            string what = e.Message.Contains("nesting", StringComparison.Ordinal)
                ? "subgraphs nested deeper than 100 levels"
                : e.Message.Contains("ended unexpectedly", StringComparison.Ordinal) || e.Message.Contains("truncated",
                    StringComparison.OrdinalIgnoreCase)
                    ? "the file ends in the middle of a field (truncated?)"
                    : "not protobuf data (another format, or corrupted)";
            throw new GraphFormatException(path, $"byte {input.Position} of {bytes.Length}", $"not a valid ONNX model: {what}");
        }
        // The message ended (an end-group tag) before the data did: not a model.
        if (!input.IsAtEnd)
            throw new GraphFormatException(path, $"byte {input.Position} of {bytes.Length}",
                "not a valid ONNX model: not protobuf data (another format, or corrupted)");
        if (model.IrVersion <= 0)
            throw new GraphFormatException(path, null, "not an ONNX model: no ir_version (the file may be truncated or of another format)");
        if (model.IrVersion < 3)
            throw new GraphFormatException(path, null, $"IR version {model.IrVersion} is not supported (3 or later is)");
        if (model.Graph is null) throw new GraphFormatException(path, null, "not an ONNX model: it has no graph (the file may be truncated)");
        return model;
    }

    private sealed class Importer(string path, ModelProto model, OnnxImportOptions options, MeasuredTimes? times)
    {
        private readonly GraphProto _g = model.Graph;
        private readonly Dictionary<string, TensorInfo> _info = new(StringComparer.Ordinal);
        private readonly Dictionary<string, NodeKind> _kind = new(StringComparer.Ordinal);
        private readonly HashSet<string> _batchDependent = new(StringComparer.Ordinal);
        private readonly Dictionary<string, ValueInfoProto> _declared = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string[]> _nodeOutputs = new(StringComparer.Ordinal);
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        private GraphBuilder _builder = null!;
        private long _opset;
        private long _fileBatch;
        private long _batch;
        private int _checked;

        public OnnxImportResult Run()
        {
            _opset = DefaultOpset();
            _builder = new GraphBuilder(GraphName(), CostModel.Unit, path);
            foreach (var v in _g.ValueInfo.Concat(_g.Output))
                if (!string.IsNullOrEmpty(v.Name)) _declared.TryAdd(v.Name, v);

            AddInitializers();
            AddInputs();
            var order = TopologicalNodes();
            _names.UnionWith(_info.Keys);
            foreach (var node in order) _names.UnionWith(node.Output);
            var lossCandidates = new List<string>();
            var member = new Dictionary<int, FusedMatch>();
            if (options.FusePatterns)
                foreach (var m in FusedPatterns.Find(_g, order, _names))
                    foreach (int i in m.Nodes) member[i] = m;
            var fused = new HashSet<FusedMatch>();
            for (int i = 0; i < order.Count; i++)
            {
                if (member.TryGetValue(i, out var m))
                {
                    // The fused node takes the place of the pattern's first node, once its operands' shapes fit.
                    if (i == m.First && CanFuse(m)) { fused.Add(m); AddNode(m.Fused, lossCandidates); }
                    if (fused.Contains(m)) continue;
                }
                AddNode(order[i], lossCandidates);
            }
            MarkLoss(lossCandidates);
            if (times is not null) ApplyTimes();

            ComputationGraph graph;
            try { graph = _builder.Build(); }
            catch (GraphFormatException e) { throw e.WithFile(path); }
            graph.FusedPatterns = fused.Count;
            return new OnnxImportResult(graph, _g.Node.Count, model.IrVersion, _opset, _fileBatch, _batch, _checked);
        }

        private string GraphName()
        {
            var name = System.IO.Path.GetFileNameWithoutExtension(path);
            return string.IsNullOrEmpty(name) ? (string.IsNullOrEmpty(_g.Name) ? "onnx" : _g.Name) : name;
        }

        private long DefaultOpset()
        {
            var entry = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
            if (entry is null) throw new GraphFormatException(path, "opset_import",
                "no operator set version for the ONNX domain (the file may be truncated)");
            if (entry.Version <= 0) throw new GraphFormatException(path, "opset_import", $"invalid operator set version {entry.Version}");
            return entry.Version;
        }

        // ---- initializers and inputs ------------------------------------------------------------------------

        private void AddInitializers()
        {
            var initializers = _g.Initializer.Select(t => (t.Name, Tensor: t))
                .Concat(_g.SparseInitializer.Select(s => (s.Values?.Name ?? "", Tensor: DenseOf(s))));
            // The files holding external data are inputs of the command even where the data is never read (plan,
            // inspect): no output may replace them.
            Files.ExternalDataFile.NoteInputs(path, _g.Initializer.Concat(_g.SparseInitializer.Select(s => s.Values).OfType<TensorProto>())
                .SelectMany(t => t.ExternalData).Where(e => e.Key == "location").Select(e => e.Value));
            foreach (var (name, t) in initializers)
            {
                string where = $"initializer '{name}'";
                if (string.IsNullOrEmpty(name)) throw new GraphFormatException(path, "initializer", "an initializer has no name");
                if (_info.ContainsKey(name)) throw new GraphFormatException(path, where, "duplicate initializer name");
                TensorInfo info;
                try { info = OnnxTensors.Read(t, where); }
                catch (ShapeInferenceException e) { throw new GraphFormatException(path, where, e.Message); }
                bool parameter = ElementTypes.IsFloat(info.DType);
                var kind = parameter ? NodeKind.Parameter : NodeKind.Constant;
                _info[name] = parameter ? info with { Value = null } : info;
                _kind[name] = kind;
                var attrs = new Dictionary<string, object>(StringComparer.Ordinal);
                if (!parameter && info.Value is { } v) attrs["value"] = OnnxTensors.ToAttribute(v, info.DType);
                _builder.Add(new NodeSpec(name, parameter ? "Parameter" : InitializerOp, kind)
                {
                    Bytes = Bytes(info, where), Shape = info.Shape, DType = info.DType, Attributes = attrs,
                });
            }
        }

        /// <summary>A sparse initializer as the dense tensor it stands for (only dims and type matter).</summary>
        private static TensorProto DenseOf(SparseTensorProto s)
        {
            var t = new TensorProto { DataType = s.Values?.DataType ?? 0, Name = s.Values?.Name ?? "" };
            t.Dims.AddRange(s.Dims);
            return t;
        }

        private void AddInputs()
        {
            var inputs = _g.Input.Where(i => !_info.ContainsKey(i.Name)).ToList();
            bool weightsAreInputs = !_g.Initializer.Any(t => ElementTypes.NameOf(t.DataType) is { } d && ElementTypes.IsFloat(d));
            var parsed = new List<(ValueInfoProto Vi, string DType, long?[] Dims, bool Data)>();
            for (int i = 0; i < inputs.Count; i++)
            {
                var vi = inputs[i];
                string where = $"graph input '{vi.Name}'";
                if (string.IsNullOrEmpty(vi.Name)) throw new GraphFormatException(path, "graph input", "a graph input has no name");
                if (vi.Type?.TensorType is not { } tt) throw new GraphFormatException(path, where,
                    "is not a tensor (sequences, maps and optionals are not supported)");
                string dtype = ElementTypes.NameOf(tt.ElemType) ?? throw new GraphFormatException(path, where, $"unknown element type {tt.ElemType}");
                if (dtype == "string") throw new GraphFormatException(path, where, "string tensors have no static size");
                if (tt.Shape is null) throw new GraphFormatException(path, where, "has no shape: the planner needs static input shapes");
                var dims = tt.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue : (long?)null).ToArray();
                bool symbolic = dims.Any(d => d is null);
                bool data = !weightsAreInputs || i == 0 || !ElementTypes.IsFloat(dtype) || symbolic;
                parsed.Add((vi, dtype, dims, data));
            }

            // The file's batch: the leading dimension of the first data input that has one.
            _fileBatch = parsed.Where(p => p.Data && p.Dims.Length > 0 && p.Dims[0] is not null).Select(p => p.Dims[0]!.Value).FirstOrDefault();
            _batch = options.Batch ?? _fileBatch;
            if (options.Batch is not null && !parsed.Any(p => p.Data && p.Dims.Length > 0))
                throw new GraphFormatException(path, null, "--batch was given but no data input has a leading (batch) dimension");

            foreach (var (vi, dtype, dims, data) in parsed)
            {
                string where = $"graph input '{vi.Name}'";
                var shape = new long[dims.Length];
                for (int k = 0; k < dims.Length; k++)
                {
                    if (dims[k] is { } d) shape[k] = d;
                    else if (k == 0 && data && options.Batch is { } nb) shape[k] = nb;
                    else
                    {
                        var param = vi.Type.TensorType.Shape.Dim[k].DimParam;
                        throw new GraphFormatException(path, where, k == 0 && data
                            ? $"dimension 0 is symbolic ('{param}'): give a batch size (--batch N)"
                            : $"dimension {k} is symbolic ('{param}'): the planner needs static shapes");
                    }
                }
                if (data && options.Batch is { } n && shape.Length > 0 && dims[0] is { } d0 && d0 == _fileBatch) shape[0] = n;
                try { ShapeMath.Validate(shape, where); }
                catch (ShapeInferenceException e) { throw new GraphFormatException(path, where, e.Message); }
                var info = new TensorInfo(dtype, shape);
                var kind = data ? NodeKind.Input : NodeKind.Parameter;
                if (_info.ContainsKey(vi.Name)) throw new GraphFormatException(path, where, "duplicate graph input name");
                _info[vi.Name] = info;
                _kind[vi.Name] = kind;
                if (data) _batchDependent.Add(vi.Name);
                _builder.Add(new NodeSpec(vi.Name, data ? "Input" : "Parameter", kind) { Bytes = Bytes(info, where), Shape = shape, DType = dtype });
            }
        }

        // ---- nodes ------------------------------------------------------------------------------------------

        /// <summary>The nodes in a topological order (ONNX requires one; files that break the rule are sorted).</summary>
        private List<NodeProto> TopologicalNodes()
        {
            var producer = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < _g.Node.Count; i++)
                foreach (var o in _g.Node[i].Output)
                {
                    if (string.IsNullOrEmpty(o)) continue;
                    if (_info.ContainsKey(o)) throw new GraphFormatException(path, NodeWhere(_g.Node[i]),
                        $"output '{o}' has the name of a graph input or initializer");
                    if (!producer.TryAdd(o, i)) throw new GraphFormatException(path, NodeWhere(_g.Node[i]),
                        $"output '{o}' is also produced by {NodeWhere(_g.Node[producer[o]])}");
                }
            var indeg = new int[_g.Node.Count];
            var readers = new List<int>[_g.Node.Count];
            for (int i = 0; i < readers.Length; i++) readers[i] = [];
            for (int i = 0; i < _g.Node.Count; i++)
                foreach (var input in _g.Node[i].Input)
                {
                    if (string.IsNullOrEmpty(input) || _info.ContainsKey(input)) continue;
                    if (!producer.TryGetValue(input, out int p))
                        throw new GraphFormatException(path, NodeWhere(_g.Node[i]),
                            $"reads tensor '{QuotedText.Shorten(input)}', which no node, graph input or initializer produces");
                    if (p == i)
                        throw new GraphFormatException(path, NodeWhere(_g.Node[i]),
                            $"reads its own output '{QuotedText.Shorten(input)}' (a self-loop): the graph must be acyclic");
                    indeg[i]++;
                    readers[p].Add(i);
                }
            var ready = new PriorityQueue<int, int>();
            for (int i = 0; i < indeg.Length; i++) if (indeg[i] == 0) ready.Enqueue(i, i);
            var order = new List<NodeProto>(_g.Node.Count);
            while (ready.TryDequeue(out int i, out _))
            {
                order.Add(_g.Node[i]);
                foreach (var r in readers[i]) if (--indeg[r] == 0) ready.Enqueue(r, r);
            }
            if (order.Count < _g.Node.Count)
            {
                int stuck = Enumerable.Range(0, indeg.Length).First(i => indeg[i] > 0);
                throw new GraphFormatException(path, NodeWhere(_g.Node[stuck]), "is on a cycle: the graph must be acyclic");
            }
            return order;
        }

        private static string NodeWhere(NodeProto n)
        {
            string name = !string.IsNullOrEmpty(n.Name) ? n.Name : n.Output.FirstOrDefault(o => !string.IsNullOrEmpty(o)) ?? "?";
            return $"node '{name}' ({n.OpType})";
        }

        private void AddNode(NodeProto node, List<string> lossCandidates)
        {
            string where = NodeWhere(node);
            if (node.Domain is not ("" or "ai.onnx"))
                throw new GraphFormatException(path, where,
                    $"unsupported operator '{node.Domain}.{node.OpType}': only the standard ONNX domain is supported");
            if (!ShapeInference.IsSupported(node.OpType))
                throw new GraphFormatException(path, where, $"unsupported operator '{node.OpType}'");

            var attrs = new Dictionary<string, object>(StringComparer.Ordinal);
            foreach (var a in node.Attribute)
            {
                if (string.IsNullOrEmpty(a.Name)) throw new GraphFormatException(path, where, "an attribute has no name");
                object? value;
                try { value = OnnxTensors.Convert(a, $"attribute '{a.Name}'"); }
                catch (ShapeInferenceException e) { throw new GraphFormatException(path, where, e.Message); }
                if (value is null) throw new GraphFormatException(path, where, $"attribute '{a.Name}' has an unsupported type {a.Type}");
                attrs[a.Name] = value;
            }

            var operands = node.Input.Select(name => string.IsNullOrEmpty(name) ? null : _info[name]).ToList();
            if (node.OpType == "Dropout" && node.Output.Count == 1 && IsTraining(operands))
            {
                // In training mode a framework keeps the keep mask for the backward (1 byte an element): an export that
                // does not ask for it gets it as output 1, so that the memory model holds it like any other tensor.
                node = node.Clone();
                node.Output.Add(FusedPatterns.Fresh(_names, node.Output[0] + "_mask"));
            }
            bool batchDependent = node.Input.Any(name => !string.IsNullOrEmpty(name) && _batchDependent.Contains(name));
            if (node.OpType == "Reshape" && operands.Count > 1 && operands[0] is { } data && operands[1] is { Value: { } tv } target
                && _batch != _fileBatch && _fileBatch > 0 && _batchDependent.Contains(node.Input[0]) && !_batchDependent.Contains(node.Input[1]))
                operands[1] = target with { Value = ConstantValue.FromInts(RebatchTarget(tv.AsInts(), data.Shape)) };

            var context = new OpContext { OpType = node.OpType, Opset = (int)Math.Min(_opset, int.MaxValue), Attributes = attrs,
                Inputs = operands, OutputCount = node.Output.Count };
            TensorInfo[] outputs;
            try
            {
                outputs = ShapeInference.Infer(context);
                if (outputs.Length < node.Output.Count) throw new ShapeInferenceException($"the operator has {outputs.Length} outputs, the node declares {node.Output.Count}");
                foreach (var o in outputs) _ = o.Bytes; // sizes must fit in 64 bits
            }
            catch (ShapeInferenceException e)
            {
                string hint = _batch != _fileBatch ? $" (with batch size {_batch} instead of the file's {_fileBatch})" : "";
                throw new GraphFormatException(path, where, e.Message + hint);
            }
            catch (OverflowException) { throw new GraphFormatException(path, where, "a size overflows 64 bits"); }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidCastException or DivideByZeroException)
            {
                // Operands or attributes of a malformed node that the checks above did not anticipate: still bad input.
                throw new GraphFormatException(path, where, $"invalid operands or attributes ({e.Message})");
            }

            var presentOperands = node.Input.Select((name, k) => (name, k)).Where(p => !string.IsNullOrEmpty(p.name)).ToList();
            var inputIds = presentOperands.Select(p => _builder.TryGetId(p.name, out int id) ? id : throw new GraphFormatException(path,
                where, $"reads unknown tensor '{p.name}'")).ToList();
            bool constant = node.OpType is "Shape" or "Size" || presentOperands.All(p => _kind[p.name] == NodeKind.Constant);
            var needs = BackwardNeeds(node.OpType, presentOperands.Select(p => p.k).ToList());

            var nodeAttrs = new Dictionary<string, object>(StringComparer.Ordinal);
            foreach (var (k, v) in attrs)
                switch (v)
                {
                    case TensorInfo t when t.Value is { } tv2: nodeAttrs[k] = OnnxTensors.ToAttribute(tv2, t.DType); break;
                    case TensorInfo or string[]: break;
                    default: nodeAttrs[k] = v; break;
                }
            if (presentOperands.Count != node.Input.Count) nodeAttrs["input_positions"] = presentOperands.Select(p => (long)p.k).ToArray();

            for (int i = 0; i < node.Output.Count; i++)
            {
                string name = node.Output[i];
                if (string.IsNullOrEmpty(name)) continue;
                var info = outputs[i];
                CheckDeclared(name, info, where);
                var kind = constant ? NodeKind.Constant : NodeKind.Activation;
                _info[name] = info;
                _kind[name] = kind;
                if (batchDependent) _batchDependent.Add(name);
                var outAttrs = nodeAttrs;
                if (constant && info.Value is { } v)
                    outAttrs = new Dictionary<string, object>(nodeAttrs, StringComparer.Ordinal) { ["value"] = OnnxTensors.ToAttribute(v,
                        info.DType) };
                double time = constant ? 0 : CostModel.ForwardFlops(node.OpType, attrs, operands, outputs, i);
                _builder.Add(new NodeSpec(name, node.OpType, kind)
                {
                    Inputs = inputIds, Bytes = Bytes(info, where), Time = time, Shape = info.Shape, DType = info.DType,
                    Attributes = outAttrs, OutputIndex = i, BackwardNeeds = needs.Needs, BackwardNeedsOutput = needs.Output,
                    SavedByRule = SavedTensors.Knows(node.OpType),
                });
                if (i == 0 && !constant && node.OpType is "SoftmaxCrossEntropyLoss" or "NegativeLogLikelihoodLoss") lossCandidates.Add(name);
            }
            _nodeOutputs[string.IsNullOrEmpty(node.Name) ? node.Output[0] : node.Name] = node.Output.Where(o => !string.IsNullOrEmpty(o)).ToArray();
        }

        /// <summary>Dropout's training_mode (operand 2): absent means false (the identity, ONNX's default); a computed one may be true.</summary>
        private static bool IsTraining(List<TensorInfo?> operands) =>
            operands.Count > 2 && operands[2] is { } mode && (mode.Value is not { Length: > 0 } v || v.Real(0) != 0);

        /// <summary>
        /// True when a recognised pattern's operands are known with shapes the fused op takes: a floating operand 0 of
        /// rank ≥ 1, reduced over its last axis, and per-feature operands (LayerNorm's scale and bias) of shape [C].
        /// </summary>
        private bool CanFuse(FusedMatch m)
        {
            if (m.Fused.Input.Any(name => !_info.ContainsKey(name))) return false;
            var x = _info[m.Fused.Input[0]];
            if (!ElementTypes.IsFloat(x.DType) || x.Rank == 0) return false;
            if (m.Axis is { } axis && axis != -1 && axis != x.Rank - 1) return false;
            return m.PerFeature.All(name => _info[name] is { Rank: 1 } t && t.Shape[0] == x.Shape[^1] && t.DType == x.DType);
        }

        /// <summary>A literal Reshape target rewritten for the new batch size (see the class remarks).</summary>
        private long[] RebatchTarget(long[] target, long[] input)
        {
            if (target.Length == 0) return target;
            if (target.Contains(-1)) return target[0] == _fileBatch ? [_batch, .. target[1..]] : target;
            long total = ShapeMath.Elements(input);
            try
            {
                if (ShapeMath.Elements(ShapeInference.ReshapeTarget(input, target, false)) == total) return target;
            }
            catch (ShapeInferenceException) { }
            for (int i = 0; i < target.Length; i++)
            {
                if (target[i] <= 0 || target[i] % _fileBatch != 0) continue;
                var candidate = (long[])target.Clone();
                candidate[i] = target[i] / _fileBatch * _batch;
                long product = 1;
                try { foreach (var d in candidate) product = checked(product * (d == 0 ? 1 : d)); } catch (OverflowException) { continue; }
                if (candidate.Contains(0)) continue;
                if (product == total) return candidate;
            }
            return target;
        }

        private void CheckDeclared(string name, TensorInfo info, string where)
        {
            if (!_declared.TryGetValue(name, out var vi) || _batch != _fileBatch) return;
            if (vi.Type?.TensorType is not { } tt) return;
            string? declaredType = tt.ElemType == 0 ? null : ElementTypes.NameOf(tt.ElemType);
            bool typeOk = declaredType is null || declaredType == info.DType;
            bool shapeOk = true;
            string declaredShape = "?";
            if (tt.Shape is { } s)
            {
                declaredShape = "[" + string.Join(",",
                    s.Dim.Select(d => d.HasDimValue ? d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture) : string.IsNullOrEmpty(d.DimParam) ? "?" : d.DimParam)) + "]";
                shapeOk = s.Dim.Count == info.Rank && s.Dim.Select((d, k) => !d.HasDimValue || d.DimValue == info.Shape[k]).All(ok => ok);
            }
            if (!typeOk || !shapeOk)
                throw new GraphFormatException(path, $"{where}, output '{name}'",
                    $"shape inference gives {info} but the file's value_info says {declaredType ?? "?"}{declaredShape}");
            _checked++;
        }

        /// <summary>
        /// The loss: a loss operator's output that is a graph output; else the single scalar floating-point graph
        /// output produced by an operation (a loss with reduction "none" followed by ReduceMean, an MSE written out);
        /// else every loss operator's output. A graph with none of these (an inference export) has no Loss node.
        /// </summary>
        private void MarkLoss(List<string> candidates)
        {
            var outputs = _g.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            var chosen = candidates.Where(outputs.Contains).ToList();
            if (chosen.Count == 0)
            {
                var scalars = _g.Output.Select(o => o.Name).Where(n => _kind.TryGetValue(n, out var k) && k == NodeKind.Activation
                    && _info[n].Elements == 1 && ElementTypes.IsFloat(_info[n].DType)).Distinct().ToList();
                chosen = scalars.Count == 1 ? scalars : candidates;
            }
            foreach (var name in chosen)
            {
                _builder.TryGetId(name, out int id);
                _builder.Replace(id, _builder[id] with { Kind = NodeKind.Loss });
                _kind[name] = NodeKind.Loss;
            }
        }

        private void ApplyTimes()
        {
            var t = times!;
            var assigned = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (key, seconds) in t.Times)
            {
                if (_builder.TryGetId(key, out _)) assigned[key] = seconds;
                else if (_nodeOutputs.TryGetValue(key, out var outs))
                {
                    for (int i = 0; i < outs.Length; i++) assigned.TryAdd(outs[i], i == 0 ? seconds : 0);
                }
                else throw new GraphFormatException(t.Path, $"\"times\".\"{key}\"", $"names no tensor or node of {System.IO.Path.GetFileName(path)}");
            }
            for (int id = 0; id < _builder.Count; id++)
            {
                var spec = _builder[id];
                if (spec.Kind is not (NodeKind.Activation or NodeKind.Loss)) continue;
                if (!assigned.TryGetValue(spec.Name, out double time))
                    throw new GraphFormatException(t.Path, null,
                        $"no time for tensor '{spec.Name}' ({spec.Op}) of {System.IO.Path.GetFileName(path)}: every operation output needs one");
                double? backward = null;
                if (t.BackwardTimes is { } bt)
                {
                    if (!bt.TryGetValue(spec.Name, out double b))
                        throw new GraphFormatException(t.Path, null,
                            $"no backward time for tensor '{spec.Name}' ({spec.Op}) of {System.IO.Path.GetFileName(path)}: with \"backwardTimes\" every operation output needs one");
                    backward = b;
                }
                _builder.Replace(id, spec with { Time = time, BackwardTime = backward });
            }
            if (t.BackwardTimes is { } backwardTimes)
                foreach (var key in backwardTimes.Keys)
                    if (!_builder.TryGetId(key, out int id) || _builder[id].Kind is not (NodeKind.Activation or NodeKind.Loss))
                        throw new GraphFormatException(t.Path, $"\"backwardTimes\".\"{key}\"",
                            $"names no operation output of {System.IO.Path.GetFileName(path)}");
            _builder.TimeUnit = t.Unit;
        }

        private long Bytes(TensorInfo info, string where)
        {
            try { return info.Bytes; }
            catch (ShapeInferenceException e) { throw new GraphFormatException(path, where, e.Message); }
        }

        /// <summary>
        /// Operand indexes (into the present operands) whose forward values the op's backward reads for some operand,
        /// and whether it reads its output: the union of <see cref="SavedTensors"/>' row over the operands (what the
        /// node's per-node fields say; the training graph refines it per operand). Null for an op without a row.
        /// </summary>
        private static (IReadOnlyList<int>? Needs, bool Output) BackwardNeeds(string op, List<int> onnxPositions)
        {
            if (SavedTensors.Union(op, onnxPositions) is not { } saved) return (null, false);
            var result = new List<int>();
            for (int k = 0; k < onnxPositions.Count; k++)
                if (saved.Operands.Contains(onnxPositions[k])) result.Add(k);
            return (result, saved.Output);
        }
    }
}
