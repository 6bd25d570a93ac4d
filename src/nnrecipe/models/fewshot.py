"""The few-shot task's embedding network: the modality's built-in body (residual CNN for
images and signals, MLP for tables) with a plain linear embedding layer as its head."""

from __future__ import annotations

from typing import Any

from torch import nn

from nnrecipe.models import MODELS, register_model

BODIES = {"image": "cnn2d", "sequence": "cnn1d", "tabular": "mlp"}


@register_model("embedding")
def _embedding(data: Any, **options: Any) -> nn.Module:
    """The built-in model for `data` whose last layer is a default-initialised nn.Linear:
    the classification Head starts near zero (to predict the prior), which would start every
    embedding at the same point."""
    model = MODELS[BODIES[data.modality]](data, **options)
    model.head = nn.Linear(model.head.linear.in_features, data.task.output_size())
    return model
