"""Built-in models start where they should: loss at init near its expected value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nnrecipe as nr
from nnrecipe.models import build_model


@pytest.mark.parametrize(
    ("dataset", "model"),
    [
        ("digits", "cnn2d"),
        ("digits", "mlp"),
        ("digits", "linear"),
        ("mnist1d", "cnn1d"),
        ("mnist1d", "mlp"),
        ("wine", "mlp"),
        ("breast_cancer", "mlp"),
    ],
)
def test_loss_at_init_is_within_10_percent_of_log_c(dataset: str, model: str) -> None:
    data = nr.datasets.load(dataset)
    torch.manual_seed(0)
    net = build_model(model, data).eval()
    x, y = data.train.tensors()
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(net(x), y))
    c = data.task.num_classes
    assert abs(loss - math.log(c)) / math.log(c) < 0.10
    # and, sharper, near the entropy of the class prior that the head's bias encodes
    assert abs(loss - data.task.expected_init_loss(y)) < 0.02


def test_prior_bias_gives_prior_entropy_on_imbalanced_classes() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.1).astype(np.int64)  # 10% positives
    data = nr.Data.from_arrays(rng.normal(size=(1000, 4)).astype(np.float32), y)
    torch.manual_seed(0)
    net = build_model("mlp", data).eval()
    x, yt = data.train.tensors()
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(net(x), yt))
    assert loss < 0.9 * math.log(2)  # a zero bias would start at log 2 = 0.69
    assert loss == pytest.approx(data.task.expected_init_loss(yt), abs=0.02)


def test_regression_model_starts_at_the_target_mean() -> None:
    data = nr.datasets.load("diabetes")
    torch.manual_seed(0)
    net = build_model(None, data).eval()
    x, y = data.train.tensors()
    with torch.no_grad():
        mse = float(torch.nn.functional.mse_loss(net(x).squeeze(1), y))
    assert mse == pytest.approx(data.task.expected_init_loss(y), rel=0.05)


def test_unknown_or_mismatched_model_is_a_config_error() -> None:
    data = nr.datasets.load("wine")
    with pytest.raises(nr.ConfigError, match="Unknown model"):
        build_model("transformer", data)
    with pytest.raises(nr.ConfigError, match="cnn2d"):
        build_model("cnn2d", data)
