"""The default optimizer: AdamW, no weight decay on biases and normalisation parameters."""

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
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)

    factory.lr = lr  # type: ignore[attr-defined]
    factory.__name__ = f"adamw(lr={lr:g}, weight_decay={weight_decay:g})"
    return factory


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
