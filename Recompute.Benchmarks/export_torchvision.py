"""Exports torchvision models as training graphs for the `exports` benchmark table (Recompute.Benchmarks/AutoTable.cs).

Usage: /usr/bin/python3 Recompute.Benchmarks/export_torchvision.py OUTDIR [MODEL ...]
       (Debian's python3-torch and python3-torchvision, torch 1.13 / torchvision 0.14, and python3-onnx)

Each MODEL (default: every model of MODELS below) is written as OUTDIR/<name>-b<batch>[-<size>].onnx the way the
shipped graphs of graphs/ were made (graphs/README.md): the model and its cross-entropy loss in one graph
(torch.onnx.export in training mode, opset 15, no constant folding; BatchNormalization with training_mode=1, Dropout
with its mask), inputs `input` float32 [B,3,H,W] and `target` int64 [B] (per-pixel [B,H,W] for segmentation), output
`loss`. The weights are stripped: every floating-point initializer (parameters, BatchNorm statistics) becomes a typed
graph input without data, so the files are small; integer initializers (index tables such as Swin's relative
positions) keep their values. ONNX shape inference's value_info is kept, so the importer checks its own shapes
against it. A model that torch cannot export (or that fails the ONNX checker) is reported and skipped; the others
are still written. Every model tried gets a line on the standard output and appended to OUTDIR/exports.txt: its file
name or SKIPPED, and why.

The files are generated on demand, not committed: they are a few hundred KB each, but which torch exports them and
how is the point of this script. Exporting traces one forward pass at full batch on the CPU (a few seconds to a
minute per model).
"""
import io
import sys
import time
import traceback

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# name -> (torchvision constructor, its keyword arguments, batch, image size, per-pixel loss). No pretrained weights
# (the weights are stripped anyway); auxiliary heads off where a model has them in training mode, so that the graph
# has one loss as the shipped ones do. Batches make store-all a few GB (graphs/resnet50-b64.onnx is 5.1 GB).
# ConvNeXt, EfficientNet and Swin drop residual branches at random in training (stochastic depth, torchvision's
# `bernoulli_` with an out tensor), which torch 1.13 cannot export: each is tried as torchvision builds it (and
# recorded as skipped) and again with `stochastic_depth_prob=0`, the same graph without the random drop (the "-sd0"
# files), which is what a user of this torch has to export.
SD0 = {"stochastic_depth_prob": 0.0}
MODELS = {
    "resnet152": ("resnet152", {}, 32, 224, False),
    "densenet121": ("densenet121", {}, 32, 224, False),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}, 64, 224, False),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": False}, 32, 299, False),
    "vit_b_16": ("vit_b_16", {}, 16, 224, False),
    "convnext_tiny": ("convnext_tiny", {}, 32, 224, False),
    "convnext_tiny-sd0": ("convnext_tiny", SD0, 32, 224, False),
    "efficientnet_b0": ("efficientnet_b0", {}, 32, 224, False),
    "efficientnet_b0-sd0": ("efficientnet_b0", SD0, 32, 224, False),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, 64, 224, False),
    "regnet_y_400mf": ("regnet_y_400mf", {}, 64, 224, False),
    "squeezenet1_1": ("squeezenet1_1", {}, 128, 224, False),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, 128, 224, False),
    "fcn_resnet50": ("segmentation.fcn_resnet50", {"weights_backbone": None, "aux_loss": False}, 16, 224, True),
    "deeplabv3_resnet50": ("segmentation.deeplabv3_resnet50", {"weights_backbone": None, "aux_loss": False}, 16, 224, True),
    "swin_t": ("swin_t", {}, 16, 224, False),
    # swin_t passes its own stochastic_depth_prob: its configuration is spelled out (torchvision 0.14's swin_t).
    "swin_t-sd0": ("swin_transformer.SwinTransformer", dict(SD0, patch_size=[4, 4], embed_dim=96, depths=[2, 2, 6, 2],
                                                            num_heads=[3, 6, 12, 24], window_size=[7, 7]), 16, 224, False),
}

CLASSES = {False: 1000, True: 21}
OPSET = 15


class WithLoss(nn.Module):
    """The model and its cross-entropy loss: the graph's one output is the loss."""

    def __init__(self, net, segmentation):
        super().__init__()
        self.net = net
        self.segmentation = segmentation

    def forward(self, input, target):
        out = self.net(input)
        if self.segmentation:
            out = out["out"]  # [B, classes, H, W] against target [B, H, W]
        return F.cross_entropy(out, target)


def build(name):
    constructor, kwargs, batch, size, segmentation = MODELS[name]
    factory = torchvision.models
    for part in constructor.split("."):
        factory = getattr(factory, part)
    net = factory(**kwargs) if isinstance(factory, type) else factory(weights=None, **kwargs)
    model = WithLoss(net, segmentation)
    model.train()
    x = torch.randn(batch, 3, size, size)
    classes = CLASSES[segmentation]
    target = torch.randint(0, classes, (batch, size, size) if segmentation else (batch,))
    return model, x, target, batch, size


def strip_weights(model_proto):
    """Floating-point initializers become typed graph inputs without data (returns how many)."""
    graph = model_proto.graph
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
    declared = {i.name for i in graph.input}
    kept, stripped = [], 0
    for init in graph.initializer:
        if init.data_type in floats:
            if init.name not in declared:
                graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
            stripped += 1
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    # The integer initializers left are constants, not inputs.
    constants = {i.name for i in kept}
    inputs = [i for i in graph.input if i.name not in constants]
    del graph.input[:]
    graph.input.extend(inputs)
    return stripped


def export(name, outdir):
    model, x, target, batch, size = build(name)
    buffer = io.BytesIO()
    with torch.no_grad():  # the trace is the same; autograd's saved tensors are not kept
        torch.onnx.export(model, (x, target), buffer, input_names=["input", "target"], output_names=["loss"],
                          opset_version=OPSET, do_constant_folding=False, training=torch.onnx.TrainingMode.TRAINING)
    proto = onnx.load_from_string(buffer.getvalue())
    stripped = strip_weights(proto)
    del proto.graph.value_info[:]
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    onnx.checker.check_model(proto)
    stem = f"{name}-b{batch}" + ("" if size == 224 else f"-{size}")
    proto.doc_string = (f"{stem}: torchvision {name} (torchvision {torchvision.__version__}), training graph (model + loss), "
                        f"weights stripped to shaped inputs; batch {batch}, {size}x{size}")
    path = f"{outdir}/{stem}.onnx"
    onnx.save(proto, path)
    return f"{stem}.onnx", stripped, len(proto.graph.node)


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        print("models:", " ".join(MODELS))
        return 2
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"unknown model(s): {' '.join(unknown)}; known: {' '.join(MODELS)}", file=sys.stderr)
        return 2
    import os
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    lines = []
    for name in names:
        clock = time.time()
        try:
            file, stripped, nodes = export(name, outdir)
            line = f"{file}\t{name}\t{nodes} nodes, {stripped} weights stripped, {time.time() - clock:.0f} s"
        except Exception as e:  # torch 1.13 cannot export some models: record and go on
            reason = " ".join(str(e).split())[:300] or type(e).__name__
            line = f"SKIPPED\t{name}\t{type(e).__name__}: {reason}"
            traceback.print_exc(file=sys.stderr)
        print(line, flush=True)
        lines.append(line)
    with open(f"{outdir}/exports.txt", "a") as f:
        f.write(f"# torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}, opset {OPSET}\n")
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
