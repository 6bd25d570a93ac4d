"""What a task is: how outputs are scored, predicted, initialised and compared with baselines.

A new task (segmentation with Dice, CRPS for predicted distributions, ...) is one small module
with a `Task` subclass, registered in `nnrecipe.tasks.REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]


class Task:
    """Base class: a task knows its loss, metrics, predictions and expected loss at init.

    Subclasses set `name`, `kind`, `primary_metric` and `higher_is_better`, and implement the
    methods below. Constructors only store.
    """

    name: ClassVar[str] = "task"
    kind: ClassVar[str] = "task"  # "classification" | "regression" | ...
    primary_metric: ClassVar[str] = "loss"
    higher_is_better: ClassVar[bool] = False

    def output_size(self) -> int:
        """Number of outputs a built-in model should produce per sample."""
        raise NotImplementedError

    def default_loss(self) -> LossFn:
        """The loss used when the user gives none."""
        raise NotImplementedError

    def target_dtype(self) -> torch.dtype:
        raise NotImplementedError

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        """Metrics over a whole split, from raw model outputs (logits / values)."""
        raise NotImplementedError

    def predict(self, output: Tensor) -> Tensor:
        """Predictions (class labels or values) from raw outputs."""
        raise NotImplementedError

    def expected_init_loss(self, y_train: Tensor) -> float:
        """The loss a well-initialised model has before training (what `loss-at-init` compares)."""
        raise NotImplementedError

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        """How to set a built-in model's last layer: ``{"bias": ...}`` and/or ``{"scale": ...}``."""
        raise NotImplementedError

    def better(self, a: float, b: float) -> bool:
        """True if metric value `a` is better than `b` for the primary metric."""
        return a > b if self.higher_is_better else a < b

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "primary_metric": self.primary_metric}
