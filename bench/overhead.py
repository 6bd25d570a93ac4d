"""Seconds per epoch and µs per step that `Learner.fit` adds to a hand-written PyTorch loop.

The hand loop is the one a careful person writes: torch's default AdamW at a constant rate, no
clipping, ``loss.item()`` per step, a validation pass per epoch, over the same in-memory tensors.
nnrecipe runs twice: with its defaults (one-cycle schedule, clipping at 1, weight decay groups)
and with the hand loop's settings (constant rate, no clipping, torch's AdamW). Three workloads:

- ``linear``: Linear(10, 2), 100k rows, batch 64 (nearly pure per-step overhead);
- ``mlp``: MLP 784-256-256-10, 60k rows, batch 256;
- ``cnn``: the built-in CNN on MNIST-1D, batch 128 (compute-bound).

Runs are interleaved so that machine noise hits all loops alike; the per-round ratios are
what matters (goal: nnrecipe's defaults <= 1.05x the hand loop).

    python bench/overhead.py [--workloads linear,mlp,cnn] [--rounds 5] [--epochs 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

import nnrecipe as nr

LR = 3e-3


def linear_workload(rows: int) -> tuple[nr.Data, Callable[[], nn.Module], int]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows + 2000, 10, generator=g)
    y = (x[:, :3].sum(1) + 0.5 * torch.randn(len(x), generator=g) > 0).long()
    data = nr.Data.coerce((x[:rows], y[:rows], x[rows:], y[rows:]))
    return data, lambda: nn.Linear(10, 2), 64


def mlp_workload(rows: int) -> tuple[nr.Data, Callable[[], nn.Module], int]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(rows + 2000, 784, generator=g)
    w = torch.randn(784, 10, generator=g)
    y = (x @ w).argmax(1)
    data = nr.Data.coerce((x[:rows], y[:rows], x[rows:], y[rows:]))

    def model() -> nn.Module:
        return nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
        )

    return data, model, 256


def cnn_workload(name: str) -> tuple[nr.Data, Callable[[], nn.Module], int]:
    from nnrecipe.models import build_model

    data = nr.datasets.load(name)
    return data, lambda: build_model(None, data), 128


def hand_loop(data: nr.Data, make: Callable[[], nn.Module], epochs: int, batch: int) -> float:
    """The hand-written loop; returns seconds per epoch."""
    torch.manual_seed(0)
    model = make()
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    x, y = data.train.x, data.train.y
    xv, yv = data.valid.x, data.valid.y
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            xb, yb = x[idx], y[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(xv[i : i + 256]) for i in range(0, len(xv), 256)])
            _ = (F.cross_entropy(out, yv).item(), (out.argmax(1) == yv).float().mean().item())
    return (time.perf_counter() - t0) / epochs


def nnrecipe_fit(
    data: nr.Data, make: Callable[[], nn.Module], epochs: int, batch: int, *, defaults: bool
) -> float:
    torch.manual_seed(0)
    model = make()
    same = {} if defaults else {"schedule": "constant", "clip": None, "optimizer": _torch_adamw}
    learner = nr.Learner(
        model, data, batch_size=batch, threads=1, quiet=True, patience=None, lr=LR, **same
    )
    t0 = time.perf_counter()
    learner.fit(epochs)
    return (time.perf_counter() - t0) / epochs


def _torch_adamw(params: object) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=LR)  # type: ignore[arg-type]


def bench(name: str, workload: tuple, rounds: int, epochs: int) -> dict[str, float]:
    data, make, batch = workload
    steps = -(-len(data.train) // batch)
    loops = {
        "hand": lambda: hand_loop(data, make, epochs, batch),
        "nnrecipe defaults": lambda: nnrecipe_fit(data, make, epochs, batch, defaults=True),
        "nnrecipe same settings": lambda: nnrecipe_fit(data, make, epochs, batch, defaults=False),
    }
    hand_loop(data, make, 1, batch)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in loops}
    for r in range(rounds):
        for k, fn in loops.items():
            times[k].append(fn())
        print(
            f"  {name} round {r + 1}/{rounds}: "
            + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items())
        )
    hand = times["hand"]
    print(f"\n{name}: {len(data.train)} rows, batch {batch}, {steps} steps/epoch, {rounds} rounds")
    print(f"{'loop':<24}{'median s/epoch':>15}{'ratio (median)':>16}{'µs/step added':>15}")
    out = {}
    for k, v in times.items():
        ratio = statistics.median(a / b for a, b in zip(v, hand, strict=True))
        added = statistics.median((a - b) / steps * 1e6 for a, b in zip(v, hand, strict=True))
        out[k] = ratio
        print(f"{k:<24}{statistics.median(v):>15.3f}{ratio:>16.3f}{added:>15.1f}")
    print()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="linear,mlp,cnn")
    parser.add_argument("--data", default="mnist1d", help="data set of the cnn workload")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--linear-rows", type=int, default=100_000)
    parser.add_argument("--mlp-rows", type=int, default=60_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    makers = {
        "linear": lambda: linear_workload(args.linear_rows),
        "mlp": lambda: mlp_workload(args.mlp_rows),
        "cnn": lambda: cnn_workload(args.data),
    }
    summary = {}
    for name in args.workloads.split(","):
        summary[name] = bench(name, makers[name](), args.rounds, args.epochs)
    print("ratio to the hand loop (median of per-round ratios; goal for defaults <= 1.05):")
    for name, ratios in summary.items():
        print(f"  {name:<8}" + "  ".join(f"{k} {v:.3f}" for k, v in ratios.items() if k != "hand"))


if __name__ == "__main__":
    main()
