"""Planted bugs of the distribution task, each with the code that names its root cause.

Each case builds ``dict(model=..., data=...)`` for ``nr.check(**case)``; the data carry the
distribution task (head and options as the case needs)."""

from __future__ import annotations

from functools import cache

import torch
from torch import nn

import nnrecipe as nr
from nnrecipe.models import build_model


@cache
def hetero(**options) -> nr.Data:
    return nr.datasets.load("hetero", task_options=options or None)


class IndependentSigmoids(nn.Module):
    """The classic CDF-head bug: one free sigmoid per edge, no cumulative sum (head=cdf)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, k))

    def forward(self, x):
        return self.net(x)


class SquashedScale(nn.Module):
    """A Gaussian head whose log-scale output is pushed far below the data's noise."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, x):
        out = self.net(x)
        return torch.stack([out[:, 0], out[:, 1] - 12.0], 1)  # sigma ~ e^-12


def independent_sigmoids() -> dict:
    torch.manual_seed(0)
    data = hetero(head="cdf")
    return {"model": IndependentSigmoids(data.task.output_size()), "data": data}


def narrow_bins() -> dict:
    torch.manual_seed(0)
    data = hetero(range=(-1.0, 1.0))  # the targets span about [-3, 3]
    return {"model": build_model(None, data), "data": data}


def squashed_scale() -> dict:
    torch.manual_seed(0)
    return {"model": SquashedScale(), "data": hetero(head="gaussian")}


def healthy(head: str) -> dict:
    torch.manual_seed(0)
    data = hetero(head=head)
    return {"model": build_model(None, data), "data": data}


CASES = {
    "independent-sigmoids": ("cdf-not-monotone", independent_sigmoids),
    "narrow-bins": ("bins-miss-targets", narrow_bins),
    "squashed-scale": ("scale-collapse", squashed_scale),
}
