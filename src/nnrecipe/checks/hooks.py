"""Instruments that watch a model run: gradients at each layer's output, ReLU activity.

They work on any `nn.Module`, including ReLUs called functionally (``F.relu``, ``x.relu()``),
through a `TorchFunctionMode`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from nnrecipe.checks.context import Context


class OutputGrads:
    """Record |dL/d out| of every call of a module that owns trainable parameters, in call
    order (a module called several times counts once per call: unrolled depth)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.handles: list[Any] = []
        self.calls: list[tuple[str, list[float]]] = []

    def __enter__(self) -> OutputGrads:
        for name, mod in self.model.named_modules():
            if any(p.requires_grad for p in mod.parameters(recurse=False)):
                self.handles.append(
                    mod.register_forward_hook(self._hook(name or type(mod).__name__))
                )
        return self

    def _hook(self, name: str) -> Any:
        def hook(mod: nn.Module, inp: Any, out: Any) -> None:
            if isinstance(out, Tensor) and out.requires_grad:
                slot: list[float] = []
                self.calls.append((name, slot))
                out.register_hook(lambda g: slot.append(float(g.detach().float().norm())))

        return hook

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()

    def norms(self) -> list[tuple[str, float]]:
        return [(name, slot[0] if slot else 0.0) for name, slot in self.calls]


# -- ReLU activity -------------------------------------------------------------------------------
class ReluRecorder(TorchFunctionMode):
    """Records, per ReLU-family call site (in call order), which units (dim 1) were ever > 0.
    Catches ``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()`` and ReLU6 alike."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: list[Tensor] = []
        self._i = 0

    def new_pass(self) -> None:
        self._i = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        is_relu = name in ("relu", "relu_", "relu6")
        if name in ("hardtanh", "hardtanh_"):
            lo = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
            is_relu = lo == 0
        if is_relu and isinstance(out, Tensor) and out.ndim >= 2 and out.shape[1] > 1:
            with torch.no_grad():
                alive = (out.detach() > 0).transpose(0, 1).reshape(out.shape[1], -1).any(1).cpu()
            if self._i < len(self.sites):
                if self.sites[self._i].shape == alive.shape:
                    self.sites[self._i] |= alive
            else:
                self.sites.append(alive)
            self._i += 1
        return out


def relu_activity(ctx: Context, model: nn.Module, batches: int = 4) -> list[Tensor]:
    """Per ReLU call site: a bool tensor of the units that were active on some sample."""
    rec = ReluRecorder()
    with torch.no_grad(), rec:
        for i in range(batches):
            rec.new_pass()
            xb, _ = ctx.batch(i)
            ctx.forward(model, xb)
    return rec.sites
