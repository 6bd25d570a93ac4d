"""The records a `Recorder` keeps, and the small helpers its hooks share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

# Fingerprints kept per evaluation phase, and runs of evaluation passes kept in full.
MAX_FINGERPRINTS = 8192
MAX_PHASES = 2000
MAX_SERIES = 5000  # sampled loss / gradient-norm values kept (then every other one is dropped)
DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
BATCHNORM = nn.modules.batchnorm._BatchNorm


@dataclass
class OptRecord:
    """One optimizer that updates parameters of the watched model."""

    index: int
    name: str
    optimizer: Any
    probe: Tensor | None
    probe_name: str
    param_ids: set[int]
    steps: int = 0
    scaler_steps: int = 0
    observing: bool = True
    window: list[bool] = field(default_factory=list)  # per backward: probe grad was cleared
    windows: list[tuple[int, int, int]] = field(default_factory=list)  # (step, backwards, clears)
    lrs: list[tuple[int, float]] = field(default_factory=list)  # (own step, lr) on change
    first_global_step: int = 0
    closure_steps: bool = False  # its step() runs the closure's backward passes (LBFGS)


@dataclass
class Phase:
    """A run of evaluation-like passes (no grad, or no backward after them) between training."""

    step: int  # optimizer steps before it
    passes: int = 0
    no_grad: int = 0
    train_mode: int = 0  # passes with dropout/BatchNorm in training mode
    modules_in_train: list[str] = field(default_factory=list)
    fingerprints: list[Tensor] = field(default_factory=list)
    samples: int = 0
    fp_module: int | None = None


@torch.no_grad()
def fingerprint(x: Tensor | None, cache: dict[tuple[int, str], Tensor]) -> Tensor | None:
    """Each sample's input projected on a fixed random direction: equal inputs give equal
    numbers, a flipped, cropped or noised input a different one. (N,) on the CPU."""
    if x is None or x.ndim < 1 or x.numel() == 0:
        return None
    flat = x.detach().reshape(len(x), -1).float()
    key = (flat.shape[1], str(flat.device))
    w = cache.get(key)
    if w is None:
        # A private generator: the loop's random numbers are untouched.
        gen = torch.Generator().manual_seed(flat.shape[1])
        w = torch.rand(flat.shape[1], generator=gen, dtype=torch.float64).to(flat.device)
        w = (w * 2 - 1).float()
        cache[key] = w
    return (flat @ w).cpu()


def is_initial_step(sched: Any) -> bool:
    """The step a scheduler's constructor takes (``_is_initial`` since torch 2.6; before, the
    step count is still 0 during it)."""
    return bool(getattr(sched, "_is_initial", False)) or getattr(sched, "_step_count", 1) == 0


def unfrozen(m: nn.Module) -> bool:
    return isinstance(m, DROPOUT) or all(p.requires_grad for p in m.parameters())


def subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *subclasses(sub)]
    return out


def lr_of(sched: Any) -> float | None:
    try:
        return float(sched.optimizer.param_groups[0]["lr"])
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def first_tensor(obj: Any) -> Tensor | None:
    """The first tensor in a model's arguments or output (tensor, tuple/list, dict)."""
    if isinstance(obj, Tensor):
        return obj
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list | tuple) else ()
    for item in items:
        if isinstance(item, Tensor):
            return item
    return None


def append_bounded(series: list[tuple[int, float]], item: tuple[int, float]) -> None:
    """Keep a sampled series bounded: past MAX_SERIES values, drop every other one."""
    series.append(item)
    if len(series) > MAX_SERIES:
        del series[::2]
