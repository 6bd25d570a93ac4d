"""Data from torch Datasets (image folders: `folder.py`; CSV tables: `table.py`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from nnrecipe.data.core import Data, _assemble, split_indices
from nnrecipe.data.split import Split
from nnrecipe.errors import DataError

# Data sets below this many bytes (as float32 tensors) are loaded into memory; larger ones stream.
IN_MEMORY_BYTES = 2 * 1024**3


def from_datasets(
    train: Any,
    valid: Any = None,
    test: Any = None,
    *,
    valid_fraction: float = 0.2,
    seed: int = 0,
    task: str | None = None,
    modality: str | None = None,
    classes: list[str] | None = None,
    name: str = "datasets",
    in_memory: bool | None = None,
) -> Data:
    """Data from torch `Dataset`s yielding (x, y). Without `valid`, a seeded stratified
    fraction of `train` becomes valid. Small sets are materialised into tensors; pass
    ``in_memory=False`` to stream them through a DataLoader instead."""
    if train is None or len(train) == 0:
        raise DataError("The training Dataset is empty: it must yield at least one (x, y) pair.")
    x0, _ = _first_pair(train)
    total = sum(len(d) for d in (train, valid, test) if d is not None)
    if in_memory is None:
        in_memory = total * x0.numel() * 4 <= IN_MEMORY_BYTES
    parts = {"train": train, "valid": valid, "test": test}
    if in_memory:
        tensors = {k: _materialise(d, k) for k, d in parts.items() if d is not None}
        if valid is None:
            x, y = tensors.pop("train")
            labels = None if torch.is_floating_point(y) and task != "classification" else y.numpy()
            idx = split_indices(len(x), labels, valid=valid_fraction, test=0.0, seed=seed)
            tensors["train"] = (x[idx["train"]], y[idx["train"]])
            tensors["valid"] = (x[idx["valid"]], y[idx["valid"]])
        splits = {k: Split(x, y, index=torch.arange(len(x))) for k, (x, y) in tensors.items()}
    else:
        if valid is None:
            from torch.utils.data import Subset

            gen = torch.Generator().manual_seed(seed)
            perm = torch.randperm(len(train), generator=gen)
            n_valid = max(1, round(valid_fraction * len(train)))
            parts["valid"] = Subset(train, perm[:n_valid].tolist())
            parts["train"] = Subset(train, perm[n_valid:].tolist())
        splits = {k: Split(dataset=d) for k, d in parts.items() if d is not None}
        if task is None:
            y_probe = splits["train"].tensors(max_samples=2048)[1]
            task = "regression" if torch.is_floating_point(y_probe) else "classification"
        _attach_probe_targets(splits)
    return _assemble(
        splits,
        task=task,
        loss=None,
        modality=modality,
        classes=classes,
        feature_names=None,
        name=name,
        meta={"source": name, "in_memory": bool(in_memory)},
    )


def _first_pair(ds: Any) -> tuple[Tensor, Tensor]:
    try:
        item = ds[0]
        x, y = item[0], item[1]
    except Exception as e:
        raise DataError(
            f"The Dataset's first item could not be read as (x, y): {e}. Each item must be a pair."
        ) from e
    return torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(y))


def _materialise(ds: Any, name: str) -> tuple[Tensor, Tensor]:
    from torch.utils.data import DataLoader

    if len(ds) == 0:
        raise DataError(f"The {name} Dataset is empty: it must yield at least one (x, y) pair.")
    xs, ys = [], []
    for xb, yb in DataLoader(ds, batch_size=512):
        xs.append(torch.as_tensor(xb))
        ys.append(torch.as_tensor(yb))
    x, y = torch.cat(xs), torch.cat(ys)
    return (x.float() if torch.is_floating_point(x) else x), y


def _attach_probe_targets(splits: dict[str, Split]) -> None:
    # Streamed splits keep their Dataset; targets are small, so hold them in memory for
    # task inference, stratification checks and baselines.
    for s in splits.values():
        s.targets()
