"""Issue 16's classes, one test each: bugs the zoo had never seen, wrong causes, false alarms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnrecipe as nr
from zoo import data as D
from zoo import models as M


def _loud(result: nr.Result) -> set[str]:
    return {f.code for f in result.at_least("warning")}


def test_shuffled_labels_on_a_small_table_are_input_ignored():
    torch.manual_seed(0)
    result = nr.check(M.mlp(13, 3), D.shuffled_labels(D.wine()))
    assert "input-ignored" in _loud(result), str(result)


class ListMLP(nn.Module):
    """Hidden layers kept in a plain Python list: never registered, never trained."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = [nn.Linear(64, 64), nn.Linear(64, 64)]
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.head(x)


def test_layers_in_a_plain_list_are_unregistered_params():
    torch.manual_seed(0)
    result = nr.check(ListMLP(), D.digits_tabular())
    (f,) = [f for f in result if f.code == "unregistered-params"]
    assert f.severity == "error" and f.evidence["tensors"] == 4


def test_registered_layers_are_not_unregistered_params():
    torch.manual_seed(0)
    result = nr.check(M.mlp(64, 10), D.digits_tabular())
    assert "unregistered-params" not in result.codes


def _momentum_zero(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.0
    return model


def test_batchnorm_whose_running_stats_never_update_is_train_eval_mismatch():
    torch.manual_seed(0)
    result = nr.check(_momentum_zero(M.CNN1d()), D.mnist1d())
    assert "train-eval-mismatch" in _loud(result), str(result)


def test_healthy_batchnorm_has_no_train_eval_mismatch():
    torch.manual_seed(0)
    result = nr.check(M.CNN1d(), D.mnist1d())
    assert "train-eval-mismatch" not in result.codes
    assert abs(result.stats["train_eval"]["excess"]) < 0.2


def test_strong_weight_decay_is_named_not_input_ignored():
    torch.manual_seed(0)
    result = nr.check(
        M.mlp(30, 2),
        D.breast_cancer(),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e3),
    )
    loud = _loud(result)
    assert "weight-decay-too-high" in loud and "input-ignored" not in loud, str(result)


def test_usual_weight_decay_is_not_reported():
    torch.manual_seed(0)
    result = nr.check(
        M.mlp(30, 2),
        D.breast_cancer(),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2),
    )
    assert "weight-decay-too-high" not in result.codes


class FunctionalDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = M.mlp(64, 64)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.dropout(F.relu(self.net(x)), 0.5))  # training= forgotten


def test_functional_dropout_at_eval_is_random_outputs_not_batch_dependency():
    torch.manual_seed(0)
    result = nr.check(FunctionalDropout(), D.digits_tabular())
    loud = _loud(result)
    assert "random-eval-outputs" in loud and "batch-dependency" not in loud, str(result)


class Wide1d(nn.Module):
    """A healthy 1-D conv net (no normalisation), the kind that drew dead-units before."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(1, 64, 7, stride=2),
            nn.ReLU(),
            nn.Conv1d(64, 128, 5, stride=2),
            nn.ReLU(),
            nn.Conv1d(128, 128, 3),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
            nn.Flatten(),
            nn.Linear(128, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.slow
def test_healthy_1d_conv_net_on_unit_interval_signals_has_no_dead_units():
    d = D.mnist1d()
    lo, hi = d.train.x.min(), d.train.x.max()
    data = ((d.train.x - lo) / (hi - lo), d.train.y, (d.valid.x - lo) / (hi - lo), d.valid.y)
    torch.manual_seed(0)
    result = nr.check(Wide1d(), data)
    assert "dead-units" not in _loud(result), str(result)


def test_planted_dead_units_are_still_found():
    model = M.mlp(64, 10, width=128)
    with torch.no_grad():
        model[0].bias.fill_(-12.0)
    result = nr.check(model, D.digits_tabular())
    assert "dead-units" in _loud(result)


class NoBiasHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(16 * 40, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(-1)


def test_regression_without_last_bias_on_offset_targets_is_not_loss_at_init():
    d = D.waves()
    data = (d.train.x, d.train.y + 3, d.valid.x, d.valid.y + 3)  # mean 3, variance ~1
    torch.manual_seed(0)
    result = nr.check(NoBiasHead(), data)
    assert "loss-at-init" not in _loud(result), str(result)


def test_regression_outputs_far_off_are_still_loss_at_init():
    model = NoBiasHead()
    with torch.no_grad():
        model.head.weight.mul_(30)
    d = D.waves()
    result = nr.check(model, (d.train.x, d.train.y + 3, d.valid.x, d.valid.y + 3))
    assert "loss-at-init" in _loud(result)


class WrongWidth(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(7, 3)  # the data have 6 features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def _blobs() -> tuple:
    g = np.random.default_rng(0)
    y = g.integers(0, 3, 400)
    x = (g.standard_normal((400, 6)) + 2.0 * np.eye(3, 6)[y]).astype(np.float32)
    return x[:320], y[:320], x[320:], y[320:]


def test_a_crash_in_the_model_is_model_error_not_shape_mismatch():
    result = nr.check(WrongWidth(), _blobs())
    codes = {f.code for f in result.at_least("error")}
    assert "model-error" in codes and "shape-mismatch" not in codes


class Slow(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        time.sleep(0.05)  # a slow forward pass: 50 ms per batch
        return self.fc(x)


def test_a_slow_model_within_a_budget_skips_checks_and_names_them():
    result = nr.check(Slow(), _blobs(), budget=3)
    skipped = result.stats.get("over_budget", {})
    assert skipped and "lr_too_high" in skipped, result.stats.get("seconds")
    (f,) = [f for f in result if f.code == "model-error"]
    assert f.severity == "info" and "lr_too_high" in f.message


def test_a_bad_budget_is_a_config_error():
    with pytest.raises(nr.ConfigError):
        nr.check(M.mlp(6, 3), _blobs(), budget=0)


class Sleepy(nn.Module):
    """A forward pass that takes 1 s (issue 17: a 5 s forward kept check busy for 400 s)."""

    calls: list[int] = []  # a class attribute: check's deep copies share it

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        Sleepy.calls.append(1)
        time.sleep(1.0)
        return self.fc(x)


@pytest.mark.slow
def test_a_very_slow_forward_stops_at_the_budget():
    Sleepy.calls.clear()
    result = nr.check(Sleepy(), _blobs(), budget=4)
    assert result.stats["over_budget"]
    # sleeping counts against the budget: about 4 forward passes, never the hundreds of a
    # full check (the range test alone makes 90)
    assert len(Sleepy.calls) <= 8, len(Sleepy.calls)
    (f,) = [f for f in result if f.code == "model-error"]
    assert "skipped" in f.message


class FreshHiddenState(nn.Module):
    """Creates its initial state with requires_grad=True in every call: not a model weight."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(x.shape[0], 3, requires_grad=True)
        return self.fc(x) + h0


def test_a_tensor_made_in_forward_is_not_unregistered():
    result = nr.check(FreshHiddenState(), _blobs())
    assert "unregistered-params" not in result.codes


def test_a_tight_budget_shrinks_probes_without_false_errors():
    torch.manual_seed(0)
    result = nr.check(M.CNN2d(), D.digits(), budget=1.5)
    assert not result.at_least("error"), str(result)
    assert result.stats["plan"]["scale"] <= 1
