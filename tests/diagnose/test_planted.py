"""Diagnosis picks the right verdict on three planted problems, with real training."""

from __future__ import annotations

import numpy as np
import torch

import nnrecipe as nr
from nnrecipe.data.split import Split
from nnrecipe.models import build_model


def _fit(model: torch.nn.Module, data: nr.Data, epochs: int, **kw) -> nr.Learner:
    learner = nr.Learner(model, data, quiet=True, threads=1, patience=None, **kw)
    learner.fit(epochs)
    return learner


def test_tiny_model_on_a_nonlinear_problem_is_avoidable_bias() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 2)).astype(np.float32)
    y = (np.linalg.norm(x, axis=1) > 1.18).astype(np.int64)  # a circle: no line separates it
    data = nr.Data.from_arrays(x, y, valid=0.2, test=0.0, train_dev=0.15, seed=0)
    torch.manual_seed(0)
    learner = _fit(build_model("linear", data), data, epochs=10, weight_decay=0.0)
    r = nr.diagnose(learner, human_error=0.0)  # labels are a deterministic function of x
    assert r.stats["verdict"] == "avoidable-bias", r.stats["table"]
    assert r.stats["errors"]["train"] > 0.3


def test_large_model_on_a_small_sample_is_variance() -> None:
    rng = np.random.default_rng(1)
    n, d = 400, 100
    x = rng.normal(size=(n, d)).astype(np.float32)
    # The label depends on one feature, flipped 10% of the time: 10% Bayes error.
    y = ((x[:, 0] > 0) ^ (rng.random(n) < 0.1)).astype(np.int64)
    data = nr.Data.from_arrays(x, y, valid=0.3, test=0.0, train_dev=0.3, seed=0)
    torch.manual_seed(0)
    model = build_model("mlp", data, width=512, depth=2, dropout=0.0)
    learner = _fit(model, data, epochs=60, weight_decay=0.0)
    r = nr.diagnose(learner, human_error=0.1)
    assert r.stats["verdict"] == "variance", r.stats["table"]
    assert r.stats["errors"]["train"] < 0.1 and "data-mismatch" not in r.codes


def test_valid_set_with_shifted_inputs_is_data_mismatch() -> None:
    rng = np.random.default_rng(2)

    def sample(n: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, 4)).astype(np.float32)
        y = (x[:, 0] > 0).astype(np.int64)  # labels from the true inputs
        x[:, 0] += offset  # the valid set's sensor reads its first input 1.0 too high
        return x, y

    (xt, yt), (xd, yd), (xv, yv) = sample(1000, 0.0), sample(300, 0.0), sample(300, 1.0)
    data = nr.Data.from_splits(xt, yt, xv, yv)
    data.splits["train_dev"] = Split(
        torch.from_numpy(xd), torch.from_numpy(yd), index=torch.arange(300)
    )
    torch.manual_seed(0)
    learner = _fit(build_model("mlp", data, width=32, depth=1), data, epochs=15)
    r = nr.diagnose(learner, human_error=0.0)
    assert r.stats["verdict"] == "data-mismatch", r.stats["table"]
    # About a third of valid has 0 > x0 > -1 and is read as the other class.
    assert r.stats["errors"]["valid"] > r.stats["errors"]["train_dev"] + 0.1
