"""Checkpoints: one safetensors file per checkpoint, JSON state in its metadata, written to a
temporary name and renamed, so a kill at any moment leaves the previous checkpoint intact.

Nothing is ever unpickled: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import json
import os
import re
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
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        code = re.search(r"os error (\d+)", str(e))
        if code and not isinstance(e, OSError):  # safetensors' own error for a full disk
            number = int(code.group(1))
            raise OSError(number, os.strerror(number), str(path)) from None
        raise


def load_tensors(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Load tensors and the JSON metadata written by `save_tensors`."""
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("nnrecipe", "{}"))
    except Exception as e:
        raise damaged(path, f"{type(e).__name__}: {str(e)[:100]}") from None
    if not isinstance(meta, dict):
        raise damaged(path, f"its metadata is a JSON {type(meta).__name__}, not an object")
    return tensors, meta


def damaged(path: Path, why: str) -> TrainingError:
    """One sentence for a checkpoint that cannot be resumed from (the folder is kept)."""
    if Path(path).name != "last.safetensors":
        return TrainingError(
            f"The weights file {str(path)!r} is damaged ({why}): rerun the run that wrote it."
        )
    best = Path(path).parent / "best.safetensors"
    return TrainingError(
        f"Checkpoint {str(path)!r} is damaged ({why}): restart the run with --overwrite; the "
        f"best weights so far are kept in {str(best)!r}."
    )


# The metadata of a `last` checkpoint and the JSON type of each entry.
_META = {
    "epoch": int,
    "history": list,
    "bad_epochs": int,
    "optimizer": dict,
    "python_random": list,
    "threads": int,
    "signature": dict,
}


def check_resumable(
    path: Path,
    tensors: dict[str, Tensor],
    meta: dict[str, Any],
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
) -> None:
    """Check every tensor of a `last` checkpoint (names, shapes, dtypes) against the model and
    the optimizer, and its metadata, before anything is loaded; a mismatch raises one sentence
    naming the file."""
    for key, kind in _META.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            got = "missing" if key not in meta else type(meta[key]).__name__
            raise damaged(path, f"metadata {key!r} is {got}, expected {kind.__name__}")
    for key in ("best_epoch", "best_score", "best_loss"):
        if key not in meta or not isinstance(meta[key], int | float | type(None)):
            raise damaged(path, f"metadata {key!r} is missing or not a number")
    opt_meta = meta["optimizer"]
    if not isinstance(opt_meta.get("param_groups"), list) or not isinstance(
        opt_meta.get("scalars"), dict
    ):
        raise damaged(path, "the optimizer's metadata has no param_groups or scalars")
    groups = opt.state_dict()["param_groups"]
    if len(opt_meta["param_groups"]) != len(groups) or any(
        not isinstance(g, dict) or sorted(g.get("params", [])) != sorted(h["params"])
        for g, h in zip(opt_meta["param_groups"], groups, strict=False)
    ):
        raise damaged(path, "its optimizer parameter groups do not match the model's")
    rnd = meta["python_random"]
    if len(rnd) != 3 or not isinstance(rnd[1], list) or len(rnd[1]) != 625:
        raise damaged(path, "the Python random state is malformed")
    want = {f"{p}.{k}": v for p in ("model", "best") for k, v in model.state_dict().items()}
    want["rng.torch"] = torch.get_rng_state()
    want["rng.shuffle"] = torch.Generator().get_state()
    for key, ref in want.items():
        got = tensors.get(key)
        if got is None:
            raise damaged(path, f"tensor {key!r} is missing")
        if got.dtype != ref.dtype or tuple(got.shape) != tuple(ref.shape):
            raise damaged(
                path,
                f"tensor {key!r} is {got.dtype} {tuple(got.shape)}, the model needs "
                f"{ref.dtype} {tuple(ref.shape)}",
            )
    params = [p for g in opt.param_groups for p in g["params"]]  # state_dict numbers them so
    index = {i: i for i in range(len(params))}
    rng_shape = tuple(want["rng.torch"].shape)
    for key, got in tensors.items():
        if key in want:
            continue
        if key.startswith("rng.torch.") and key[len("rng.torch.") :].isdigit():
            # Another process's torch random state (data-parallel runs, one per rank).
            if got.dtype != torch.uint8 or tuple(got.shape) != rng_shape:
                raise damaged(path, f"tensor {key!r} is not a torch random state")
            continue
        parts = key.split(".", 2)
        if parts[0] != "optim" or len(parts) != 3 or not parts[1].isdigit():
            raise damaged(path, f"tensor {key!r} is not one nnrecipe writes")
        i = int(parts[1])
        if i not in index:
            raise damaged(path, f"tensor {key!r} names optimizer parameter {i}, which is absent")
        param = params[index[i]]
        if got.ndim != 0 and (tuple(got.shape) != tuple(param.shape) or got.dtype != param.dtype):
            raise damaged(
                path,
                f"tensor {key!r} is {got.dtype} {tuple(got.shape)}, the parameter is "
                f"{param.dtype} {tuple(param.shape)}",
            )
        if got.ndim == 0 and not got.dtype.is_floating_point and got.dtype != torch.int64:
            raise damaged(path, f"tensor {key!r} has dtype {got.dtype}")
    for key in opt_meta["scalars"]:
        idx = str(key).split(".", 1)[0]
        if not idx.isdigit() or int(idx) not in index:
            raise damaged(path, f"optimizer scalar {key!r} names no parameter")


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
