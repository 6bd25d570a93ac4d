"""The default optimizer: AdamW, no weight decay on biases and normalisation parameters.

It runs torch's fused kernel wherever torch has one for the parameters (CPU and CUDA, floating
point): one kernel per step instead of a Python loop over the parameters. Measured on this
machine (1 thread): Linear(10, 2) at batch 64 took 179 µs a step with the default (for-loop)
AdamW, 143 µs fused; the foreach variant was slower on CPU (222 µs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

OptimizerFactory = Callable[[Any], torch.optim.Optimizer]


def adamw(lr: float = 3e-3, weight_decay: float = 1e-2) -> OptimizerFactory:
    """A factory ``params -> AdamW``. Given a module's parameters, 1-D tensors (biases, norm
    scales) get no weight decay: decaying them only hurts (they set offsets and scales)."""

    def factory(params: Iterable[Any]) -> torch.optim.Optimizer:
        params = list(params)
        if params and isinstance(params[0], dict):  # already param groups
            flat = [p for g in params for p in g["params"]]
            return torch.optim.AdamW(
                params, lr=lr, weight_decay=weight_decay, fused=fused_supported(flat)
            )
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=lr, fused=fused_supported(params)
        )

    factory.lr = lr  # type: ignore[attr-defined]
    factory.__name__ = f"adamw(lr={lr:g}, weight_decay={weight_decay:g})"
    return factory


def fused_supported(params: list[Any]) -> bool | None:
    """True when torch has a fused AdamW kernel for all `params`; None (torch's own default)
    otherwise, e.g. on MPS or for non-float parameters."""
    try:
        from torch.optim.optimizer import _device_dtype_check_for_fused

        for p in params:
            _device_dtype_check_for_fused(p)
    except (ImportError, RuntimeError):
        return None
    return True if params else None


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
