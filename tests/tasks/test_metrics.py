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


def test_binary_roc_and_pr_auc_match_scikit_learn() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from nnrecipe.tasks import Classification

    g = torch.Generator().manual_seed(0)
    y = (torch.rand(300, generator=g) < 0.3).long()
    logits = torch.randn(300, 2, generator=g) + y[:, None] * torch.tensor([0.0, 1.0])
    logits[:40] = logits[:40].round()  # ties in the scores
    m = Classification(2).metrics(logits, y)
    p1 = torch.softmax(logits, 1)[:, 1].numpy()
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y.numpy(), p1), abs=1e-9)
    assert m["pr_auc"] == pytest.approx(average_precision_score(y.numpy(), p1), abs=1e-9)


def test_balanced_class_weights_follow_scikit_learn() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    from nnrecipe.tasks.classification import class_weights

    y = torch.tensor([0] * 80 + [1] * 15 + [2] * 5)
    want = compute_class_weight("balanced", classes=np.arange(3), y=y.numpy())
    assert np.allclose(class_weights(y, 3).numpy(), want, atol=1e-6)


def test_learner_with_balanced_weights_recalls_the_rare_class_better() -> None:
    import nnrecipe as nr

    g = np.random.default_rng(0)
    x = g.normal(size=(600, 2)).astype(np.float32)
    y = ((x[:, 0] + 0.8 * g.normal(size=600)) > 1.6).astype(np.int64)  # ~7% positives
    data = nr.Data.from_arrays(x, y, seed=0, test=0.0)
    recall = {}
    for weights in (None, "balanced"):
        torch.manual_seed(0)
        learner = nr.Learner(
            torch.nn.Linear(2, 2), data, class_weights=weights, quiet=True, threads=1
        )
        learner.fit(30)
        out, yy = learner.outputs("valid")
        pred = out.argmax(1)
        recall[weights] = float((pred[yy == 1] == 1).float().mean())
    assert recall["balanced"] > recall[None]
