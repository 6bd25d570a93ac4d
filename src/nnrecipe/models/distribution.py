"""Models of the distribution task: the course's "two networks", one for the mean and one for
the uncertainty (``--model two-nets``, Gaussian head)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nnrecipe.errors import ConfigError
from nnrecipe.models import register_model
from nnrecipe.models.builtin import MLP


class TwoNets(nn.Module):
    """Two MLPs on the same inputs: ``[mean(x), log_scale(x)]``, shape (N, 2).

    Separate networks let the uncertainty depend on features the mean does not need (noise
    that grows with an input), and keep the scale's gradients from disturbing the mean's.
    """

    def __init__(
        self, in_features: int, *, width: int = 64, depth: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.mean = MLP(in_features, 1, width=width, depth=depth, dropout=dropout)
        self.log_scale = MLP(in_features, 1, width=width, depth=depth, dropout=dropout)

    @torch.no_grad()
    def init_from(self, mean: float, std: float) -> None:
        """Start at the climatology N(mean, std^2): the mean net scaled by std around the mean,
        the scale net at log std."""
        self.mean.head.scale.fill_(std)
        self.mean.head.shift.fill_(mean)
        self.log_scale.head.shift.fill_(math.log(std))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.mean(x), self.log_scale(x)], 1)


@register_model("two-nets")
def _two_nets(data: Any, **options: Any) -> nn.Module:
    task = data.task
    if getattr(task, "head", None) != "gaussian":
        raise ConfigError(
            "Model 'two-nets' predicts a mean and a scale: use it with --task distribution "
            "--task-option head=gaussian."
        )
    model = TwoNets(int(np.prod(data.input_shape)), **options)
    model.init_from(task.mean, task.std)
    return model
