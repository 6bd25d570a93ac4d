"""Where the data of a training run lives, and the memory layout of conv nets on a GPU.

In-memory splits are moved to the training device once, before the first epoch, when they take
at most `DEVICE_DATA_FRACTION` of the device's free memory: every batch is then sliced on the
device, with no host-to-device copy per step. On the CPU nothing moves. Streamed splits read
batches into pinned (page-locked) host memory on CUDA, so their copies to the device are
asynchronous (``non_blocking=True`` does nothing for pageable memory).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nnrecipe.data.batch import batch_to, tensors_of
from nnrecipe.data.split import Split

# In-memory data goes to the device when it fits in this fraction of the free device memory.
DEVICE_DATA_FRACTION = 0.5


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device (None elsewhere: unknown)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return None


def split_bytes(split: Split) -> int:
    x, y = split.x, split.y
    return sum(t.numel() * t.element_size() for t in [*tensors_of(x), y])  # type: ignore[arg-type, list-item]


def place_split(split: Split, device: torch.device) -> tuple[Split, str | None]:
    """`split` with its tensors on `device` when it is in memory and fits; and a sentence
    saying what moved (None when nothing did)."""
    if device.type == "cpu" or not split.in_memory:
        return split, None
    size = split_bytes(split)
    free = free_memory(device)
    if free is not None and size > DEVICE_DATA_FRACTION * free:
        return split, (
            f"the training data ({size / 2**20:.0f} MB) stays on the CPU: it does not fit in "
            f"half of the {free / 2**20:.0f} MB free on {device}"
        )
    x = batch_to(split.x, device)  # type: ignore[arg-type]
    y = split.y.to(device)  # type: ignore[union-attr]
    return (
        Split(x, y, index=split.index),
        f"the training data ({size / 2**20:.1f} MB) moved to {device} once",
    )


def wants_channels_last(model: nn.Module, device: torch.device) -> bool:
    """channels_last pays off for 2-d conv nets on CUDA (tensor cores); never on the CPU, where
    it would change the kernels and the results."""
    return device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules())


def to_channels_last(x: Any) -> Any:
    """4-d input tensors in channels_last memory format (others unchanged)."""
    if isinstance(x, torch.Tensor):
        return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
    if isinstance(x, dict):
        return {k: to_channels_last(v) for k, v in x.items()}
    return tuple(to_channels_last(v) for v in x)
