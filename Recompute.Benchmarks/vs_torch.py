"""PyTorch's side of the `vs-torch` benchmark: a line protocol on stdin/stdout, so that the .NET side can interleave
one PyTorch step with one runtime step in the same run (both see the same machine load).

Commands (one per line), each answered by one line:
  setup MODEL BATCH   build the model, a fixed batch and the optimizer (Adam, lr 1e-4, as the runtime's side) -> "ready"
  version             -> torch.__version__
  threads N           torch.set_num_threads(N) -> "ok"
  step                one store-all training step (zero_grad, forward, loss, backward, optimizer step) -> seconds
  quit                exit

MODEL is resnet18 or mobilenet_v2 (torchvision, 224x224 images, 1000 classes, cross-entropy; the shapes of
graphs/resnet18-b32.onnx and graphs/mobilenetv2-b64.onnx) or gpt2-2l (the GPT-2 of graphs/gpt2-2l-t128.onnx:
2 layers, width 768, 12 heads, 128 tokens, vocabulary 512, untied LM head, exact GELU).
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """One GPT-2 block: pre-LayerNorm causal self-attention and MLP, each with a residual."""

    def __init__(self, width, heads, tokens):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)
        self.register_buffer("mask", torch.tril(torch.ones(tokens, tokens, dtype=torch.bool)))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
        attention = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.c_proj(attention)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class Gpt2(nn.Module):
    def __init__(self, layers=2, width=768, heads=12, tokens=128, vocabulary=512):
        super().__init__()
        self.wte = nn.Embedding(vocabulary, width)
        self.wpe = nn.Embedding(tokens, width)
        self.h = nn.ModuleList(Block(width, heads, tokens) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocabulary, bias=False)

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def build(model, batch):
    torch.manual_seed(1)
    if model == "gpt2-2l":
        net = Gpt2()
        tokens = torch.randint(0, 512, (batch, 128))
        target = torch.randint(0, 512, (batch, 128))
        loss = lambda: F.cross_entropy(net(tokens).reshape(-1, 512), target.reshape(-1))
    else:
        import torchvision
        net = getattr(torchvision.models, model)(num_classes=1000)
        images = torch.randn(batch, 3, 224, 224)
        target = torch.randint(0, 1000, (batch,))
        loss = lambda: F.cross_entropy(net(images), target)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()
    return step


def main():
    step = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "setup":
            step = build(words[1], int(words[2]))
            print("ready", flush=True)
        elif words[0] == "version":
            print(torch.__version__, flush=True)
        elif words[0] == "threads":
            torch.set_num_threads(int(words[1]))
            print("ok", flush=True)
        elif words[0] == "step":
            start = time.perf_counter()
            step()
            print(f"{time.perf_counter() - start:.6f}", flush=True)
        elif words[0] == "quit":
            return
        else:
            print(f"error unknown command {words[0]}", flush=True)


if __name__ == "__main__":
    main()
