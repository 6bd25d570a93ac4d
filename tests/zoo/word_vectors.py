"""Planted bugs of the word-vectors task, each with the code that names its root cause."""

from __future__ import annotations

from functools import cache

import torch

import nnrecipe as nr
from nnrecipe.models import build_model


@cache
def lee(**options) -> nr.Data:
    return nr.datasets.load("lee", task_options=options or None)


def _case(data: nr.Data) -> dict:
    torch.manual_seed(0)
    return {"model": build_model(None, data), "data": data}


def plain_unigram_negatives() -> dict:
    return _case(lee(noise_power=1.0))


def aggressive_subsampling() -> dict:
    return _case(lee(sample=1e-6))


def large_init() -> dict:
    """Output vectors initialised like the input ones but 100x larger (not zero): pair scores
    at init are far from 0 and the loss far from log 2."""
    case = _case(lee())
    torch.nn.init.normal_(case["model"].outputs.weight, std=1.0)
    torch.nn.init.normal_(case["model"].inputs.weight, std=1.0)
    return case


def healthy() -> dict:
    return _case(lee())


CASES = {
    "plain-unigram-negatives": ("negatives-not-smoothed-unigram", plain_unigram_negatives),
    "aggressive-subsampling": ("words-without-gradient", aggressive_subsampling),
    "large-init": ("loss-at-init", large_init),
}
