"""Ratings: collaborative filtering on (user, item) pairs, RMSE on ratings squashed into
`y_range` (fastai's `collab_learner`).

The model's output is ``lo + (hi - lo) * sigmoid(z)``: it can never leave `y_range`, which is
the rating range widened a little (a sigmoid never reaches its bounds). Ranking quality (hit
rate and NDCG at 10 over each user's held-out ratings) is in the report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nnrecipe.tasks.base import LossFn, Task
from nnrecipe.tasks.regression import ERROR_RATIO, HIGH_RATIO

# Codes that mean nothing for (user id, item id) inputs: ids have no scale, no outliers and no
# per-column leak; label audits are for classes; exact-copy audits are replaced by the
# ratings' own duplicate-pair audit.
NOT_FOR_RATINGS = frozenset(
    {
        "label-noise",
        "class-imbalance",
        "output-is-probability",
        "outliers",
        "distribution-shift",
        "constant-feature",
        "target-leak",
        "duplicates",
        "split-leakage",
        "input-scale",
        "target-scale",
    }
)
TOP_K = 10


def _mse(output: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(output.reshape(target.shape), target)


class Ratings(Task):
    """One rating per (user, item) pair; the model outputs the rating itself (in `y_range`)."""

    name: ClassVar[str] = "ratings"
    primary_metric: ClassVar[str] = "rmse"
    higher_is_better: ClassVar[bool] = False
    prior_name: ClassVar[str] = "the mean rating"
    targets_doc: ClassVar[str] = "one real rating per (user, item) pair, shape (N,)"
    infer_order: ClassVar[int | None] = None  # never inferred: ids look like any table

    def __init__(
        self, y_range: tuple[float, float], rating_range: tuple[float, float] | None = None
    ) -> None:
        self.y_range = (float(y_range[0]), float(y_range[1]))
        self.rating_range = rating_range or self.y_range

    @classmethod
    def accepts(cls, x_shape: Any, y: Tensor, *, loss: Any = None) -> str | None:
        if y.ndim != 1:
            return "it takes one rating per sample"
        return None

    @classmethod
    def build(
        cls,
        y_train: Tensor,
        *,
        x_shape: Any = None,
        classes: list[str] | None = None,
        loss: Any = None,
        **options: Any,
    ) -> Ratings:
        from nnrecipe.data.ratings import infer_y_range

        y = y_train.float().numpy()
        y_range = options.get("y_range") or infer_y_range(y)
        return cls(y_range, (float(y.min()), float(y.max())))

    def prepare_targets(self, y: Tensor, *, loss: Any = None) -> Tensor:
        return y.float()

    # -- train --------------------------------------------------------------------------------
    def output_size(self) -> int:
        return 1

    def default_loss(self) -> LossFn:
        return _mse

    def target_dtype(self) -> torch.dtype:
        return torch.float32

    def predict(self, output: Tensor) -> Tensor:
        return output.reshape(len(output))

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        return (output.reshape(target.shape).float() - target.float()) ** 2

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        err = output.reshape(target.shape).float().cpu() - target.float().cpu()
        mse = float((err**2).mean())
        return {"rmse": mse**0.5, "mae": float(err.abs().mean()), "mse": mse}

    @property
    def error_in_target_units(self) -> bool:
        return True

    def default_model(self, modality: str) -> str | None:
        return "collab-blend"

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        """The global bias that makes the sigmoid output the mean rating."""
        lo, hi = self.y_range
        p = ((y_train.float().mean() - lo) / (hi - lo)).clamp(1e-4, 1 - 1e-4)
        return {"bias": torch.logit(p).reshape(1)}

    # -- checks -------------------------------------------------------------------------------
    def expected_init_loss(self, y_train: Tensor) -> float:
        """MSE of predicting the mean rating (the built-in models start there)."""
        y = y_train.float()
        return float(((y - y.mean()) ** 2).mean())

    def prior_output(self, out: Tensor, y_train: Tensor) -> Tensor | None:
        return torch.full_like(out, float(y_train.float().mean()))

    def init_loss_limits(self, ref: float, healthy_upper: float) -> tuple[float, float]:
        return ref * HIGH_RATIO, ref * ERROR_RATIO

    def perturb_targets(self, y: Tensor, start: int) -> Tensor:
        lo, hi = self.rating_range
        y2 = y.clone().float()
        y2[start:] = lo + hi - y[start:].float()  # mirrored ratings stay in range
        return y2

    def applies(self, code: str) -> bool:
        return code not in NOT_FOR_RATINGS

    def blank_inputs(self, x: Any) -> Any:
        """Every user and item the unknown one (index 0): the model can learn the mean only."""
        return {k: torch.zeros_like(v) for k, v in x.items()}

    # The baselines are per-user and per-item means: fitted on every training rating.
    baseline_samples: ClassVar[int | None] = None

    # -- baselines / monitor ------------------------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        return {
            "majority": MeanRating("global"),
            "user_mean": MeanRating("user"),
            "item_mean": MeanRating("item"),
            "linear": BiasBaseline(),  # user + item bias: the linear model of the ids
        }

    def record(self, out: Tensor, y: Tensor) -> dict[str, Any]:
        return {"predicted": [round(float(v), 4) for v in out.reshape(-1)]}

    # -- report -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "y_range": list(self.y_range),
            "rating_range": list(self.rating_range),
        }

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> Ratings:
        y_range = tuple(desc.get("y_range") or (0.0, 1.0))
        rating = tuple(desc.get("rating_range") or y_range)
        return cls(y_range, rating)  # type: ignore[arg-type]

    def data_summary(self, data: Any, show: Callable[[list[int]], list[dict]]) -> dict:
        from nnrecipe.tasks.regression import Regression

        return Regression(1).data_summary(data, show)

    def collect(self, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
        from nnrecipe.tasks import ratings_report

        return ratings_report.collect(self, out, y, data)

    def inspect(self, model: Any, data: Any) -> dict:
        from nnrecipe.tasks import ratings_report

        return ratings_report.inspect(model, data)

    def plots(self, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:
        from nnrecipe import plotting

        pred = self.predict(out).numpy()
        return [
            plotting.predicted_vs_true(
                y.numpy().reshape(-1), pred, folder / "predicted_vs_true_valid.png"
            )
        ]

    def report_results(self, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
        from nnrecipe.tasks import ratings_report

        return ratings_report.html(run, results, plot_files)


class MeanRating:
    """Predicts the training mean rating of the pair's user (or item), the global mean for a
    user (item) unseen in train; ``"global"``: the global mean for every pair."""

    def __init__(self, by: str) -> None:
        self.by = by

    def fit(self, x: np.ndarray, y: np.ndarray) -> MeanRating:
        self.mean = float(y.mean())
        if self.by != "global":
            ids = x[:, 0 if self.by == "user" else 1].astype(np.int64)
            sums = np.bincount(ids, weights=y)
            counts = np.bincount(ids)
            self.table = np.where(counts > 0, sums / np.maximum(counts, 1), self.mean)
        return self

    def output(self, x: np.ndarray) -> Tensor:
        if self.by == "global":
            return torch.full((len(x),), self.mean)
        ids = x[:, 0 if self.by == "user" else 1].astype(np.int64)
        known = ids < len(self.table)
        pred = np.full(len(x), self.mean)
        pred[known] = self.table[ids[known]]
        return torch.from_numpy(pred.astype(np.float32))


class BiasBaseline:
    """Global mean + user bias + item bias, fitted by alternating damped means (Koren 2008's
    baseline predictor, shrinkage `damping` ratings towards zero)."""

    def __init__(self, damping: float = 10.0, sweeps: int = 10) -> None:
        self.damping = damping
        self.sweeps = sweeps

    def fit(self, x: np.ndarray, y: np.ndarray) -> BiasBaseline:
        u, i = x[:, 0].astype(np.int64), x[:, 1].astype(np.int64)
        self.mean = float(y.mean())
        self.bu = np.zeros(u.max() + 1)
        self.bi = np.zeros(i.max() + 1)
        for _ in range(self.sweeps):
            r = y - self.mean - self.bu[u]
            self.bi = np.bincount(i, r, len(self.bi)) / (
                np.bincount(i, None, len(self.bi)) + self.damping
            )
            r = y - self.mean - self.bi[i]
            self.bu = np.bincount(u, r, len(self.bu)) / (
                np.bincount(u, None, len(self.bu)) + self.damping
            )
        return self

    def output(self, x: np.ndarray) -> Tensor:
        u, i = x[:, 0].astype(np.int64), x[:, 1].astype(np.int64)
        bu = np.where(u < len(self.bu), self.bu[np.minimum(u, len(self.bu) - 1)], 0.0)
        bi = np.where(i < len(self.bi), self.bi[np.minimum(i, len(self.bi) - 1)], 0.0)
        return torch.from_numpy((self.mean + bu + bi).astype(np.float32))
