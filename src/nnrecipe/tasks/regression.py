"""Regression: one or more real-valued targets, mean squared error."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.tasks.base import LossFn, Task


def _mse(output: Tensor, target: Tensor) -> Tensor:
    # Reshape (N,) targets against (N, 1) outputs explicitly: silent broadcasting to (N, N) is
    # the classic regression bug (`shape-mismatch`); the built-in loss never does it.
    return F.mse_loss(output.reshape(target.shape), target)


class Regression(Task):
    """Real-valued targets of shape (N,) or (N, D). Metrics are in the targets' own units."""

    name: ClassVar[str] = "regression"
    kind: ClassVar[str] = "regression"
    primary_metric: ClassVar[str] = "rmse"
    higher_is_better: ClassVar[bool] = False

    def __init__(self, num_outputs: int = 1) -> None:
        self.num_outputs = num_outputs

    def output_size(self) -> int:
        return self.num_outputs

    def default_loss(self) -> LossFn:
        return _mse

    def target_dtype(self) -> torch.dtype:
        return torch.float32

    def predict(self, output: Tensor) -> Tensor:
        return output.reshape(output.shape[0], -1).squeeze(-1) if output.ndim > 1 else output

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        pred = output.reshape(target.shape).float().cpu()
        y = target.float().cpu()
        err = pred - y
        mse = float((err**2).mean())
        var = float(((y - y.mean(0)) ** 2).mean())
        return {
            "rmse": mse**0.5,
            "mae": float(err.abs().mean()),
            "r2": 1.0 - mse / var if var > 0 else float("nan"),
            "mse": mse,
        }

    def expected_init_loss(self, y_train: Tensor) -> float:
        """MSE of predicting the training mean: the target variance."""
        y = y_train.float()
        return float(((y - y.mean(0)) ** 2).mean())

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        y = y_train.float().reshape(y_train.shape[0], -1)
        std = y.std(0).clamp_min(1e-8)
        return {"bias": y.mean(0), "scale": std}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_outputs": self.num_outputs}
