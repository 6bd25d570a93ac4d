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
from nnrecipe.data.batch import tensors_of

# Linear baselines are fitted on at most this many training samples (cost stays bounded).
MAX_LINEAR_SAMPLES = 5000


def _arrays(
    data: Data, split: str, max_samples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flattened numpy inputs (each input tensor flattened and joined) and targets."""
    x, y = data.splits[split].tensors(max_samples)
    parts = [t.reshape(len(t), -1).float().numpy() for t in tensors_of(x)]
    return np.concatenate(parts, axis=1), y.numpy()


def _scores(data: Data, estimator: Any, split: str) -> dict[str, float]:
    x, y = _arrays(data, split)
    return data.task.metrics(estimator.output(x), torch.from_numpy(y))


def baselines(
    data: Data,
    *,
    splits: tuple[str, ...] = ("valid",),
    human_error: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the task's baselines (majority / mean and linear, or the task's own) on train and
    score them on `splits`.

    Returns ``{"majority": {split: metrics}, "linear": {split: metrics}, "human": {...}?,
    "expected_loss_at_init": float}``.
    """
    data = Data.coerce(data)
    x, y = _arrays(data, "train", getattr(data.task, "baseline_samples", MAX_LINEAR_SAMPLES))
    result: dict[str, Any] = {}
    for name, est in data.task.baselines().items():
        est.fit(x, y)
        result[name] = {s: _scores(data, est, s) for s in splits if s in data.splits}
    if human_error is not None:
        result["human"] = {"error": float(human_error)}
    y_train = data.train.targets()
    result["expected_loss_at_init"] = data.task.expected_init_loss(y_train)
    return result
