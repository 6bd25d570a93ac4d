"""Planted bugs of the few-shot task, each with the code that names its root cause."""

from __future__ import annotations

from functools import cache

import torch
from torch import nn

import nnrecipe as nr
from nnrecipe.models import build_model


@cache
def digits(**options) -> nr.Data:
    return nr.datasets.load("digits", task="few-shot", task_options=options or None)


class ReluEmbedding(nn.Module):
    """An embedding that ends in a ReLU after a large negative bias: every output is 0."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
        nn.init.constant_(self.net[-1].bias, -50.0)

    def forward(self, x):
        return torch.relu(self.net(x))


def relu_embedding() -> dict:
    torch.manual_seed(0)
    return {"model": ReluEmbedding(), "data": digits()}


def tiny_margin() -> dict:
    torch.manual_seed(0)
    data = digits(margin=0.001, objective="contrastive")
    return {"model": build_model(None, data), "data": data}


def one_training_class() -> dict:
    torch.manual_seed(0)
    data = digits(fewshot_classes=(1, 2, 3, 4, 5, 6, 7, 8, 9))
    return {"model": build_model(None, data), "data": data}


def healthy() -> dict:
    torch.manual_seed(0)
    data = digits()
    return {"model": build_model(None, data), "data": data}


CASES = {
    "relu-embedding": ("embeddings-collapse", relu_embedding),
    "tiny-margin": ("margin-never-active", tiny_margin),
    "one-training-class": ("pairs-one-sided", one_training_class),
}
