"""PyTorch as the gradient oracle of Recompute.Tests/Oracle/TorchOracleTests.cs.

Usage: python3 torch_oracle.py CASE OUTDIR
Writes OUTDIR/CASE.onnx (torch.onnx.export in training mode, opset 17, the weights as initializers, the loss as the
graph's output) and OUTDIR/CASE.npz: the batch (x, target), then from one training step of the same module on the
same batch the loss and every parameter's gradient, in float32 ("loss", "grad/NAME") and in float64 ("loss64",
"grad64/NAME", the same weights widened), so a test can tell float32 rounding from a wrong gradient. The float32
reference runs ATen's own kernels (oneDNN off); "onednn/NAME" is the float32 gradient with oneDNN on, torch's CPU
default, which on Debian's 1.13.1 strays from float64 by about 2 % through ResNet-18's convolutions at batch 2. After the step
an SGD update (lr 0.1, no momentum) is applied to the float32 module and written as "sgd/NAME" (parameters) and
"state/NAME" (BatchNorm running statistics, which torch updates with the unbiased batch variance).

What autograd keeps for the backward pass is written too, counted as PyTorch's memory holds it: the distinct storages
that the saved variables of a float32 forward pass (oneDNN off) point to, found by walking the autograd graph from the
loss, parameters and buffers left out. "saved/bytes" is their sum, "saved/batch" the part that is the batch (x,
target) itself and "saved/torch-only" the storages saved only for reasons the runtime's backward does without
(TORCH_ONLY), each an int64 scalar.
"""
import copy
import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class WithLoss(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, target):
        out = self.net(x)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), target.reshape(-1))


class ConvFamily(nn.Module):
    """Conv (dense, strided, depthwise, pointwise), BatchNorm, ReLU, ReLU6 (Clip), MaxPool, AveragePool, global pool, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 16, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu6(self.bn2(self.dw(x)))
        x = F.avg_pool2d(self.bn3(self.pw(x)), 2, count_include_pad=False)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class DenseFamily(nn.Module):
    """Linear (Gemm and MatMul), LayerNorm, GELU, Tanh, Sigmoid, Softmax, element-wise Add/Sub/Mul/Div."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.ln = nn.LayerNorm(16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 6)

    def forward(self, x):
        h = F.gelu(self.ln(self.fc1(x)))
        h = torch.tanh(self.fc2(h)) * torch.sigmoid(h) + h / 2 - 0.1
        return self.fc3(h * F.softmax(h, dim=-1))


class Block(nn.Module):
    """A GPT-2 block: pre-LayerNorm causal self-attention and a GELU MLP, each with a residual."""

    def __init__(self, width, heads, tokens):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)
        self.register_buffer("mask", torch.tril(torch.ones(tokens, tokens, dtype=torch.bool)), persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
        attention = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.c_proj(attention)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class Gpt2Block(nn.Module):
    def __init__(self, width=32, heads=4, tokens=16, vocabulary=40):
        super().__init__()
        self.wte = nn.Embedding(vocabulary, width)
        self.wpe = nn.Embedding(tokens, width)
        self.block = Block(width, heads, tokens)
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocabulary, bias=False)
        self.register_buffer("positions", torch.arange(tokens), persistent=False)

    def forward(self, tokens):
        return self.lm_head(self.ln_f(self.block(self.wte(tokens) + self.wpe(self.positions))))


def case(name):
    """The module, a batch and the number of classes of the case."""
    if name == "conv":
        return ConvFamily(), torch.randn(4, 3, 16, 16), torch.randint(0, 5, (4,))
    if name == "dense":
        return DenseFamily(), torch.randn(8, 12), torch.randint(0, 6, (8,))
    if name == "resnet18":
        import torchvision
        return torchvision.models.resnet18(num_classes=10), torch.randn(2, 3, 64, 64), torch.randint(0, 10, (2,))
    if name == "mobilenetv2":
        import torchvision
        return torchvision.models.mobilenet_v2(num_classes=10, dropout=0.0), torch.randn(2, 3, 64, 64), torch.randint(0, 10, (2,))
    if name == "gpt2block":
        return Gpt2Block(), torch.randint(0, 40, (2, 16)), torch.randint(0, 40, (2, 16))
    raise SystemExit(f"unknown case {name}")


def step(model, x, target, onednn=False):
    with torch.backends.mkldnn.flags(enabled=onednn):
        model.zero_grad(set_to_none=True)
        loss = model(x, target)
        loss.backward()
    return loss.item(), {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}


# What torch saves that the runtime's backward does not need: MaxPool's indices (the runtime finds each window's
# arg-max again from the input it keeps), the per-channel statistics of BatchNorm and LayerNorm (recomputed from the
# kept input), and the inputs of average pooling and of mean (their backward needs only the shape).
TORCH_ONLY = {("MaxPool2DWithIndicesBackward0", "_saved_result1"), ("NativeBatchNormBackward0", "_saved_result1"),
              ("NativeBatchNormBackward0", "_saved_result2"), ("NativeLayerNormBackward0", "_saved_result1"),
              ("NativeLayerNormBackward0", "_saved_result2"), ("AvgPool2DBackward0", "_saved_self"),
              ("MeanBackward1", "_saved_self"), ("NllLossBackward0", "_saved_total_weight")}


def saved_storages(model, x, target):
    """Bytes of the distinct storages autograd saves in one forward pass: (all, the batch's, torch-only ones')."""
    owned = {t.storage().data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    batch = {x.storage().data_ptr(), target.storage().data_ptr()}
    with torch.backends.mkldnn.flags(enabled=False):
        loss = model(x, target)
    storages = {}  # data pointer -> (bytes, the reasons it is saved for)
    seen, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for attribute in dir(node):
            value = getattr(node, attribute) if attribute.startswith("_saved_") else None
            if isinstance(value, torch.Tensor) and value.storage().data_ptr() not in owned:
                size, reasons = storages.setdefault(value.storage().data_ptr(), (value.storage().nbytes(), set()))
                reasons.add((type(node).__name__, attribute))
        stack.extend(next_node for next_node, _ in node.next_functions)
    total = sum(size for size, _ in storages.values())
    in_batch = sum(size for ptr, (size, _) in storages.items() if ptr in batch)
    torch_only = sum(size for ptr, (size, reasons) in storages.items() if ptr not in batch and reasons <= TORCH_ONLY)
    return total, in_batch, torch_only


def main():
    name, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(7)
    net, x, target = case(name)
    model = WithLoss(net)
    model.train()
    reference = copy.deepcopy(model)
    torch.onnx.export(copy.deepcopy(model), (x, target), f"{out}/{name}.onnx", input_names=["x", "target"],
                      output_names=["loss"], opset_version=17, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.TRAINING)
    arrays = {"x": x.numpy(), "target": target.numpy()}
    for key, value in zip(("saved/bytes", "saved/batch", "saved/torch-only"), saved_storages(copy.deepcopy(reference), x, target)):
        arrays[key] = np.array(value, dtype=np.int64)
    wide = copy.deepcopy(reference).double()
    loss64, grads64 = step(wide, x.double() if x.is_floating_point() else x, target)
    _, onednn = step(copy.deepcopy(reference), x, target, onednn=True)
    loss, grads = step(reference, x, target)
    arrays["loss"] = np.array(loss, dtype=np.float32)
    arrays["loss64"] = np.array(loss64, dtype=np.float64)
    for n, g in grads.items():
        arrays["grad/" + n] = g
        arrays["grad64/" + n] = grads64[n]
        arrays["onednn/" + n] = onednn[n]
    with torch.no_grad():
        for n, p in reference.named_parameters():
            arrays["sgd/" + n] = (p - 0.1 * p.grad).numpy()
    for n, b in reference.named_buffers():
        if b.is_floating_point():
            arrays["state/" + n] = b.numpy()
    np.savez(f"{out}/{name}.npz", **arrays)


if __name__ == "__main__":
    main()
