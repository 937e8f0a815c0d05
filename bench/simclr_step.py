#!/usr/bin/python3
"""PyTorch side of the step benchmark (run by bench/run.ts with Debian's /usr/bin/python3).

The same SimCLR step as bench/trainer-step.ts: two views of B images concatenated, encoder, MLP
head (Linear+BN+ReLU, Linear without bias, BN), NT-Xent, SGD with momentum and weight decay off
biases and BN parameters. Models mirror trainer/models/encoders.ts exactly, including TensorFlow's
'same' padding: a 3x3 stride-2 conv on an even size pads 0 before and 1 after (PyTorch's padding=1
would pad both sides).

Protocol: one command per stdin line (step | quit), one JSON line per answer on stdout.
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SameConv(nn.Module):
    """Bias-free conv with TF 'same' padding, He (fan-out) normal init as the trainer's."""

    def __init__(self, cin, cout, k, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=0, bias=False)
        nn.init.normal_(self.conv.weight, 0.0, math.sqrt(2.0 / (k * k * cout)))
        self.k, self.stride = k, stride

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        pads = []
        for size in (w, h):
            out = -(-size // self.stride)
            total = max((out - 1) * self.stride + self.k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            if pads[0] == pads[1] and pads[2] == pads[3]:
                return F.conv2d(x, self.conv.weight, None, self.stride, (pads[2], pads[0]))
            x = F.pad(x, pads)
        return self.conv(x)


class ConvNet(nn.Module):
    def __init__(self, w):
        super().__init__()
        widths = [w, 2 * w, 4 * w, 8 * w]
        layers, cin = [], 3
        for i, c in enumerate(widths):
            layers += [SameConv(cin, c, 3, 1 if i == 0 else 2), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        self.body = nn.Sequential(*layers)
        self.dim = widths[-1]

    def forward(self, x):
        return self.body(x).mean((2, 3))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = SameConv(cin, cout, 3, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = SameConv(cout, cout, 3), nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(SameConv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)), inplace=True)


class ResNet18(nn.Module):
    """CIFAR ResNet-18: 3x3 stride-1 stem, no max-pool, stages w, 2w, 4w, 8w of two blocks."""

    def __init__(self, w):
        super().__init__()
        self.stem = nn.Sequential(SameConv(3, w, 3), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        blocks, cin = [], w
        for i, c in enumerate([w, 2 * w, 4 * w, 8 * w]):
            blocks += [BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*blocks)
        self.dim = 8 * w

    def forward(self, x):
        return self.layers(self.stem(x)).mean((2, 3))


def linear(cin, cout, bias=True):
    # nn.Linear's default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, as ours.
    return nn.Linear(cin, cout, bias=bias)


class Head(nn.Module):
    def __init__(self, cin, hidden, out):
        super().__init__()
        layers = []
        for wd in hidden:
            layers += [linear(cin, wd), nn.BatchNorm1d(wd), nn.ReLU(inplace=True)]
            cin = wd
        layers += [linear(cin, out, bias=False), nn.BatchNorm1d(out)]
        self.body = nn.Sequential(*layers)

    def forward(self, h):
        return self.body(h)


def nt_xent(z1, z2, tau):
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / tau - torch.eye(2 * b) * 1e9
    pos = (torch.arange(2 * b) + b) % (2 * b)
    return F.cross_entropy(logits, pos)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["convnet", "resnet18"], default="convnet")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--hidden", default="256")
    p.add_argument("--out", type=int, default=128)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=0.06)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    enc = ConvNet(a.width) if a.model == "convnet" else ResNet18(a.width)
    hidden = [int(s) for s in a.hidden.split(",") if s]
    head = Head(enc.dim, hidden, a.out)
    mean = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
    std = torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1)
    params = list(enc.parameters()) + list(head.parameters())
    decay = [q for q in params if q.ndim > 1]
    no_decay = [q for q in params if q.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a.lr,
        momentum=a.momentum,
    )
    g = torch.Generator().manual_seed(0)
    views = [torch.rand(a.batch, 3, 32, 32, generator=g) for _ in range(2)]

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        x = (torch.cat(views) - mean) / std
        z = head(enc(x))
        z1, z2 = z[: a.batch], z[a.batch :]
        loss = nt_xent(z1, z2, a.temperature)
        with torch.no_grad():
            pos_sim = (F.normalize(z1, dim=1) * F.normalize(z2, dim=1)).sum(1).mean()
        loss.backward()
        opt.step()
        value = loss.item()
        pos_sim.item()
        return (time.perf_counter() - t0) * 1000, value

    def send(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    send(
        {
            "ready": True,
            "backend": "pytorch",
            "threads": torch.get_num_threads(),
            "detail": f"torch {torch.__version__}, oneDNN {torch.backends.mkldnn.is_available()}",
            "parameters": sum(q.numel() for q in enc.parameters()) + sum(q.numel() for q in head.parameters()),
        }
    )
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd == "step":
            ms, loss = step()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            send({"ms": ms, "loss": loss, "peakRssMb": peak})
        else:
            send({"error": f"unknown command '{cmd}'"})


if __name__ == "__main__":
    main()
