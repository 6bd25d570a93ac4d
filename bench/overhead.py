"""Seconds per epoch: `Learner.fit` vs a hand-written PyTorch loop on the same in-memory tensors
(same model, optimizer, schedule, clipping, batch size, per-epoch validation), and vs the same
hand-written loop over a `DataLoader(TensorDataset)`. Runs are interleaved so that machine noise
hits all three alike; the ratios are what matters.

    python bench/overhead.py [--data mnist1d] [--rounds 5] [--epochs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.train.schedule import lr_factor


def make_model(data: nr.Data) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(None, data)


def optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 1e-2}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )


def hand_loop(data: nr.Data, epochs: int, batch_size: int, loader: bool) -> float:
    """The loop a careful person writes by hand; returns seconds per epoch."""
    model, lr = make_model(data), 3e-3
    opt = optimizer(model, lr)
    x, y = data.train.x, data.train.y
    xv, yv = data.valid.x, data.valid.y
    steps = epochs * -(-len(x) // batch_size)
    gen = torch.Generator().manual_seed(0)
    dl = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=gen)
    step = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        if loader:
            batches = iter(dl)
        else:
            perm = torch.randperm(len(x), generator=gen)
            batches = (
                (x[perm[i : i + batch_size]], y[perm[i : i + batch_size]])
                for i in range(0, len(x), batch_size)
            )
        total = 0.0
        for xb, yb in batches:
            for g in opt.param_groups:
                g["lr"] = lr * lr_factor("one-cycle", step, steps)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
            opt.step()
            total += loss.item() * len(xb)
            step += 1
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(xv[i : i + 256]) for i in range(0, len(xv), 256)])
            _ = (F.cross_entropy(out, yv).item(), (out.argmax(1) == yv).float().mean().item())
    return (time.perf_counter() - t0) / epochs


def nnrecipe_fit(data: nr.Data, epochs: int, batch_size: int) -> float:
    model = make_model(data)
    learner = nr.Learner(model, data, batch_size=batch_size, threads=1, quiet=True, patience=None)
    t0 = time.perf_counter()
    learner.fit(epochs)
    return (time.perf_counter() - t0) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist1d")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = nr.datasets.load(args.data)
    times: dict[str, list[float]] = {"nnrecipe": [], "hand (tensors)": [], "hand (DataLoader)": []}
    hand_loop(data, 1, args.batch_size, loader=False)  # warm-up
    for r in range(args.rounds):
        times["nnrecipe"].append(nnrecipe_fit(data, args.epochs, args.batch_size))
        times["hand (tensors)"].append(hand_loop(data, args.epochs, args.batch_size, loader=False))
        times["hand (DataLoader)"].append(
            hand_loop(data, args.epochs, args.batch_size, loader=True)
        )
        print(
            f"round {r + 1}/{args.rounds}: "
            + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items())
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [a / b for a, b in zip(times["nnrecipe"], times["hand (tensors)"], strict=True)]
    print(
        f"\n{args.data}, {args.rounds} interleaved rounds of {args.epochs} epochs, batch {args.batch_size}, 1 thread"
    )
    print(f"{'loop':<20}{'median s/epoch':>16}{'ratio to hand (tensors)':>26}")
    for k, v in med.items():
        print(f"{k:<20}{v:>16.3f}{v / med['hand (tensors)']:>26.3f}")
    print(
        f"per-round ratio nnrecipe / hand (tensors): median {statistics.median(ratios):.3f}, "
        f"min {min(ratios):.3f}, max {max(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
