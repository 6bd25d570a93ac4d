"""Predicted distributions, scored by CRPS: a CDF per sample instead of a single number.

Three heads read the model's outputs (``--task-option head=...``):

- ``bins`` (default): K logits over ordered bins of the target; softmax then cumulative sum is
  the predicted CDF ("make it a classification problem, then integrate"), linear inside a bin.
- ``cdf``: K logits of the CDF itself at the bins' upper edges (sigmoid each); nothing makes it
  monotone, which `cdf-not-monotone` checks.
- ``gaussian``: two outputs, the mean and the log of the scale.

The loss is the CRPS (closed form for the Gaussian, exact for the piecewise-linear CDF) or the
NLL (``--task-option objective=nll``), divided by the training targets' std so that it is near 1 at init whatever
the targets' units. Metrics are in the targets' own units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from nnrecipe.errors import DataError
from nnrecipe.tasks import crps as S
from nnrecipe.tasks.base import LossFn, MeanLoss, Task

HEADS = ("bins", "cdf", "gaussian")
LOSSES = ("crps", "nll")
DEFAULT_BINS = 32
# The bins span the training range widened by this share of it on each side, so that held-out
# targets a little beyond the training extremes still fall inside (`bins-miss-targets`).
MARGIN = 0.1
# loss-at-init: the built-in heads start at the climatology (measured ratio 1.00-1.02 on
# diabetes and hetero, both heads; last-layer weights x100 still only 1.06-1.42, the Head's
# weights start tiny). The CRPS grows linearly with an offset (MSE quadratically, hence
# regression's 5x): warning above 3x, error above 10x.
HIGH_RATIO, ERROR_RATIO = 3.0, 10.0
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # reliability diagram: central intervals


class Distribution(Task):
    """One real-valued target per sample, predicted as a distribution (see the module doc)."""

    name: ClassVar[str] = "distribution"
    primary_metric: ClassVar[str] = "crps"
    higher_is_better: ClassVar[bool] = False
    prior_name: ClassVar[str] = "the climatology (the training targets' distribution)"
    targets_doc: ClassVar[str] = "one real value per sample, shape (N,)"
    infer_order: ClassVar[int | None] = None  # never inferred: float targets are regression

    def __init__(
        self,
        *,
        head: str = "bins",
        loss: str = "crps",
        edges: list[float] | None = None,
        mean: float = 0.0,
        std: float = 1.0,
    ) -> None:
        self.head = head
        self.loss = loss
        self.edges = torch.tensor(edges or [0.0, 1.0], dtype=torch.float32)
        self.mean = mean
        self.std = std

    # -- data ---------------------------------------------------------------------------------
    @classmethod
    def accepts(cls, x_shape: Any, y: Tensor, *, loss: Any = None) -> str | None:
        if not torch.is_floating_point(y):
            return "its targets must be real values (floats), not class labels"
        if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
            return "it predicts the distribution of one value per sample"
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
    ) -> Distribution:
        unknown = set(options) - {"head", "objective", "bins", "range"}
        if unknown:
            raise DataError(
                f"Unknown option(s) {', '.join(sorted(unknown))} for task 'distribution': it "
                "takes head (bins, cdf, gaussian), objective (crps, nll), bins and range."
            )
        head = str(options.get("head", "bins"))
        loss_name = str(options.get("objective", "crps"))
        if head not in HEADS:
            raise DataError(f"Unknown head {head!r} for task 'distribution': use {HEADS}.")
        if loss_name not in LOSSES:
            raise DataError(
                f"Unknown objective {loss_name!r} for task 'distribution': use {LOSSES}."
            )
        y = y_train.float().reshape(-1)
        n_bins = int(options.get("bins", DEFAULT_BINS))
        distinct = int(torch.unique(y).numel())
        if head != "gaussian":
            if n_bins < 2:
                raise DataError(f"The distribution task needs at least 2 bins, got {n_bins}.")
            if n_bins > distinct:
                raise DataError(
                    f"The distribution task was asked for {n_bins} bins but the training "
                    f"targets take only {distinct} distinct values: use bins={distinct} or "
                    "fewer, or head=gaussian."
                )
        lo, hi = float(y.min()), float(y.max())
        span = hi - lo if hi > lo else 1.0
        rng = options.get("range")
        if rng is not None:
            lo, hi = float(rng[0]), float(rng[1])
        else:
            lo, hi = lo - MARGIN * span, hi + MARGIN * span
        edges = np.linspace(lo, hi, n_bins + 1).tolist()
        std = float(y.std()) if len(y) > 1 and float(y.std()) > 0 else 1.0
        return cls(head=head, loss=loss_name, edges=edges, mean=float(y.mean()), std=std)

    def prepare_targets(self, y: Tensor, *, loss: Any = None) -> Tensor:
        return y.float().reshape(-1)

    # -- reading the outputs --------------------------------------------------------------------
    def output_size(self) -> int:
        return 2 if self.head == "gaussian" else len(self.edges) - 1

    def _gaussian(self, out: Tensor) -> tuple[Tensor, Tensor]:
        mu = out[:, 0]
        sigma = out[:, 1].clamp(-30, 30).exp().clamp_min(S.MIN_SIGMA * self.std)
        return mu, sigma

    def cdf(self, out: Tensor) -> Tensor:
        """(N, K) CDF at the bins' upper edges (bins and cdf heads)."""
        if self.head == "cdf":
            return torch.sigmoid(out)
        return torch.softmax(out, 1).cumsum(1)

    def quantile(self, out: Tensor, q: float) -> Tensor:
        """(N,) the q-quantile of each predicted distribution."""
        out = out.float()
        if out.shape[1] == 1:  # a point estimate (the point-estimate baseline)
            return out[:, 0]
        if self.head == "gaussian":
            return S.quantile_gaussian(*self._gaussian(out), q)
        return S.quantile_bins(self.cdf(out), self.edges, q)

    def cdf_at(self, out: Tensor, y: Tensor) -> Tensor:
        """(N,) each predicted CDF at its observed value (the PIT)."""
        if out.shape[1] == 1:
            return (y >= out[:, 0]).float()
        if self.head == "gaussian":
            return S.cdf_gaussian(*self._gaussian(out), y)
        return S.cdf_bins_at(self.cdf(out), self.edges, y)

    def crps(self, out: Tensor, y: Tensor) -> Tensor:
        """(N,) CRPS in the targets' units; a one-column output is a point estimate (CRPS =
        absolute error)."""
        out, y = out.float(), y.float().reshape(-1)
        if out.shape[1] == 1:
            return (out[:, 0] - y).abs()
        if self.head == "gaussian":
            return S.crps_gaussian(*self._gaussian(out), y)
        return S.crps_bins(self.cdf(out), self.edges, y)

    def nll(self, out: Tensor, y: Tensor) -> Tensor:
        """(N,) negative log density in the targets' units (NaN for a point estimate)."""
        out, y = out.float(), y.float().reshape(-1)
        if out.shape[1] == 1:
            return torch.full_like(y, float("nan"))
        if self.head == "gaussian":
            return S.nll_gaussian(*self._gaussian(out), y)
        probs = torch.softmax(out, 1) if self.head == "bins" else _probs_from_cdf(self.cdf(out))
        return S.nll_bins(probs, self.edges, y)

    # -- train --------------------------------------------------------------------------------
    def default_loss(self) -> LossFn:
        return MeanLoss(self)

    def target_dtype(self) -> torch.dtype:
        return torch.float32

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        if self.loss == "nll":
            return self.nll(output, target) + math.log(self.std)  # the NLL of y / std
        return self.crps(output, target) / self.std

    def predict(self, output: Tensor) -> Tensor:
        return self.quantile(output, 0.5)

    def metrics(self, output: Tensor, target: Tensor) -> dict[str, float]:
        out, y = output.float().cpu(), target.float().reshape(-1).cpu()
        median = self.quantile(out, 0.5)
        result = {"crps": float(self.crps(out, y).mean()), "nll": float(self.nll(out, y).mean())}
        for level, name in ((0.5, "50"), (0.9, "90")):
            lo = self.quantile(out, 0.5 - level / 2)
            hi = self.quantile(out, 0.5 + level / 2)
            result[f"coverage{name}"] = float(((y >= lo) & (y <= hi)).float().mean())
            result[f"width{name}"] = float((hi - lo).mean())
        err = median - y
        result["rmse"] = float((err**2).mean().sqrt())
        result["mae"] = float(err.abs().mean())
        return result

    @property
    def error_in_target_units(self) -> bool:
        return True

    # -- models / checks ------------------------------------------------------------------------
    def climatology_output(self, n: int, y_train: Tensor) -> Tensor:
        """(n, outputs) raw outputs that predict the training targets' distribution."""
        y = y_train.float().reshape(-1)
        if self.head == "gaussian":
            row = torch.tensor([float(y.mean()), math.log(max(float(y.std()), 1e-8))])
        else:
            k = S.bin_index(self.edges, y)
            freq = torch.bincount(k, minlength=len(self.edges) - 1).float() + 0.5  # Laplace
            freq = freq / freq.sum()
            if self.head == "bins":
                row = freq.log()
            else:
                row = torch.logit(freq.cumsum(0).clamp(1e-4, 1 - 1e-4))
        return row.expand(n, -1).clone()

    def init_output(self, y_train: Tensor) -> dict[str, Tensor]:
        row = self.climatology_output(1, y_train)[0]
        if self.head == "gaussian":
            # out = (W x + b) * [std, 1] + [mean, log std]: unit-scale weights in either unit.
            return {"scale": torch.tensor([self.std, 1.0]), "bias": row}
        return {"bias": row}

    def expected_init_loss(self, y_train: Tensor) -> float:
        """The loss of predicting the climatology for every training sample."""
        y = y_train.float().reshape(-1)
        return float(self.per_sample_loss(self.climatology_output(len(y), y), y).mean())

    def prior_output(self, out: Tensor, y_train: Tensor) -> Tensor | None:
        if out.ndim != 2 or out.shape[1] != self.output_size():
            return None
        return self.climatology_output(len(out), y_train).to(out.device)

    def init_loss_limits(self, ref: float, healthy_upper: float) -> tuple[float, float]:
        return ref * HIGH_RATIO, ref * ERROR_RATIO

    def floor_candidates(self, out: Tensor, y: Tensor) -> list[Tensor]:
        """The sharpest prediction at the true value: a tiny Gaussian, or all mass in y's bin."""
        y = y.float().reshape(-1).to(out.device)
        if self.head == "gaussian":
            log_sigma = torch.full_like(y, math.log(1e-3 * self.std))
            return [torch.stack([y, log_sigma], 1)]
        k = S.bin_index(self.edges.to(out.device), y)
        if self.head == "bins":
            return [torch.nn.functional.one_hot(k, self.output_size()).float() * 30.0]
        upper = self.edges[1:].to(out.device)
        return [torch.where(upper[None] >= y[:, None], 30.0, -30.0)]

    def output_mismatch(self, out: Tensor, y: Tensor) -> tuple[int, int] | None:
        got = out.shape[1] if out.ndim == 2 else out[0].numel()
        return (got, self.output_size()) if out.ndim != 2 or got != self.output_size() else None

    def applies(self, code: str) -> bool:
        if code in ("output-is-probability", "class-imbalance", "label-noise"):
            return False
        if code in ("scale-collapse", "target-scale"):  # bin logits are not in target units
            return self.head == "gaussian"
        if code in ("cdf-not-monotone", "bins-miss-targets"):
            return self.head != "gaussian"
        return True

    # -- baselines / monitor ----------------------------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return {
            "climatology": _Climatology(self),
            "point-estimate": _Point(make_pipeline(StandardScaler(), Ridge(alpha=1.0))),
        }

    def record(self, out: Tensor, y: Tensor) -> dict[str, Any]:
        return {"predicted": [round(float(v), 5) for v in self.quantile(out, 0.5)]}

    # -- report -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "head": self.head,
            "loss": self.loss,
            "edges": [float(e) for e in self.edges],
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_description(cls, desc: dict[str, Any]) -> Distribution:
        return cls(
            head=desc.get("head", "bins"),
            loss=desc.get("loss", "crps"),
            edges=desc.get("edges"),
            mean=float(desc.get("mean", 0.0)),
            std=float(desc.get("std", 1.0)),
        )

    def data_summary(self, data: Any, show: Callable[[list[int]], list[dict]]) -> dict:
        from nnrecipe.tasks.regression import Regression

        return Regression.data_summary(self, data, show)  # type: ignore[arg-type]

    def collect(self, out: Tensor, y: Tensor, data: Any, sample: Callable[..., Any]) -> dict:
        from nnrecipe.tasks.distribution_report import collect

        return collect(self, out, y, sample)

    def plots(self, out: Tensor, y: Tensor, data: Any, folder: Path) -> list[Path]:
        from nnrecipe.tasks.distribution_report import plots

        return plots(self, out, y, folder)

    def report_results(self, run: Any, results: dict[str, Any], plot_files: list[str]) -> str:
        from nnrecipe.tasks.distribution_report import report_results

        return report_results(run, results, plot_files)


def _probs_from_cdf(cdf: Tensor) -> Tensor:
    f = torch.cummax(cdf, 1).values
    return torch.diff(f, dim=1, prepend=torch.zeros_like(f[:, :1])).clamp_min(1e-12)


class _Climatology:
    """The training targets' distribution, the same for every sample (input-free)."""

    def __init__(self, task: Distribution) -> None:
        self.task = task

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Climatology:
        self.y = torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(-1))
        return self

    def output(self, x: np.ndarray) -> Tensor:
        return self.task.climatology_output(len(x), self.y)


class _Point:
    """A point estimate (a scikit-learn regressor): one column, its CRPS is its MAE."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Point:
        self.estimator.fit(x, np.asarray(y).reshape(-1))
        return self

    def output(self, x: np.ndarray) -> Tensor:
        return torch.from_numpy(self.estimator.predict(x).astype(np.float32)).reshape(-1, 1)
