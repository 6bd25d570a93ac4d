"""The training monitor records what the report shows without changing training."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.train.monitor import Monitor


@pytest.fixture(scope="module")
def wine() -> nr.Data:
    return nr.datasets.load("wine")


def _mlp(data: nr.Data, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", data, width=32)  # BatchNorm + dropout: RNG and running stats in play


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_monitor_does_not_change_training(wine: nr.Data, tmp_path) -> None:
    plain, watched = _mlp(wine), _mlp(wine)
    nr.Learner(plain, wine, quiet=True, threads=1, patience=None).fit(epochs=4)
    nr.Learner(
        watched,
        wine,
        quiet=True,
        threads=1,
        patience=None,
        callbacks=[Monitor(tmp_path / "m.json")],
    ).fit(epochs=4)
    a, b = _weights(plain), _weights(watched)
    assert all(torch.equal(a[k], b[k]) for k in a)  # BatchNorm running stats included


class _StopAt:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, learner: nr.Learner) -> None:
        if len(learner.history) == self.epoch:
            raise KeyboardInterrupt


def test_resumed_run_with_monitor_is_identical_and_keeps_the_record(
    wine: nr.Data, tmp_path
) -> None:
    full = _mlp(wine)
    nr.Learner(
        full,
        wine,
        quiet=True,
        threads=1,
        out=tmp_path / "a",
        patience=None,
        callbacks=[Monitor(tmp_path / "a" / "monitor.json")],
    ).fit(epochs=6)
    part = _mlp(wine)
    with pytest.raises(KeyboardInterrupt):
        nr.Learner(
            part,
            wine,
            quiet=True,
            threads=1,
            out=tmp_path / "b",
            patience=None,
            callbacks=[Monitor(tmp_path / "b" / "monitor.json"), _StopAt(3)],
        ).fit(epochs=6)
    fresh = _mlp(wine, seed=123)
    nr.Learner(
        fresh,
        wine,
        quiet=True,
        threads=1,
        out=tmp_path / "b",
        patience=None,
        callbacks=[Monitor(tmp_path / "b" / "monitor.json")],
    ).fit(epochs=6, resume=True)
    a, b = _weights(full), _weights(fresh)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rec_a = json.loads((tmp_path / "a" / "monitor.json").read_text())
    rec_b = json.loads((tmp_path / "b" / "monitor.json").read_text())
    assert [e["epoch"] for e in rec_b["epochs"]] == list(range(7))
    assert rec_a["epochs"][-1]["p_true"] == rec_b["epochs"][-1]["p_true"]
    assert rec_a["epochs"][-1]["grad_norms"] == pytest.approx(rec_b["epochs"][-1]["grad_norms"])


class _DeadFirstLayer(nn.Module):
    """A hidden layer whose bias of -100 keeps every ReLU unit at zero: all dead."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(13, 8)
        self.act = nn.ReLU()
        self.out = nn.Linear(8 + 13, 3)
        with torch.no_grad():
            self.hidden.bias.fill_(-100.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([self.act(self.hidden(x)), x], dim=1))


def test_record_shows_dead_units_gradients_and_learning(wine: nr.Data, tmp_path) -> None:
    torch.manual_seed(0)
    nr.Learner(
        _DeadFirstLayer(),
        wine,
        quiet=True,
        threads=1,
        patience=None,
        lr=0.05,
        callbacks=[Monitor(tmp_path / "m.json")],
    ).fit(epochs=5)
    rec = json.loads((tmp_path / "m.json").read_text())
    assert rec["layers"] == ["act"]
    assert all(e["activations"]["act"]["dead"] == 1.0 for e in rec["epochs"])
    last = rec["epochs"][-1]
    assert last["grad_norms"]["hidden.weight"] == 0.0  # dead units pass no gradient
    assert last["grad_norms"]["out.weight"] > 0
    assert sorted(set(rec["targets"])) == [0, 1, 2]  # the followed batch covers every class
    first = sum(rec["epochs"][0]["p_true"]) / len(rec["targets"])
    assert sum(last["p_true"]) / len(rec["targets"]) > first + 0.2
