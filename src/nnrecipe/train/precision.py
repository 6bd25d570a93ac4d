"""Numeric precision of training: fp32 (the default), bf16 or fp16 autocast.

``bf16`` runs the forward pass and the loss under `torch.autocast` in bfloat16 (CPU and CUDA);
``fp16`` does the same in float16 with a `GradScaler`, which scales the loss so that small
gradients survive float16 and skips a step whose gradients overflowed. The weights and the
optimizer state stay in fp32 in every case. fp32 adds nothing to the step (no context at all).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from nnrecipe.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"Unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    return precision


def autocast(precision: str, device: torch.device) -> Any:
    """The context the forward pass and the loss run in."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16, None otherwise (bf16 has fp32's range: nothing to scale)."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)
