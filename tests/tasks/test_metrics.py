"""Task metrics agree with scikit-learn's (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
)

from nnrecipe.tasks import Classification, Regression


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = torch.from_numpy(rng.normal(size=(200, 5)).astype(np.float32))
    y = torch.from_numpy(rng.choice(4, size=200))  # class 4 never occurs in the targets
    m = Classification(5).metrics(logits, y)
    pred = logits.argmax(1).numpy()
    assert m["accuracy"] == pytest.approx((pred == y.numpy()).mean())
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y.numpy(), pred))
    assert m["macro_f1"] == pytest.approx(
        f1_score(y.numpy(), pred, average="macro", zero_division=0)
    )
    probs = torch.softmax(logits, 1).numpy()
    assert m["nll"] == pytest.approx(log_loss(y.numpy(), probs, labels=range(5)), rel=1e-5)


def test_binary_single_logit_is_scored_like_two_logits() -> None:
    z = torch.tensor([2.0, -1.0, 0.5, -3.0])
    y = torch.tensor([1, 0, 0, 0])
    one = Classification(2).metrics(z[:, None], y)
    two = Classification(2).metrics(torch.stack([torch.zeros(4), z], 1), y)
    assert one == pytest.approx(two)


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=100).astype(np.float32)
    pred = (y + rng.normal(scale=0.3, size=100)).astype(np.float32)
    m = Regression().metrics(torch.from_numpy(pred)[:, None], torch.from_numpy(y))
    assert m["mae"] == pytest.approx(mean_absolute_error(y, pred), rel=1e-5)
    assert m["r2"] == pytest.approx(r2_score(y, pred), rel=1e-4)
    assert m["rmse"] == pytest.approx(float(np.sqrt(((y - pred) ** 2).mean())), rel=1e-5)
