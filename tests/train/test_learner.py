"""The Learner: trains any nn.Module, deterministically, with early stopping and exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nnrecipe as nr
from nnrecipe.models import build_model
from nnrecipe.train.checkpoint import load_tensors


@pytest.fixture(scope="module")
def wine() -> nr.Data:
    return nr.datasets.load("wine")


def _mlp(data: nr.Data, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("mlp", data, width=32)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_user_model_trains_and_beats_majority(wine: nr.Data) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(13, 16), nn.ReLU(), nn.Linear(16, 3))
    learner = nr.Learner(model, wine, quiet=True, threads=1)
    history = learner.fit(epochs=15)
    assert len(history) >= 1 and {"train_loss", "valid_loss", "valid_accuracy", "lr"} <= set(
        history[0]
    )
    assert learner.evaluate("valid")["accuracy"] > 0.85
    assert learner.predict(wine.valid.x).shape == (len(wine.valid),)
    assert learner.predict(wine.valid.x, raw=True).shape == (len(wine.valid), 3)


def test_tuple_data_and_regression() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 3).astype(np.float32)
    torch.manual_seed(0)
    learner = nr.Learner(
        nn.Linear(4, 1), (x[:240], y[:240], x[240:], y[240:]), quiet=True, threads=1, lr=0.05
    )
    learner.fit(epochs=30)
    assert learner.task.name == "regression"
    assert learner.evaluate("valid")["rmse"] < 0.3


def test_training_is_deterministic_given_a_seed(wine: nr.Data) -> None:
    runs = []
    for _ in range(2):
        model = _mlp(wine)
        nr.Learner(model, wine, quiet=True, threads=1, seed=3).fit(epochs=3)
        runs.append(_weights(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_early_stopping_stops_and_restores_best(wine: nr.Data) -> None:
    model = _mlp(wine)
    learner = nr.Learner(
        model, wine, quiet=True, threads=1, patience=0, lr=0.05, schedule="constant"
    )
    history = learner.fit(epochs=40)
    assert learner.stopped_early and len(history) < 40
    assert learner.evaluate("valid")["accuracy"] == pytest.approx(learner.best_score)


class _StopAt:
    """Interrupts training at the end of an epoch, after its checkpoint is written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, learner: nr.Learner) -> None:
        if len(learner.history) == self.epoch:
            raise KeyboardInterrupt


def test_resume_equals_uninterrupted_training(wine: nr.Data, tmp_path) -> None:
    full = _mlp(wine)
    nr.Learner(full, wine, quiet=True, threads=1, out=tmp_path / "a", patience=None).fit(epochs=6)

    part = _mlp(wine)
    with pytest.raises(KeyboardInterrupt):
        nr.Learner(
            part,
            wine,
            quiet=True,
            threads=1,
            out=tmp_path / "b",
            patience=None,
            callbacks=[_StopAt(3)],
        ).fit(epochs=6)
    fresh = _mlp(wine, seed=123)  # a different init: resume must overwrite everything
    resumed = nr.Learner(fresh, wine, quiet=True, threads=1, out=tmp_path / "b", patience=None)
    history = resumed.fit(epochs=6, resume=True)
    assert len(history) == 6
    a, b = _weights(full), _weights(fresh)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "b" / "metrics.csv").read_text().count("\n") == 7


def test_resume_with_other_settings_is_refused(wine: nr.Data, tmp_path) -> None:
    nr.Learner(_mlp(wine), wine, quiet=True, threads=1, out=tmp_path).fit(epochs=2)
    with pytest.raises(nr.TrainingError, match="Cannot resume"):
        nr.Learner(_mlp(wine), wine, quiet=True, threads=1, out=tmp_path, batch_size=7).fit(
            epochs=2, resume=True
        )


def test_checkpoints_are_safetensors_with_json_state(wine: nr.Data, tmp_path) -> None:
    nr.Learner(_mlp(wine), wine, quiet=True, threads=1, out=tmp_path).fit(epochs=2)
    tensors, meta = load_tensors(tmp_path / "checkpoints" / "last.safetensors")
    assert meta["epoch"] == 2 and len(meta["history"]) == 2
    assert "rng.torch" in tensors and any(k.startswith("optim.") for k in tensors)
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))  # nothing left half-written


def test_non_finite_loss_stops_with_a_clear_message(wine: nr.Data, tmp_path) -> None:
    class Explodes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(13, 3)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            out = self.lin(x)
            return out * float("nan") if self.calls > 12 else out

    learner = nr.Learner(Explodes(), wine, quiet=True, threads=1, out=tmp_path)
    with pytest.raises(nr.TrainingError, match="became nan at epoch 2.*last good checkpoint"):
        learner.fit(epochs=5)
    assert (tmp_path / "checkpoints" / "last.safetensors").exists()


def test_model_crash_is_a_model_error(wine: nr.Data) -> None:
    with pytest.raises(nr.ModelError, match="failed on a training batch"):
        nr.Learner(nn.Linear(5, 3), wine, quiet=True, threads=1).fit(epochs=1)


def test_bad_settings_are_config_errors(wine: nr.Data) -> None:
    with pytest.raises(nr.ConfigError, match="schedule"):
        nr.Learner(_mlp(wine), wine, schedule="triangle", quiet=True).fit(epochs=1)
    with pytest.raises(nr.ConfigError, match="epochs"):
        nr.Learner(_mlp(wine), wine, quiet=True).fit(epochs=0)


def test_threads_are_measured_and_recorded(wine: nr.Data) -> None:
    learner = nr.Learner(_mlp(wine), wine, quiet=True)
    learner.fit(epochs=1)
    assert learner.threads_used == 1  # a tiny MLP step takes well under 5 ms: one thread


def test_user_metrics_are_reported_every_epoch(wine: nr.Data) -> None:
    def top2(out: torch.Tensor, y: torch.Tensor) -> float:
        return float((out.topk(2, dim=1).indices == y[:, None]).any(1).float().mean())

    learner = nr.Learner(_mlp(wine), wine, quiet=True, threads=1, metrics={"top2": top2})
    history = learner.fit(epochs=2)
    assert "valid_top2" in history[-1]
    assert learner.evaluate("valid")["top2"] >= learner.evaluate("valid")["accuracy"]


@pytest.mark.parametrize("loss", [nn.BCEWithLogitsLoss(), nn.BCELoss()])
def test_binary_cross_entropy_losses_keep_float_targets(loss: nn.Module) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    torch.manual_seed(0)
    head = nn.Linear(3, 1)
    model = nn.Sequential(head, nn.Sigmoid()) if isinstance(loss, nn.BCELoss) else head

    def bce(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return loss(out.squeeze(1), target)

    bce.__name__ = type(loss).__name__  # the loss tells nnrecipe that targets are 0/1 floats
    learner = nr.Learner(
        model, (x[:160], y[:160], x[160:], y[160:]), loss=bce, quiet=True, threads=1, lr=0.05
    )
    learner.fit(epochs=10)
    assert learner.task.name == "classification"
    assert learner.data.train.y.dtype == torch.float32
    assert learner.evaluate("valid")["accuracy"] > 0.9


def test_one_line_per_epoch_when_output_is_not_a_terminal(capsys) -> None:
    import nnrecipe as nr
    from nnrecipe.progress import set_quiet

    set_quiet(False)
    data = nr.datasets.load("iris")
    nr.Learner(torch.nn.Linear(4, 3), data, threads=1).fit(3)
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if ln.startswith("epoch ")] and "(3/3)" in err
    nr.Learner(torch.nn.Linear(4, 3), data, threads=1, quiet=True).fit(2)
    assert "epoch" not in capsys.readouterr().err
