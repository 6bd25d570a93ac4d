"""Simple baselines, fitted before any network: the numbers a model has to beat.

Each baseline has the same interface (fit on train, score a split with the task's metrics):
- ``majority``: the most frequent class (the class prior) / the training mean. Input-free.
- ``linear``: logistic regression / ridge regression on the flattened inputs (scikit-learn).
- ``human``: the human-level error, when the user gives it (not fitted; reported as is).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nnrecipe.data import Data

# Linear baselines are fitted on at most this many training samples (cost stays bounded).
MAX_LINEAR_SAMPLES = 5000


def _arrays(
    data: Data, split: str, max_samples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    x, y = data.splits[split].tensors(max_samples)
    return x.reshape(len(x), -1).numpy(), y.numpy()


def _scores(data: Data, estimator: Any, split: str) -> dict[str, float]:
    x, y = _arrays(data, split)
    task = data.task
    if task.kind == "classification":
        proba = np.zeros((len(x), task.num_classes))  # type: ignore[attr-defined]
        proba[:, estimator.classes_] = estimator.predict_proba(x)
        out = torch.log(torch.from_numpy(proba).float().clamp_min(1e-12))
    else:
        out = torch.from_numpy(estimator.predict(x).astype(np.float32)).reshape(len(x), -1)
    return task.metrics(out, torch.from_numpy(y))


def baselines(
    data: Data,
    *,
    splits: tuple[str, ...] = ("valid",),
    human_error: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the majority and linear baselines on train and score them on `splits`.

    Returns ``{"majority": {split: metrics}, "linear": {split: metrics}, "human": {...}?,
    "expected_loss_at_init": float}``.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = Data.coerce(data)
    x, y = _arrays(data, "train", MAX_LINEAR_SAMPLES)
    if data.task.kind == "classification":
        majority = DummyClassifier(strategy="prior")
        linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=1.0))
        y = y.reshape(-1).astype(int)
    else:
        majority = DummyRegressor(strategy="mean")
        linear = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    result: dict[str, Any] = {}
    for name, est in (("majority", majority), ("linear", linear)):
        est.fit(x, y)
        result[name] = {s: _scores(data, est, s) for s in splits if s in data.splits}
    if human_error is not None:
        result["human"] = {"error": float(human_error)}
    y_train = data.train.targets()
    result["expected_loss_at_init"] = data.task.expected_init_loss(y_train)
    return result
