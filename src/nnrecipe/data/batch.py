"""The batch type: inputs that are one tensor, a tuple of tensors or a dict of tensors.

A batch is ``(x, y)``. `x` is a tensor for images, signals and plain tables, a tuple for pairs
of samples (Siamese nets) and a dict for named inputs (categorical + continuous columns, user +
item ids). Every place that slices, moves or concatenates inputs goes through the few helpers
here, so the training loop never changes for a new input shape.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

Inputs = Tensor | tuple[Tensor, ...] | dict[str, Tensor]


def _apply(x: Any, fn: Any) -> Any:
    if isinstance(x, Tensor):
        return fn(x)
    if isinstance(x, dict):
        return {k: fn(v) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return tuple(fn(v) for v in x)
    raise TypeError(f"inputs must be a tensor, a tuple or a dict of tensors, got {type(x)}")


def first_tensor(x: Inputs) -> Tensor:
    """The first tensor of the inputs (the one whose first dimension is the batch)."""
    if isinstance(x, Tensor):
        return x
    values = list(x.values()) if isinstance(x, dict) else list(x)
    return values[0]


def batch_len(x: Inputs) -> int:
    """Number of samples in a batch of inputs."""
    return int(first_tensor(x).shape[0])


def batch_take(x: Inputs, idx: Tensor | slice) -> Inputs:
    """The samples `idx` (an index tensor or a slice) of every input tensor."""
    return _apply(x, lambda t: t[idx])


def batch_to(x: Inputs, device: torch.device | str, *, non_blocking: bool = False) -> Inputs:
    """Every input tensor moved to `device`."""
    return _apply(x, lambda t: t.to(device, non_blocking=non_blocking))


def batch_cat(parts: list[Any]) -> Any:
    """Concatenate batches of inputs along the sample dimension."""
    head = parts[0]
    if isinstance(head, Tensor):
        return torch.cat(parts)
    if isinstance(head, dict):
        return {k: torch.cat([p[k] for p in parts]) for k in head}
    return tuple(torch.cat([p[i] for p in parts]) for i in range(len(head)))


def sample_shape(x: Inputs) -> Any:
    """The shape of one sample: a tuple, or a tuple / dict of shapes for multi-tensor inputs."""
    if isinstance(x, Tensor):
        return tuple(x.shape[1:])
    if isinstance(x, dict):
        return {k: tuple(v.shape[1:]) for k, v in x.items()}
    return tuple(tuple(v.shape[1:]) for v in x)


def describe_shape(x: Inputs) -> str:
    """Shapes for error messages: ``(32, 1, 8, 8)`` or ``{user: (32,), item: (32,)}``."""
    if isinstance(x, Tensor):
        return str(tuple(x.shape))
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {tuple(v.shape)}" for k, v in x.items()) + "}"
    return "(" + ", ".join(str(tuple(v.shape)) for v in x) + ")"


def tensors_of(x: Inputs) -> list[Tensor]:
    """The input tensors as a list (for hashing, checks over every input, ...)."""
    if isinstance(x, Tensor):
        return [x]
    return list(x.values()) if isinstance(x, dict) else list(x)


def call_model(model: Any, x: Inputs) -> Any:
    """``model(x)`` for a tensor, ``model(*x)`` for a tuple, ``model(**x)`` for a dict."""
    if isinstance(x, Tensor):
        return model(x)
    if isinstance(x, dict):
        return model(**x)
    return model(*x)


def batch_zeros(x: Inputs) -> Inputs:
    """Inputs of the same shapes with every floating tensor zeroed (integer ids kept)."""
    return _apply(x, lambda t: torch.zeros_like(t) if t.is_floating_point() else t)
