"""`epochs` as a budget: the auto schedule holds the peak rate while the valid metric improves,
cools down when it stalls and stops; a fixed schedule stopped early at a high rate cools down
first; a kill during the cooldown resumes bit-identically."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.train.schedule import END, budget_cooldown, lr_factor, warmup_steps


@pytest.fixture(scope="module")
def wine() -> nr.Data:
    return nr.datasets.load("wine")


def _mlp(data: nr.Data, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", data, width=32)


def test_auto_stalls_cools_down_and_stops(wine: nr.Data) -> None:
    learner = nr.Learner(_mlp(wine), wine, quiet=True, threads=1, schedule="auto", patience=2)
    history = learner.fit(epochs=200)
    cd = learner.cooldown
    assert cd is not None and cd.reason == "plateau"
    assert learner.stopped_early and len(history) == cd.end() // learner.steps_per_epoch < 200
    peak = learner.lr
    held = [r["lr"] for r in history[5 : cd.start // learner.steps_per_epoch]]
    assert held and all(v == pytest.approx(peak) for v in held)  # the peak until the plateau
    assert history[-1]["lr"] == pytest.approx(peak * END)  # annealed before stopping
    assert not learner.budget_ran_out


def test_auto_without_a_plateau_cools_down_at_the_end_of_the_budget(wine: nr.Data) -> None:
    learner = nr.Learner(_mlp(wine), wine, quiet=True, threads=1, schedule="auto", patience=None)
    history = learner.fit(epochs=12)
    assert len(history) == 12 and learner.cooldown.reason == "budget"
    assert history[-1]["lr"] == pytest.approx(learner.lr * END)


def test_a_budget_of_four_epochs_is_a_one_cycle() -> None:
    # warm-up over the first quarter, then annealing: the shape of one-cycle (not its exact
    # normalisation of t, hence the tolerance)
    spe, epochs = 10, 4
    warm = warmup_steps(epochs, spe)
    cd = budget_cooldown(epochs, spe, warm)
    auto = [lr_factor("auto", s, 40, warmup=warm, cooldown=cd) for s in range(40)]
    one = [lr_factor("one-cycle", s, 40) for s in range(40)]
    assert warm == cd.start == 10 and max(abs(a - b) for a, b in zip(auto, one, strict=True)) < 0.05


def test_one_cycle_stopped_early_at_a_high_rate_cools_down_first(wine: nr.Data) -> None:
    learner = nr.Learner(_mlp(wine), wine, quiet=True, threads=1, schedule="one-cycle", patience=1)
    history = learner.fit(epochs=300)
    assert learner.stopped_early and learner.cooldown is not None
    assert learner.cooldown.factor > 0.1  # it stalled near the peak of a 300-epoch cycle
    assert history[-1]["lr"] == pytest.approx(learner.lr * END)


def test_constant_schedule_stops_at_once(wine: nr.Data) -> None:
    learner = nr.Learner(_mlp(wine), wine, quiet=True, threads=1, schedule="constant", patience=1)
    learner.fit(epochs=300)
    assert learner.stopped_early and learner.cooldown is None


class _StopAt:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, learner: nr.Learner) -> None:
        if len(learner.history) == self.epoch:
            raise KeyboardInterrupt


def test_resume_inside_the_cooldown_equals_uninterrupted(wine: nr.Data, tmp_path) -> None:
    common = {"quiet": True, "threads": 1, "schedule": "auto", "patience": 2}
    full = _mlp(wine)
    whole = nr.Learner(full, wine, out=tmp_path / "a", **common)
    whole.fit(epochs=200)
    cut = whole.cooldown.start // whole.steps_per_epoch + 1  # one epoch into the cooldown
    part = _mlp(wine)
    with pytest.raises(KeyboardInterrupt):
        nr.Learner(part, wine, out=tmp_path / "b", callbacks=[_StopAt(cut)], **common).fit(200)
    fresh = _mlp(wine, seed=9)
    resumed = nr.Learner(fresh, wine, out=tmp_path / "b", **common)
    resumed.fit(epochs=200, resume=True)
    assert len(resumed.history) == len(whole.history) and resumed.cooldown == whole.cooldown
    a, b = full.state_dict(), fresh.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_budget_running_out_while_improving_is_flagged() -> None:
    # A linear model on separable data improves its valid loss at every epoch of a short budget
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    learner = nr.Learner(
        nn.Linear(5, 2),
        (x[:300], y[:300], x[300:], y[300:]),
        quiet=True,
        threads=1,
        schedule="auto",
        lr=1e-3,
    )
    learner.fit(epochs=6)
    assert learner.budget_ran_out and learner.best_epoch == 6
