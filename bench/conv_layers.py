#!/usr/bin/python3
"""PyTorch side of the "conv-layers" benchmark (run by bench/run.ts with Debian's /usr/bin/python3).

One convolution layer in NCHW, as PyTorch trains it: the forward conv, and the backward pass of
that conv (input and filter gradients together, through autograd's convolution_backward), timed
per call. Padding k//2 on each side gives the same output size and work as TensorFlow's 'same'.

Protocol: `layer H CI CO K S ROUNDS` -> {"fwd": ms, "bwd": ms}; `quit`.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F


def median(v):
    return sorted(v)[len(v) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(json.dumps({"ready": True, "detail": f"torch {torch.__version__}, oneDNN {torch.backends.mkldnn.is_available()}"}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        try:
            h, ci, co, k, s, rounds = (int(p) for p in parts[1:7])
            x = torch.rand(a.batch, ci, h, h) * 2 - 1
            w = torch.rand(co, ci, k, k) * 2 - 1
            x.requires_grad_(True)
            w.requires_grad_(True)
            dy = torch.rand(a.batch, co, -(-h // s), -(-h // s)) * 2 - 1
            fwd, bwd = [], []
            for r in range(-2, rounds):
                t0 = time.perf_counter()
                y = F.conv2d(x, w, None, s, k // 2)
                t1 = time.perf_counter()
                gx, gw = torch.autograd.grad(y, (x, w), dy)
                t2 = time.perf_counter()
                if r >= 0:
                    fwd.append((t1 - t0) * 1000)
                    bwd.append((t2 - t1) * 1000)
                del y, gx, gw
            print(json.dumps({"fwd": median(fwd), "bwd": median(bwd)}), flush=True)
        except Exception as e:  # noqa: BLE001 - reported to the parent, which names the layer
            print(json.dumps({"error": str(e)}), flush=True)


if __name__ == "__main__":
    main()
