"""nnrecipe's own `Learner` is watched by the same code as a user's loop (`nr.watch`)."""

from __future__ import annotations

import torch
from torch import nn

import nnrecipe as nr


def test_learner_fit_is_watched_and_quiet_when_healthy():
    data = nr.datasets.load("iris")
    learner = nr.Learner(nn.Linear(4, 3), data, quiet=True, threads=1)
    learner.fit(epochs=3)
    r = learner.watch_result
    assert isinstance(r, nr.Result) and r.stage == "watch"
    assert r.stats["steps"] == 3 * r.stats["steps_per_epoch"] > 0
    assert not r.at_least("warning"), r


class Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(4, 3)
        self.unused = nn.Linear(4, 3)  # defined, never called

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def test_learner_reports_the_loops_findings():
    data = nr.datasets.load("iris")
    learner = nr.Learner(Unused(), data, quiet=True, threads=1)
    learner.fit(epochs=2)
    (f,) = [f for f in learner.watch_result if f.code == "params-not-updated"]
    assert f.evidence["no_gradient"] == ["unused.weight", "unused.bias"]
