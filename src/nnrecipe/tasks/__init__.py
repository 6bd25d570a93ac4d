"""Tasks: what is predicted and how it is scored. One module per task."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nnrecipe.errors import DataError
from nnrecipe.tasks.base import LossFn, Task
from nnrecipe.tasks.classification import Classification
from nnrecipe.tasks.regression import Regression

__all__ = ["Task", "Classification", "Regression", "LossFn", "infer_task", "make_task"]

_BCE_NAMES = (
    "BCEWithLogitsLoss",
    "BCELoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
)


def _is_integral(y: Tensor) -> bool:
    if not torch.is_floating_point(y):
        return True
    finite = y[torch.isfinite(y)]
    return bool(finite.numel()) and bool((finite == finite.round()).all())


def make_task(kind: str, y_train: Tensor, classes: list[str] | None = None) -> Task:
    """Build the task named `kind` ("classification", "binary", "multiclass", "regression")."""
    if kind in ("classification", "binary", "multiclass"):
        if not _is_integral(y_train):
            raise DataError(
                "Classification needs integer class labels, but the targets have fractional "
                "values: pass task='regression' or convert the labels to integers 0..C-1."
            )
        y = y_train.reshape(-1).long()
        if y.numel() and int(y.min()) < 0:
            raise DataError(
                f"Class labels must be 0..C-1, but the smallest label is {int(y.min())}: "
                "map the labels to 0..C-1 first."
            )
        num_classes = max(int(y.max()) + 1 if y.numel() else 0, len(classes or []), 2)
        return Classification(num_classes, classes)
    if kind == "regression":
        return Regression(1 if y_train.ndim == 1 else int(np.prod(y_train.shape[1:])))
    raise DataError(
        f"Unknown task {kind!r}: use 'classification', 'binary', 'multiclass' or 'regression'."
    )


def loss_name(loss: object) -> str:
    """The class name of a loss module, or the name of a loss function ("" for None)."""
    if loss is None:
        return ""
    return getattr(loss, "__name__", type(loss).__name__)


def wants_float_targets(loss: object) -> bool:
    """Binary cross-entropy losses take 0/1 float targets, not class indices."""
    return loss_name(loss) in _BCE_NAMES


def infer_task(y_train: Tensor, *, loss: object = None, classes: list[str] | None = None) -> Task:
    """Integer targets → classification; float targets → regression, unless the loss says
    otherwise (``BCEWithLogitsLoss`` with 0/1 float targets is binary classification)."""
    name = loss_name(loss)
    if name in _BCE_NAMES:
        task = make_task("classification", y_train.round(), classes)
        if name in ("BCELoss", "binary_cross_entropy"):  # the model outputs probabilities
            task.outputs = "probabilities"  # type: ignore[attr-defined]
        return task
    if name in ("CrossEntropyLoss", "cross_entropy", "NLLLoss", "nll_loss"):
        return make_task("classification", y_train, classes)
    if classes is not None or not torch.is_floating_point(y_train):
        return make_task("classification", y_train, classes)
    return make_task("regression", y_train)
