"""Training samples per second on the accelerator at hand: the built-in models through
`Learner.fit` and a hand-written loop, in fp32 and bf16, with and without ``torch.compile``.

Each figure is the second epoch of a two-epoch fit on synthetic in-memory data (the first one
warms up and compiles); ratios are to the hand loop in fp32. On a machine without a GPU it says
so and exits 0; ``--device cpu`` measures the CPU instead.

    python bench/device.py [--device cuda] [--samples 8192] [--models linear,mlp,cnn1d,cnn2d]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

import nnrecipe as nr
from nnrecipe.models import build_model

# Input shape and classes of each model's synthetic data.
SHAPES = {"linear": (784,), "mlp": (784,), "cnn1d": (1, 40), "cnn2d": (3, 32, 32)}


def accelerator() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return None


def synthetic(shape: tuple[int, ...], n: int) -> nr.Data:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n + 1024, *shape, generator=g)
    y = torch.randint(0, 10, (n + 1024,), generator=g)
    y[:10] = torch.arange(10)  # every class present
    return nr.Data.coerce((x[:n], y[:n], x[n:], y[n:]))


def fresh(name: str, data: nr.Data) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, data)


def hand(model: torch.nn.Module, data: nr.Data, device: str, batch: int, bf16: bool) -> float:
    """Samples per second of a hand-written loop's second epoch (steps and validation)."""
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = data.train.x.to(device), data.train.y.to(device)
    seconds = 0.0
    for _ in range(2):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()  # a validation pass, as Learner.fit's epochs have
        with (
            torch.no_grad(),
            torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16),
        ):
            xv = data.valid.x.to(device)
            float(torch.cat([model(xv[i : i + 256]) for i in range(0, len(xv), 256)]).sum())
        model.train()
        float(loss.detach())  # wait for the device
        seconds = time.perf_counter() - t0
    return len(x) / seconds


def learner(
    model: torch.nn.Module, data: nr.Data, device: str, batch: int, **opts: object
) -> float:
    """Samples per second of `Learner.fit`'s second epoch (training steps and validation)."""
    threads = 1 if device == "cpu" else None
    fit = nr.Learner(
        model,
        data,
        device=device,
        batch_size=batch,
        threads=threads,
        quiet=True,
        patience=None,
        **opts,  # type: ignore[arg-type]
    )
    history = fit.fit(2)
    return len(data.train) / history[-1]["seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: the GPU (or MPS) at hand")
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--models", default="linear,mlp,cnn1d,cnn2d")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled variants")
    args = parser.parse_args()
    device = args.device or accelerator()
    if device is None:
        print("no GPU (CUDA or MPS) found: nothing to measure; --device cpu measures the CPU")
        return 0
    if device == "cpu":
        torch.set_num_threads(1)
    variants = [("fp32", False), ("bf16", False)]
    if not args.no_compile:
        variants += [("fp32", True), ("bf16", True)]
    name = torch.cuda.get_device_name() if device == "cuda" else device
    print(f"device: {name}, {args.samples} samples, batch {args.batch_size}\n")
    header = f"{'model':<8}{'loop':<22}{'samples/s':>12}{'ratio':>8}"
    print(header)
    for model_name in args.models.split(","):
        data = synthetic(SHAPES[model_name], args.samples)

        base = hand(fresh(model_name, data), data, device, args.batch_size, bf16=False)
        print(f"{model_name:<8}{'hand fp32':<22}{base:>12.0f}{1.0:>8.2f}")
        bf = hand(fresh(model_name, data), data, device, args.batch_size, bf16=True)
        print(f"{model_name:<8}{'hand bf16':<22}{bf:>12.0f}{bf / base:>8.2f}")
        for precision, compiled in variants:
            label = f"nnrecipe {precision}" + (" compile" if compiled else "")
            try:
                rate = learner(
                    fresh(model_name, data),
                    data,
                    device,
                    args.batch_size,
                    precision=precision,
                    compile=compiled,
                )
            except Exception as e:  # noqa: BLE001 - e.g. no C++ compiler for torch.compile
                print(f"{model_name:<8}{label:<22}  failed: {type(e).__name__}: {str(e)[:60]}")
                continue
            print(f"{model_name:<8}{label:<22}{rate:>12.0f}{rate / base:>8.2f}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
