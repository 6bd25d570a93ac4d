"""Search spaces: a default one per built-in model, or the user's (a dict or a function).

A space is written as a dict of knobs, each one of

- a list: a categorical choice, e.g. ``"width": [32, 64, 128]``;
- ``{"low": a, "high": b}``: a uniform range (integers when both bounds are ints), with
  ``"log": true`` for a log-uniform one (learning rate, weight decay).

Each knob may add ``"grid": [...]``, the values the grid sampler tries (default: the categories,
or three points spread over the range: low, middle, high; geometric middle for log ranges).

A function ``space(trial) -> dict`` of Optuna suggestions is accepted too (the grid sampler
then needs a dict). Known knobs: lr, weight_decay, batch_size, width, depth, dropout,
spatial_dropout (conv nets), augment (for segmentation: image and mask together); any other knob is passed to the built-in model as an
option (e.g. ``kernel``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nnrecipe.errors import ConfigError

SpaceSpec = dict[str, Any]
SpaceFn = Callable[[Any], dict[str, Any]]

# Knobs the Learner takes; the rest are options of the model.
TRAINING_KNOBS = ("lr", "weight_decay", "batch_size", "augment")

# Default ranges: wide enough to contain good settings for the built-in models on small data
# sets, narrow enough that 20-40 trials find them (checked by bench/tune.py).
_COMMON: SpaceSpec = {
    "lr": {"low": 3e-4, "high": 3e-2, "log": True, "grid": [1e-3, 3e-3, 1e-2]},
    "weight_decay": {"low": 1e-5, "high": 3e-1, "log": True, "grid": [1e-4, 1e-2]},
    "batch_size": {"choices": [32, 64, 128], "grid": [64]},
}
_REGULARIZE: SpaceSpec = {
    "dropout": {"low": 0.0, "high": 0.5, "grid": [0.0, 0.25]},
    "augment": {"low": 0.0, "high": 1.0, "grid": [0.0, 0.5]},
}
# Conv nets: Dropout1d/2d of whole channels after each residual stage.
_SPATIAL: SpaceSpec = {"spatial_dropout": {"low": 0.0, "high": 0.3, "grid": [0.0, 0.1]}}
DEFAULT_SPACES: dict[str, SpaceSpec] = {
    "linear": {**_COMMON},
    "mlp": {
        **_COMMON,
        "width": [64, 128, 256, 512],
        "depth": {"low": 1, "high": 3, "grid": [1, 2]},
        **_REGULARIZE,
    },
    # Conv widths double per stage: width 64 at depth 3 ends with 256 channels.
    "cnn1d": {
        **_COMMON,
        "width": {"choices": [16, 32, 64], "grid": [32, 64]},
        "depth": {"low": 1, "high": 3, "grid": [2, 3]},
        **_REGULARIZE,
        **_SPATIAL,
    },
    # Entity embeddings (tables with categorical columns): width halves per layer.
    "tabular": {
        **_COMMON,
        "width": {"choices": [100, 200, 400], "grid": [200]},
        "depth": {"low": 1, "high": 3, "grid": [1, 2]},
        "dropout": _REGULARIZE["dropout"],
    },
    # Collaborative filtering: width is the number of factors, l2 the per-rating penalty.
    "collab": {
        **_COMMON,
        "batch_size": {"choices": [128, 256, 512], "grid": [256]},
        "width": {"choices": [32, 50, 100], "grid": [50]},
        "l2": {"low": 0.02, "high": 0.3, "log": True, "grid": [0.05, 0.1]},
    },
    "collab-blend": {
        **_COMMON,
        "batch_size": {"choices": [128, 256, 512], "grid": [256]},
        "width": {"choices": [32, 50, 100], "grid": [50]},
        "l2": {"low": 0.02, "high": 0.3, "log": True, "grid": [0.05, 0.1]},
    },
    "collab-nn": {
        **_COMMON,
        "batch_size": {"choices": [128, 256, 512], "grid": [256]},
        "width": {"choices": [50, 100, 200], "grid": [100]},
        "dropout": _REGULARIZE["dropout"],
        "l2": {"low": 0.02, "high": 0.3, "log": True, "grid": [0.05, 0.1]},
    },
    "cnn2d": {
        **_COMMON,
        "width": {"choices": [16, 32, 64], "grid": [32, 64]},
        "depth": {"low": 1, "high": 3, "grid": [2, 3]},
        **_REGULARIZE,
        **_SPATIAL,
    },
    # Segmentation: widths double per level (width 32 at depth 4 ends with 512 channels in the
    # bottleneck); each image is many labelled pixels, so batches are small; dropout is the
    # bottleneck's channel dropout; augment is the joint image + mask flip / affine.
    "unet": {
        "lr": {"low": 1e-3, "high": 3e-2, "log": True, "grid": [3e-3, 1e-2]},
        "weight_decay": {"low": 1e-5, "high": 1e-1, "log": True, "grid": [1e-4, 1e-2]},
        "batch_size": {"choices": [8, 16, 32], "grid": [16]},
        "width": {"choices": [8, 16, 32], "grid": [16, 32]},
        "depth": {"low": 2, "high": 4, "grid": [2, 3]},
        "dropout": {"low": 0.0, "high": 0.3, "grid": [0.0, 0.1]},
        "augment": {"low": 0.0, "high": 1.0, "grid": [0.0, 0.5]},
    },
}


def default_space(model: str) -> SpaceSpec:
    """The default search space (as a dict) for a built-in model name."""
    if model not in DEFAULT_SPACES:
        raise ConfigError(
            f"No default search space for model {model!r}: built-in models are "
            f"{', '.join(DEFAULT_SPACES)}; pass space=... for your own model."
        )
    return dict(DEFAULT_SPACES[model])


def _normalize(name: str, spec: Any) -> dict[str, Any]:
    """One knob as ``{"choices": [...]}`` or ``{"low", "high", "log", "int"}`` plus ``grid``."""
    if isinstance(spec, list | tuple):
        spec = {"choices": list(spec)}
    if not isinstance(spec, dict):
        raise ConfigError(
            f"Search-space knob {name!r} is {spec!r}: give a list of choices or "
            '{"low": ..., "high": ..., "log": true|false}.'
        )
    spec = dict(spec)
    if "choices" in spec:
        if not spec["choices"]:
            raise ConfigError(f"Search-space knob {name!r} has no choices: give at least one.")
        spec.setdefault("grid", list(spec["choices"]))
        return spec
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"Search-space knob {name!r} needs both 'low' and 'high', got {spec!r}.")
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if not low <= high or (log and low <= 0):
        raise ConfigError(
            f"Search-space knob {name!r} has low={low}, high={high}{' (log)' if log else ''}: "
            "low must be <= high, and > 0 for a log range."
        )
    is_int = isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool)
    spec.update(log=log, int=is_int)
    if "grid" not in spec:
        if is_int and high - low <= 3:
            spec["grid"] = list(range(low, high + 1))
        else:
            mid = math.sqrt(low * high) if log else (low + high) / 2
            spec["grid"] = [low, round(mid) if is_int else mid, high]
    return spec


def normalize_space(space: SpaceSpec) -> dict[str, dict[str, Any]]:
    """Validate a dict space; every problem raises a ConfigError naming the knob."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"A search space must be a non-empty dict of knobs, got {space!r}.")
    return {name: _normalize(name, spec) for name, spec in space.items()}


def suggest(trial: Any, space: SpaceSpec) -> dict[str, Any]:
    """Draw one setting of every knob of a dict space from an Optuna trial."""
    params: dict[str, Any] = {}
    for name, spec in normalize_space(space).items():
        if "choices" in spec:
            params[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["int"]:
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
    return params


def grid(space: SpaceSpec) -> dict[str, list[Any]]:
    """The grid sampler's search space: each knob's grid values."""
    return {name: list(spec["grid"]) for name, spec in normalize_space(space).items()}


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(training settings for the Learner, options for the model) from one trial's params."""
    training = {k: v for k, v in params.items() if k in TRAINING_KNOBS}
    model = {k: v for k, v in params.items() if k not in TRAINING_KNOBS}
    return training, model
