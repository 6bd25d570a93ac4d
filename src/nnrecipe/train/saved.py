"""One way to rebuild a run's model (and data) from its folder.

`diagnose --evaluate`, learning curves, ensembles and loading a run all come through here. A
run trained with the user's own model (``nr.run(model=...)``) or the user's own data records
so in its folder; rebuilding it without them says what to pass instead of quietly building a
built-in model in its place.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from torch import nn

from nnrecipe.config import make_config
from nnrecipe.data import Data
from nnrecipe.data.resolve import resolve_data
from nnrecipe.errors import ConfigError, ModelError
from nnrecipe.io import read_json
from nnrecipe.models import build_model
from nnrecipe.train.checkpoint import load_tensors

# The names a checkpoint's "model" metadata takes for a model nnrecipe cannot build itself.
USER_MODEL_NAMES = ("user", "custom")


def run_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's config.json, validated."""
    saved = read_json(Path(run_dir) / "config.json", what="run config")
    if not isinstance(saved.get("config"), dict):
        raise ConfigError(
            f"The run config {str(Path(run_dir) / 'config.json')!r} has no 'config' settings: "
            "it is damaged; rerun the run."
        )
    return saved


def run_data(run_dir: Path, data: Any = None) -> Data:
    """The data a run trained on: `data` when given, else the data its config names."""
    if data is not None:
        return Data.coerce(data)
    saved = run_config(run_dir)
    if saved.get("user_data"):
        raise ConfigError(
            f"The run {str(run_dir)!r} used your own data: pass data=... (the same nr.Data) "
            "to rebuild it."
        )
    return resolve_data(make_config(saved["config"]))


def build_from_meta(meta: dict[str, Any], data: Data, model: Any = None) -> nn.Module:
    """A model in its initial state as the checkpoint metadata `meta` describes it: the
    built-in one it names, or the user's `model` (an nn.Module or ``fn(data) -> nn.Module``)."""
    name = meta.get("model")
    if model is not None:
        built = copy.deepcopy(model) if isinstance(model, nn.Module) else model(data)
        if not isinstance(built, nn.Module):
            raise ModelError(
                f"model= gave {type(built).__name__}, not a torch.nn.Module: pass the module "
                "or a function data -> nn.Module."
            )
        return built
    if name in USER_MODEL_NAMES:
        raise ModelError(
            "This run used your own model: pass model=... (your nn.Module in its initial "
            "state, or a function data -> nn.Module) to rebuild it."
        )
    return build_model(name, data, **(meta.get("options") or {}))


def load_weights(model: nn.Module, tensors: dict[str, Any], where: Path) -> nn.Module:
    """Load `tensors` into `model`, checking every name and shape first."""
    state = model.state_dict()
    missing = sorted(set(state) - set(tensors))
    extra = sorted(set(tensors) - set(state))
    wrong = [k for k in state if k in tensors and tuple(tensors[k].shape) != tuple(state[k].shape)]
    if missing or extra or wrong:
        detail = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {extra[:3]}"
            if extra
            else f"{wrong[0]} has shape {tuple(tensors[wrong[0]].shape)}, the model "
            f"{tuple(state[wrong[0]].shape)}"
        )
        raise ModelError(
            f"The weights in {str(where)!r} do not fit the model ({detail}): pass the model the "
            "run was trained with, or rerun it."
        )
    model.load_state_dict(tensors)
    return model


def rebuild_model(run_dir: Path, data: Data, *, model: Any = None) -> nn.Module:
    """The trained model of a run folder (``model.safetensors``), in eval mode."""
    path = Path(run_dir) / "model.safetensors"
    if not path.is_file():
        raise ConfigError(f"{str(run_dir)!r} has no model.safetensors: pass a finished run folder.")
    tensors, meta = load_tensors(path)
    return load_weights(build_from_meta(meta, data, model), tensors, path).eval()


def model_meta(run_dir: Path) -> dict[str, Any]:
    """The metadata saved with a run's model (name, options, training settings)."""
    _, meta = load_tensors(Path(run_dir) / "model.safetensors")
    return meta
