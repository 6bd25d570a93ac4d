"""Checkpoints: one safetensors file per checkpoint, JSON state in its metadata, written to a
temporary name and renamed, so a kill at any moment leaves the previous checkpoint intact.

Nothing is ever unpickled: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from nnrecipe.errors import TrainingError


def save_tensors(
    path: Path, tensors: dict[str, Tensor], meta: dict[str, Any] | None = None
) -> None:
    """Save tensors (+ JSON metadata) atomically as safetensors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        save_file(flat, tmp, metadata={"nnrecipe": json.dumps(meta or {})})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Load tensors and the JSON metadata written by `save_tensors`."""
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("nnrecipe", "{}"))
    except Exception as e:
        raise TrainingError(
            f"Cannot read checkpoint {str(path)!r} ({e}): it is missing or damaged."
        ) from e
    return tensors, meta


def model_state(model: torch.nn.Module) -> dict[str, Tensor]:
    # Tied weights appear twice in state_dict; safetensors refuses shared storage, so clone.
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimizer's state_dict split into tensors (for safetensors) and JSON."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{idx}.{k}"] = v
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(
    opt: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    for key, v in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_model(path: Path, model: torch.nn.Module, meta: dict[str, Any] | None = None) -> None:
    """Save a model's weights (state_dict) as safetensors, atomically."""
    save_tensors(path, model_state(model), meta)


def load_model(path: Path, model: torch.nn.Module) -> dict[str, Any]:
    """Load weights saved by `save_model` into `model`; returns the metadata."""
    tensors, meta = load_tensors(path)
    model.load_state_dict(tensors)
    return meta
