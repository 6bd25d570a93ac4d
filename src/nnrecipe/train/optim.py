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
from torch.optim.adam import adam

OptimizerFactory = Callable[[Any], torch.optim.Optimizer]


def adamw(lr: float = 3e-3, weight_decay: float = 1e-2) -> OptimizerFactory:
    """A factory ``params -> AdamW``. Given a module's parameters, 1-D tensors (biases, norm
    scales) get no weight decay: decaying them only hurts (they set offsets and scales)."""

    def factory(params: Iterable[Any]) -> torch.optim.Optimizer:
        params = list(params)
        if params and isinstance(params[0], dict):  # already param groups
            flat = [p for g in params for p in g["params"]]
            return AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused_supported(flat))
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return AdamW([g for g in groups if g["params"]], lr=lr, fused=fused_supported(params))

    factory.lr = lr  # type: ignore[attr-defined]
    factory.__name__ = f"adamw(lr={lr:g}, weight_decay={weight_decay:g})"
    return factory


# What parameter groups must share to be updated in one fused call.
_SHARED = (
    "lr",
    "betas",
    "eps",
    "amsgrad",
    "maximize",
    "foreach",
    "capturable",
    "differentiable",
    "fused",
    "decoupled_weight_decay",
)


class AdamW(torch.optim.AdamW):
    """torch's AdamW, whose fused parameter groups that differ only in weight decay (the decay /
    no-decay split) are updated in one kernel call: the decoupled decay first, as AdamW does
    (``p <- p * (1 - lr * wd)``), then one fused Adam update of every group. The same update
    as `torch.optim.AdamW`, with one pass of its per-group Python instead of two. Measured on
    this machine (1 thread, Linear(10, 2), batch 64, clipped): 202 µs a step with two fused
    groups, 172 µs with one."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        groups, head = self.param_groups, self.param_groups[0]
        if (
            closure is not None
            or len(groups) == 1
            or not head["fused"]
            or getattr(self, "found_inf", None) is not None  # GradScaler: a step may be skipped
            or not self._mergeable(groups)
        ):
            return super().step(closure)
        lists: tuple[list[Any], ...] = ([], [], [], [], [], [])
        has_complex = False
        for g in groups:
            start = len(lists[0])
            has_complex |= self._init_group(g, *lists)
            if g["weight_decay"] and len(lists[0]) > start:
                torch._foreach_mul_(lists[0][start:], 1 - g["lr"] * g["weight_decay"])
        beta1, beta2 = head["betas"]
        adam(
            *lists,
            amsgrad=head["amsgrad"],
            has_complex=has_complex,
            beta1=beta1,
            beta2=beta2,
            lr=head["lr"],
            weight_decay=0.0,
            eps=head["eps"],
            maximize=head["maximize"],
            foreach=head["foreach"],
            capturable=head["capturable"],
            differentiable=head["differentiable"],
            fused=True,
            grad_scale=getattr(self, "grad_scale", None),
            found_inf=None,
            decoupled_weight_decay=True,
        )
        return None

    def _mergeable(self, groups: list[dict[str, Any]]) -> bool:
        # The schedule sets every group's lr each step: compared each time; the other shared
        # settings are compared again only when the list of groups changes.
        key = tuple(id(g) for g in groups)
        if getattr(self, "_merge_key", None) != key:
            static = [k for k in _SHARED if k != "lr"]
            self._merge_ok = all(g[k] == groups[0][k] for g in groups[1:] for k in static)
            self._merge_key = key
        return self._merge_ok and all(g["lr"] == groups[0]["lr"] for g in groups[1:])


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
