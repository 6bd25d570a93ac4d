"""Models: a user's `nn.Module` always works; built-ins are chosen by modality."""

from __future__ import annotations

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
    "MODEL_NAMES",
    "count_parameters",
]

MODEL_NAMES = ("linear", "mlp", "cnn1d", "cnn2d", "unet")


def default_model_name(modality: str, task: Any = None) -> str:
    """The task's built-in model if it names one (unet for segmentation), else the modality's:
    cnn2d for images, cnn1d for signals, mlp for tables."""
    if task is not None and getattr(task, "default_model", None):
        return str(task.default_model)
    return {"image": "cnn2d", "sequence": "cnn1d", "tabular": "mlp"}[modality]


def build_model(name: str | None, data: Any, **options: Any) -> nn.Module:
    """A built-in model for `data` (an `nr.Data`), its head initialised from the training targets.

    Args:
        name: ``"linear"``, ``"mlp"``, ``"cnn1d"``, ``"cnn2d"`` or None for the modality's default.
        data: the `nr.Data` the model will be trained on.
        **options: width, depth, dropout (and kernel for CNNs).
    """
    name = name or default_model_name(data.modality, data.task)
    shape = data.input_shape
    out = data.task.output_size()
    if name == "linear":
        model: nn.Module = Linear(int(np.prod(shape)), out)
    elif name == "mlp":
        model = MLP(int(np.prod(shape)), out, **options)
    elif name in ("cnn1d", "cnn2d"):
        dims = 1 if name == "cnn1d" else 2
        if len(shape) != dims + 1:
            raise ConfigError(
                f"Model {name!r} needs inputs of shape (channels, {'length' if dims == 1 else 'height, width'}), "
                f"got {shape}: use model 'mlp' for tables or the model matching the data."
            )
        model = CNN(shape[0], out, dims=dims, **options)
    elif name == "unet":
        if len(shape) != 3:
            raise ConfigError(
                f"Model 'unet' needs images of shape (channels, height, width), got {shape}: "
                "use it for segmentation of images."
            )
        model = UNet(shape[0], out, **options)
    else:
        raise ConfigError(f"Unknown model {name!r}: built-in models are {', '.join(MODEL_NAMES)}.")
    model.head.init_from(data.task, data.train.targets())  # type: ignore[union-attr, operator]
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
