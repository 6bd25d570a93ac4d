"""Models: a user's `nn.Module` always works; built-ins are chosen by modality."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from nnrecipe.errors import ConfigError
from nnrecipe.models.builtin import CNN, MLP, Head, Linear
from nnrecipe.models.unet import UNet

__all__ = [
    "CNN",
    "MLP",
    "Head",
    "Linear",
    "UNet",
    "build_model",
    "default_model_name",
    "model_for",
    "MODEL_NAMES",
    "MODELS",
    "register_model",
    "count_parameters",
    "pretrained",
    "new_head",
    "from_run",
]

# name -> builder(data, **options) -> nn.Module. A task that brings a model registers it here
# with `register_model` (from its models/NAME.py); `build_model` initialises its head.
MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a built-in model builder ``fn(data, **options) -> nn.Module`` under `name`."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS[name] = fn
        return fn

    return deco


@register_model("linear")
def _linear(data: Any, **options: Any) -> nn.Module:
    return Linear(int(np.prod(data.input_shape)), data.task.output_size())


@register_model("mlp")
def _mlp(data: Any, **options: Any) -> nn.Module:
    return MLP(int(np.prod(data.input_shape)), data.task.output_size(), **options)


def _cnn(dims: int) -> Callable[..., nn.Module]:
    def build(data: Any, **options: Any) -> nn.Module:
        shape = data.input_shape
        if len(shape) != dims + 1:
            name = f"cnn{dims}d"
            raise ConfigError(
                f"Model {name!r} needs inputs of shape (channels, {'length' if dims == 1 else 'height, width'}), "
                f"got {shape}: use model 'mlp' for tables or the model matching the data."
            )
        return CNN(shape[0], data.task.output_size(), dims=dims, **options)

    return build


MODELS["cnn1d"] = _cnn(1)
MODELS["cnn2d"] = _cnn(2)


@register_model("unet")
def _unet(data: Any, **options: Any) -> nn.Module:
    """Segmentation (nnrecipe.models.unet): K logits per pixel, any height and width."""
    shape = data.input_shape
    if len(shape) != 3:
        raise ConfigError(
            f"Model 'unet' needs images of shape (channels, height, width), got {shape}: use it "
            "for segmentation of images."
        )
    return UNet(shape[0], data.task.output_size(), **options)


MODEL_NAMES = tuple(MODELS)  # the names known at import; MODELS grows as models register


def default_model_name(modality: str, task: Any = None) -> str:
    """The built-in model for the data: the task's own (`Task.default_model`), else cnn2d for
    images, cnn1d for signals, mlp for tables."""
    own = task.default_model(modality) if task is not None else None
    return own or {"image": "cnn2d", "sequence": "cnn1d", "tabular": "mlp"}[modality]


def model_for(data: Any) -> str:
    """The default built-in model for `data`: the one its loader recommends (e.g. entity
    embeddings for a table with categorical columns, ``data.meta["default_model"]``), else
    `default_model_name`."""
    return data.meta.get("default_model") or default_model_name(data.modality, data.task)


def build_model(name: str | None, data: Any, **options: Any) -> nn.Module:
    """A built-in model for `data` (an `nr.Data`), its head initialised from the training targets.

    Args:
        name: a name in `MODELS` (``"linear"``, ``"mlp"``, ``"cnn1d"``, ``"cnn2d"``, ...) or None
            for the data's default.
        data: the `nr.Data` the model will be trained on.
        **options: width, depth, dropout (and kernel for CNNs).
    """
    if options.get("pretrained"):  # --pretrained runs/NAME: that run's body, a new head
        return from_run(options.pop("pretrained"), data, name=name, **options)
    options.pop("pretrained", None)
    name = name or model_for(data)
    if name not in MODELS:
        raise ConfigError(f"Unknown model {name!r}: built-in models are {', '.join(MODELS)}.")
    model = MODELS[name](data, **options)
    head = getattr(model, "head", None)
    if head is not None and hasattr(head, "init_from"):
        head.init_from(data.task, data.train.targets())
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# Built-ins that live in their own modules register themselves on import.
from nnrecipe.models import collab as _collab  # noqa: E402,F401
from nnrecipe.models import collab_blend as _collab_blend  # noqa: E402,F401

# Task-specific built-ins register themselves on import.
from nnrecipe.models import distribution as _distribution  # noqa: E402,F401
from nnrecipe.models import fewshot as _fewshot  # noqa: E402,F401
from nnrecipe.models import skipgram as _skipgram  # noqa: E402,F401
from nnrecipe.models import tabular as _tabular  # noqa: E402,F401

# torchvision architectures by name (resnet18, mobilenet_v3_small, ...): see models/pretrained.py.
from nnrecipe.models.pretrained import from_run, new_head, pretrained, register_all  # noqa: E402

register_all()
